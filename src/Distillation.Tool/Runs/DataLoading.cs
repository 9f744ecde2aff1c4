using Distillation.Data;
using Distillation.Tool.Cli;
using Microsoft.Extensions.Logging;

namespace Distillation.Tool.Runs;

/// <summary>A command's training and test sets, loaded into memory.</summary>
internal sealed class LoadedData(ImageDataset train, ImageDataset test, string description) : IDisposable
{
    public ImageDataset Train { get; } = train;

    public ImageDataset Test { get; } = test;

    /// <summary>What was loaded, for the first line of output.</summary>
    public string Description { get; } = description;

    public void Dispose()
    {
        Train.Dispose();
        Test.Dispose();
    }
}

/// <summary>Loads CIFAR-10 or an image folder as the data options say.</summary>
internal static class DataLoading
{
    /// <summary>Checks the data options before anything is loaded: one source, and an image size CIFAR-10 has.</summary>
    public static void Check(RunSettings settings, DataOptions data, bool limits = true)
    {
        var cifar = settings.GetText(data.Cifar10);
        var images = settings.GetText(data.Images);
        if ((cifar is null) == (images is null))
        {
            throw new UsageException(cifar is null
                ? "Give the data: --cifar10 <folder> (CIFAR-10's binary files) or --images <folder> (an image folder)."
                : $"{settings.Origin(data.Cifar10)} and {settings.Origin(data.Images)} each give the data; use one.");
        }

        Checks.Positive(settings, data.ImageSize);
        Checks.OneOf(settings, data.FolderOrder, "class", "name");
        if (limits)
        {
            Checks.PositiveOrNull(settings, data.TrainLimit);
            Checks.PositiveOrNull(settings, data.TestLimit);
        }

        if (cifar is not null)
        {
            if (settings.Get(data.ImageSize) != 32)
            {
                throw new UsageException($"{settings.Origin(data.ImageSize)} {settings.Get(data.ImageSize)}: CIFAR-10's files hold 32×32 images; other sizes need --images.");
            }

            if (!Directory.Exists(Cifar10Dataset.ResolveFolder(cifar)))
            {
                throw new UsageException($"{settings.Origin(data.Cifar10)} {cifar}: no CIFAR-10 there (expected {Path.Combine(cifar, Cifar10Dataset.FolderName)}/ with data_batch_1.bin …).");
            }
        }
        else if (!Directory.Exists(images))
        {
            throw new UsageException($"{settings.Origin(data.Images)} {images} is not a folder.");
        }
        else
        {
            try
            {
                FolderOptions(settings, data).Validate();
            }
            catch (ArgumentOutOfRangeException e) when (e.ParamName == nameof(ImageFolderOptions.ImageSize))
            {
                // "ImageSize must be …" becomes "--image-size must be …", before anything is written.
                var message = ErrorText.OneLine(e.Message);
                throw new UsageException(settings.Origin(data.ImageSize) + (message.StartsWith(e.ParamName + " ", StringComparison.Ordinal) ? message[e.ParamName.Length..] : ": " + message));
            }
        }
    }

    /// <summary>The image folder's options, shared by the resident and the streamed load (the same files in the same order).</summary>
    public static ImageFolderOptions FolderOptions(RunSettings settings, DataOptions data) => new()
    {
        ImageSize = settings.Get(data.ImageSize),
        Order = settings.Get(data.FolderOrder).Equals("name", StringComparison.OrdinalIgnoreCase) ? ImageFolderOrder.FileName : ImageFolderOrder.ClassThenFileName,
        SplitSeed = settings.Get(data.Seed),
    };

    /// <summary>Loads the training and test sets, with --train-limit and --test-limit applied.</summary>
    public static LoadedData Load(RunSettings settings, DataOptions data, ILogger logger, CancellationToken cancellationToken, bool limits = true)
    {
        ImageDataset train, test;
        string source;
        if (settings.GetText(data.Cifar10) is { } cifar)
        {
            var folder = Cifar10Dataset.ResolveFolder(cifar);
            train = Cifar10Dataset.Load(folder, Cifar10Split.Train, logger: logger);
            try
            {
                test = Cifar10Dataset.Load(folder, Cifar10Split.Test, logger: logger);
            }
            catch
            {
                train.Dispose();
                throw;
            }

            source = "CIFAR-10 from " + folder;
        }
        else
        {
            var root = Path.GetFullPath(settings.GetText(data.Images)!);
            (train, test) = ImageFolderDataset.LoadSplits(root, FolderOptions(settings, data), logger: logger, cancellationToken: cancellationToken);
            source = $"Images from {root} at {settings.Get(data.ImageSize)}×{settings.Get(data.ImageSize)}";
        }

        if (limits && settings.GetOrNull(data.TrainLimit) is { } trainLimit)
        {
            using var full = train;
            train = full.Sample(trainLimit, settings.Get(data.Seed));
        }

        if (limits && settings.GetOrNull(data.TestLimit) is { } testLimit)
        {
            using var full = test;
            test = full.Take(testLimit);
        }

        return new LoadedData(train, test, $"{source}: {train.Count:N0} training and {test.Count:N0} test images, {train.ClassNames.Count} classes.");
    }
}
