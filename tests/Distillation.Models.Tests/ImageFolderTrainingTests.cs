using Distillation.Data;
using Distillation.Devices;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Models.Tests;

public sealed class ImageFolderTrainingTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "distillation-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static TrainingResult Train(ImageDataset train)
    {
        manual_seed(42);
        var trainer = new Trainer<TeacherNet, StudentNet>(new TeacherNet(), new StudentNet(), new TrainerOptions
        {
            Epochs = 2,
            BatchSize = 64,
            Seed = 11,
            Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        });
        return trainer.TrainStudent(train);
    }

    /// <summary>
    /// The binary files interleave classes; a class-grouped folder would change the sample order and
    /// so the losses. The writer names files by their binary index and the folder is read in file-name
    /// order, so the folder is the binary set image for image, and training sees the same batches.
    /// </summary>
    [Fact]
    public void A_student_trained_from_the_png_folder_has_the_losses_of_one_trained_from_the_binary_files()
    {
        var root = CifarFiles.Write(Path.Combine(folder, "binary"), recordsPerFile: 110);
        using var all = Cifar10Dataset.Load(root, Cifar10Split.Train, CifarFiles.AnyCount);
        using var binary = all.Take(512);
        var pngRoot = Path.Combine(folder, "png");
        ImageFolderWriter.WritePng(binary, pngRoot);
        using var fromFolder = ImageFolderDataset.Load(pngRoot, new ImageFolderOptions { ImageSize = 32, Order = ImageFolderOrder.FileName });

        var expected = Train(binary);
        var actual = Train(fromFolder);

        actual.History.Select(h => h.MeanLoss).Should().Equal(expected.History.Select(h => h.MeanLoss));
        actual.History.Should().HaveCount(2);
    }
}
