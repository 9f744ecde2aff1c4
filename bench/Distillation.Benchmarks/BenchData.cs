using Distillation.Data;
using static TorchSharp.torch;

namespace Distillation.Benchmarks;

/// <summary>The fixed slices every case runs on: the first images of CIFAR-10's splits, or synthetic ones.</summary>
internal sealed class BenchData : IDisposable
{
    private BenchData(ImageDataset train, ImageDataset test, string source)
    {
        Train = train;
        Test = test;
        Source = source;
    }

    /// <summary>Training images (the first of the training split).</summary>
    public ImageDataset Train { get; }

    /// <summary>Evaluation images (the first of the test split).</summary>
    public ImageDataset Test { get; }

    /// <summary>Where the images came from.</summary>
    public string Source { get; }

    public static BenchData Load(BenchOptions options, int trainImages, int testImages)
    {
        var folder = Cifar10Dataset.ResolveFolder(options.Data);
        if (!options.Synthetic && Directory.Exists(folder))
        {
            using var train = Cifar10Dataset.Load(options.Data, Cifar10Split.Train);
            using var test = Cifar10Dataset.Load(options.Data, Cifar10Split.Test);
            return new BenchData(train.Take(trainImages), test.Take(testImages), $"CIFAR-10 ({folder}): first {trainImages} training and {testImages} test images");
        }

        return new BenchData(Synthetic(trainImages, 1), Synthetic(testImages, 2), options.Synthetic
            ? $"synthetic: {trainImages} training and {testImages} test images (--synthetic)"
            : $"synthetic: {trainImages} training and {testImages} test images (CIFAR-10 not found at {folder})");
    }

    private static ImageDataset Synthetic(int count, long seed)
    {
        using var generator = new TorchSharp.torch.Generator((ulong)seed);
        var images = randint(0, 256, [count, 3, 32, 32], dtype: ScalarType.Byte, generator: generator);
        var labels = randint(0, 10, [count], dtype: ScalarType.Int64, generator: generator);
        return new ImageDataset(images, labels, Cifar10Dataset.DefaultClassNames);
    }

    public void Dispose()
    {
        Train.Dispose();
        Test.Dispose();
    }
}
