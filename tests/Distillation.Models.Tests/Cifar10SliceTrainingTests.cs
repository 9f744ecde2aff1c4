using Distillation.Data;
using Distillation.Devices;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Models.Tests;

public class Cifar10SliceTrainingTests
{
    [SkippableFact]
    public void Student_trained_briefly_on_a_slice_is_clearly_above_chance_on_held_out_images()
    {
        var root = SharedData.Cifar10RootOrSkip();
        using var fullTrain = Cifar10Dataset.Load(root, Cifar10Split.Train);
        using var fullTest = Cifar10Dataset.Load(root, Cifar10Split.Test);
        using var train = fullTrain.Sample(5_000, seed: 42);
        using var test = fullTest.Take(1_000);
        manual_seed(42);
        var trainer = new Trainer<TeacherNet, StudentNet>(new TeacherNet(), new StudentNet(), new TrainerOptions
        {
            Epochs = 2,
            Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 2 },
        });

        var result = trainer.TrainStudent(train, test);

        // Chance is 10 %; two epochs on 5,000 images reach about 35–40 %.
        result.FinalAccuracy.Should().BeGreaterThan(0.25);
        result.History[1].MeanLoss.Should().BeLessThan(result.History[0].MeanLoss);
    }
}
