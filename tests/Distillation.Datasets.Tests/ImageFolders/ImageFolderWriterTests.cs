using Distillation.Data;
using Distillation.Tests.TestSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Datasets.Tests.ImageFolders;

public sealed class ImageFolderWriterTests : IDisposable
{
    private readonly TempFolder folder = new();
    private readonly DisposeScope scope = NewDisposeScope();

    public void Dispose()
    {
        scope.Dispose();
        folder.Dispose();
    }

    [Fact]
    public void Cifar10_written_as_png_reads_back_as_the_binary_files_tensor_exactly()
    {
        var root = CifarFiles.Write(Path.Combine(folder.Path, "binary"), recordsPerFile: 300);
        using var all = Cifar10Dataset.Load(root, Cifar10Split.Test, CifarFiles.AnyCount);
        using var slice = all.Take(300);
        var pngRoot = Path.Combine(folder.Path, "cifar");

        ImageFolderWriter.WritePng(slice, pngRoot);
        using var read = ImageFolderDataset.Load(pngRoot, new ImageFolderOptions { ImageSize = 32, Order = ImageFolderOrder.FileName });

        read.ClassNames.Should().Equal(slice.ClassNames);
        read.Labels.data<long>().ToArray().Should().Equal(slice.Labels.data<long>().ToArray(), "file-name order is the binary files' order");
        read.Images.shape.Should().Equal(slice.Images.shape);
        read.Images.eq(slice.Images).all().item<bool>().Should().BeTrue("PNG is lossless: every pixel equals the binary file's");
        Directory.GetFiles(Path.Combine(pngRoot, slice.ClassNames[(int)slice.Labels[0].item<long>()])).Select(Path.GetFileName).Should().Contain("00000.png");
    }

    [Fact]
    public void Written_images_read_back_exactly_in_the_written_order()
    {
        using var generator = new Generator(3);
        var images = randint(0, 256, [9, 3, 5, 7], ScalarType.Byte, generator: generator);
        var labels = tensor(new long[] { 2, 0, 1, 1, 2, 0, 0, 2, 1 });
        using var data = new ImageDataset(images, labels, ["a", "b", "c"]);
        var root = Path.Combine(folder.Path, "out");

        ImageFolderWriter.WritePng(data, root);
        var options = new ImageFolderOptions { ImageSize = 5, Resize = ImageResizeMode.ShorterSideThenCenterCrop, Order = ImageFolderOrder.FileName };
        using var read = ImageFolderDataset.Load(root, options);

        // 7 wide, 5 high: the central 5×5 (columns 1–5), unresampled.
        read.Labels.data<long>().ToArray().Should().Equal(labels.data<long>().ToArray());
        read.Images.eq(data.Images[.., .., .., 1..6]).all().item<bool>().Should().BeTrue();
    }

    [Fact]
    public void Only_an_empty_or_new_folder_is_written_and_class_names_must_be_folder_names()
    {
        using var data = new ImageDataset(zeros([2, 3, 2, 2], ScalarType.Byte), tensor(new long[] { 0, 1 }), ["ok", "a/b"]);
        using var fine = new ImageDataset(zeros([1, 3, 2, 2], ScalarType.Byte), tensor(new long[] { 0 }), ["ok"]);
        File.WriteAllText(Path.Combine(folder.Path, "existing.txt"), "x");

        FluentActions.Invoking(() => ImageFolderWriter.WritePng(fine, folder.Path)).Should().Throw<IOException>().WithMessage($"*{folder.Path}*not empty*");
        FluentActions.Invoking(() => ImageFolderWriter.WritePng(data, Path.Combine(folder.Path, "new"))).Should().Throw<ArgumentException>().WithMessage("*a/b*");
        Directory.Exists(Path.Combine(folder.Path, "new")).Should().BeFalse("nothing is written when a name is refused");
    }
}
