using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Models;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Cifar10.Tests;

public sealed class MethodSpecTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("distill-methodspec-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void Kd_and_kd_with_an_explicit_weight_are_one_objective_with_equal_losses()
    {
        using var plain = MethodSpec.Create("kd", temperature: 10, hardWeight: 1, softWeight: 1);
        using var weighted = MethodSpec.Create("kd:1", temperature: 10, hardWeight: 1, softWeight: 1);
        manual_seed(3);
        var context = new DistillationContext(randn(8, 10), randint(0, 10, [8], ScalarType.Int64), randn(8, 10) * 3);

        var a = plain.Compute(context);
        var b = weighted.Compute(context);

        plain.Description.Should().Be("1·ce + 1·kd(T=10)").And.Be(weighted.Description);
        a.Total.item<float>().Should().Be(b.Total.item<float>());
        a["kd"].item<float>().Should().Be(b["kd"].item<float>());
    }

    [Fact]
    public void A_checkpoint_written_with_kd_is_resumed_by_kd_with_an_explicit_weight()
    {
        using var data = RandomImages(64);
        TrainerOptions Options(int epochs) => new()
        {
            Epochs = epochs,
            BatchSize = 32,
            Seed = 5,
            Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
            Checkpoints = new CheckpointOptions { Directory = folder, Resume = true },
        };

        manual_seed(1);
        using (var kd = MethodSpec.Create("kd", 10, 1, 1))
        {
            new Trainer<StudentNet, StudentNet>(new StudentNet(), new StudentNet(), Options(1)).Distill(data, loss: kd);
        }

        manual_seed(1);
        using var kdWeighted = MethodSpec.Create("kd:1", 10, 1, 1);
        var resumed = new Trainer<StudentNet, StudentNet>(new StudentNet(), new StudentNet(), Options(1)).Distill(data, loss: kdWeighted);

        resumed.ResumedAfterEpoch.Should().Be(1, "the two spellings share the checkpoint's identity");
    }

    [Fact]
    public void Dist_is_the_librarys_dist_loss_at_the_temperature()
    {
        using var objective = MethodSpec.Create("dist", temperature: 4, hardWeight: 1, softWeight: 2);

        objective.Description.Should().Be("1·ce + 2·dist(β=1, γ=1, T=4)");
    }

    [Fact]
    public void Soft_ramp_moves_every_distillation_term_to_zero_over_the_last_fraction_and_keeps_cross_entropy()
    {
        using var objective = MethodSpec.Create("kd,kd+ls:0.25", temperature: 2, hardWeight: 0.5, softWeight: 0.5, softRamp: 0.25);

        objective.Description.Should().Be("0.5·ce + 0.5(to 0 over the last 0.25)·kd(T=2) + 0.25(to 0 over the last 0.25)·kd-ls(T=2)");
        var weights = objective.WeightSchedules;
        weights.Select(w => w.WeightAt(75, 100)).Should().Equal(0.5, 0.5, 0.25);
        weights[1].WeightAt(88, 100).Should().BeApproximately(0.5 * 12 / 25, 1e-12, "13 of the ramp's 25 epochs are done");
        weights[2].WeightAt(88, 100).Should().BeApproximately(0.25 * 12 / 25, 1e-12);
        weights.Select(w => w.WeightAt(100, 100)).Should().Equal(0.5, 0, 0);

        manual_seed(3);
        using var scope = NewDisposeScope();
        var lastEpoch = objective.Compute(new DistillationContext(randn(8, 10), randint(0, 10, [8], ScalarType.Int64), randn(8, 10) * 3) { Epoch = 100, Epochs = 100 });
        lastEpoch.Total.item<float>().Should().Be(0.5f * lastEpoch["ce"].item<float>());
    }

    [Fact]
    public void Without_soft_ramp_the_weights_are_constant_and_print_as_before()
    {
        using var objective = MethodSpec.Create("kd", temperature: 2, hardWeight: 0.5, softWeight: 0.5);

        objective.Description.Should().Be("0.5·ce + 0.5·kd(T=2)");
        objective.WeightSchedules[1].WeightAt(100, 100).Should().Be(0.5);
    }

    [Fact]
    public void Every_weight_zero_is_refused_as_nothing_to_optimize()
    {
        var act = () => MethodSpec.Create("kd:0,cosine:0", 4, hardWeight: 0, softWeight: 1);

        act.Should().Throw<FormatException>().WithMessage("*every --method weight are 0*nothing to optimize*");
    }

    private static ImageDataset RandomImages(int count)
    {
        manual_seed(9);
        return new ImageDataset(randint(0, 256, [count, 3, 32, 32], ScalarType.Byte), randint(0, 10, [count], ScalarType.Int64),
            [.. Enumerable.Range(0, 10).Select(i => $"class{i}")]);
    }
}
