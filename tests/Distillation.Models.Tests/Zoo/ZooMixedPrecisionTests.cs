using Distillation.Data;
using Distillation.Devices;
using Distillation.Models.Zoo;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Models.Tests.Zoo;

/// <summary>Every zoo model trains in mixed precision (and channels-last): autocast handles every layer they use, and the weights stay float32.</summary>
public sealed class ZooMixedPrecisionTests
{
    public static TheoryData<string> Names() => new(ModelZoo.Models.Select(m => m.Name));

    [Theory]
    [MemberData(nameof(Names))]
    public void A_zoo_model_trains_a_step_in_mixed_precision_with_channels_last_batches(string name)
    {
        using var scope = NewDisposeScope();
        var info = ModelZoo.Get(name);
        var size = Math.Max(info.MinimumInputSize, 32);
        manual_seed(3);
        var images = randint(0, 256, [8, 3, size, size], dtype: ScalarType.Byte);
        var labels = arange(8, dtype: ScalarType.Int64).remainder(4);
        using var data = new ImageDataset(images, labels, ["a", "b", "c", "d"], ImageNormalization.UnitRange);
        using var model = ModelZoo.Create(name, 4);
        var before = model.parameters().Select(p => p.detach().clone()).ToArray();
        var trainer = new Trainer<nn.Module<Tensor, Tensor>, nn.Module<Tensor, Tensor>>(ModelZoo.Create(name, 4), model, new TrainerOptions
        {
            Epochs = 1,
            BatchSize = 8,
            Precision = TrainingPrecision.BFloat16Mixed,
            ChannelsLast = true,
            Optimizer = new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.01, Momentum = 0.9 },
            Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        });

        var result = trainer.TrainStudent(data);

        double.IsFinite(result.History[0].MeanLoss).Should().BeTrue();
        var after = model.parameters().ToArray();
        after.Should().OnlyContain(p => p.dtype == ScalarType.Float32);
        after.Zip(before).Count(pair => !pair.First.allclose(pair.Second, rtol: 0, atol: 0)).Should().BeGreaterThan(after.Length / 2, "the step updates the weights through the bfloat16 computation");
    }
}
