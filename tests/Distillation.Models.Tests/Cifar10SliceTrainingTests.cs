using Distillation.Data;
using Distillation.Devices;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Models.Tests;

public sealed class Cifar10SliceTrainingTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "distillation-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// CIFAR-format files whose classes are noisy copies of ten patterns (<see cref="CifarFiles"/>):
    /// the held-out test file is only predictable by what the student learnt from the training files.
    /// </summary>
    [Fact]
    public void Student_trained_briefly_on_a_slice_is_clearly_above_chance_on_held_out_images()
    {
        var root = CifarFiles.Write(folder, recordsPerFile: 400);
        using var fullTrain = Cifar10Dataset.Load(root, Cifar10Split.Train, CifarFiles.AnyCount);
        using var fullTest = Cifar10Dataset.Load(root, Cifar10Split.Test, CifarFiles.AnyCount);
        using var train = fullTrain.Sample(1_600, seed: 42);
        using var test = fullTest.Take(400);
        manual_seed(42);
        var trainer = new Trainer<TeacherNet, StudentNet>(new TeacherNet(), new StudentNet(), new TrainerOptions
        {
            Epochs = 2,
            Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        });

        var result = trainer.TrainStudent(train, test);

        output.WriteLine($"accuracy {result.FinalAccuracy:P2}, mean loss {result.History[0].MeanLoss:F4} then {result.History[1].MeanLoss:F4}");
        // Chance is 10 %.
        result.FinalAccuracy.Should().BeGreaterThan(0.5);
        result.History[1].MeanLoss.Should().BeLessThan(result.History[0].MeanLoss);
    }
}
