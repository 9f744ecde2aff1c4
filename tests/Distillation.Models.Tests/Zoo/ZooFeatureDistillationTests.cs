using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Models.Zoo;
using Distillation.Serialization;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Models.Tests.Zoo;

/// <summary>Zoo models in the library's own training loop: feature losses by stage name, and the weights format.</summary>
public sealed class ZooFeatureDistillationTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();
    private readonly string folder = Path.Combine(Path.GetTempPath(), "distillation-zoo-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        set_num_threads(threadsBefore);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static ImageDataset RandomImages(int n, int size)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(5);
        var images = randint(0, 256, [n, 3, size, size], generator: generator, dtype: ScalarType.Byte);
        var labels = randint(0, 10, [n], generator: generator, dtype: ScalarType.Int64);
        return new ImageDataset(images, labels, Enumerable.Range(0, 10).Select(i => $"c{i}").ToArray(), ImageNormalization.UnitRange);
    }

    [Fact]
    public void A_hint_between_registry_stages_of_two_zoo_models_trains_through_the_trainer()
    {
        using var data = RandomImages(32, 32);
        manual_seed(4);
        var student = ModelZoo.Get("resnet20");
        var teacher = ModelZoo.Get("wrn_16_2");
        var studentStage = student.FeatureStages[^1];
        var teacherStage = teacher.FeatureStages[^1];
        studentStage.Stride.Should().Be(teacherStage.Stride, "the hint compares maps of the same size");
        var trainer = new Trainer<nn.Module<Tensor, Tensor>, nn.Module<Tensor, Tensor>>(teacher.Create(10), student.Create(10), new TrainerOptions
        {
            Epochs = 2,
            BatchSize = 16,
            Optimizer = new Distillation.Training.OptimizerOptions { LearningRate = 0.01 },
            Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        });
        using var hint = new HintLoss(studentStage.Channels, teacherStage.Channels, studentStage.Module, teacherStage.Module);
        var regressorBefore = hint.Regressor.weight!.detach().clone();

        var result = trainer.Distill(data, loss: new DistillationObjective((new LabelCrossEntropyLoss(), 1.0), (hint, 1.0)));

        result.History.Should().AllSatisfy(r => r.LossParts.Keys.Should().Equal("ce", "hint"));
        result.History.Should().AllSatisfy(r => double.IsFinite(r.LossParts["hint"]).Should().BeTrue());
        hint.Regressor.weight!.allclose(regressorBefore).Should().BeFalse("the regressor trains on the hooked stages");
    }

    [Theory]
    [InlineData("resnet20")]
    [InlineData("mobilenet_v3_small")]
    public void Weights_saved_by_the_library_load_into_a_fresh_model(string name)
    {
        using var scope = NewDisposeScope();
        manual_seed(6);
        using var trained = ModelZoo.Create(name, 10);
        var path = Path.Combine(folder, name + ".weights");
        trained.SaveWeights(path);
        manual_seed(7);
        using var fresh = ModelZoo.Create(name, 10);

        fresh.LoadWeights(path);

        var expected = trained.state_dict();
        fresh.state_dict().Should().AllSatisfy(kv => kv.Value.eq(expected[kv.Key]).all().item<bool>().Should().BeTrue(kv.Key));
    }
}
