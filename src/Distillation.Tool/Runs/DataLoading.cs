using Distillation.Data;
using Distillation.Tool.Cli;
using Microsoft.Extensions.Logging;

namespace Distillation.Tool.Runs;

/// <summary>A command's training and test sets: in memory, or streamed from disk when an image folder is over the memory budget.</summary>
internal sealed class LoadedData(IBatchSource train, IBatchSource test, string description) : IDisposable
{
    public IBatchSource Train { get; } = train;

    public IBatchSource Test { get; } = test;

    /// <summary>What was loaded, for the first line of output.</summary>
    public string Description { get; } = description;

    public void Dispose()
    {
        (Train as IDisposable)?.Dispose();
        (Test as IDisposable)?.Dispose();
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
            if (!(settings.Get(data.MemoryBudget) > 0 && settings.Get(data.MemoryBudget) <= MaxBudgetGiB))
            {
                throw new UsageException(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{settings.Origin(data.MemoryBudget)} must be a number of GiB above 0 and at most {MaxBudgetGiB:N0}, was {settings.Get(data.MemoryBudget)}."));
            }
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
        // Commands without --memory-budget (logits streams its own folder) keep the default; Check has bounded the value.
        MemoryBudgetBytes = settings.Has(data.MemoryBudget) ? (long)(settings.Get(data.MemoryBudget) * (1L << 30)) : ImageFolderOptions.DefaultMemoryBudgetBytes,
    };

    /// <summary>The largest --memory-budget taken, in GiB (a pebibyte: more than any machine has).</summary>
    private const double MaxBudgetGiB = 1 << 20;

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
            try
            {
                (train, test) = ImageFolderDataset.LoadSplits(root, FolderOptions(settings, data), logger: logger, cancellationToken: cancellationToken);
            }
            catch (MemoryBudgetExceededException overBudget)
            {
                // Refused before any decoding: stream the folder instead.
                return Stream(settings, data, root, overBudget, limits, logger, cancellationToken);
            }

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

    /// <summary>
    /// An image folder whose decoded images would exceed --memory-budget, opened for streaming (both
    /// splits: the same files in the same order as a resident load).
    /// </summary>
    private static LoadedData Stream(RunSettings settings, DataOptions data, string root, MemoryBudgetExceededException overBudget, bool limits, ILogger logger, CancellationToken cancellationToken)
    {
        var size = settings.Get(data.ImageSize);
        if (limits && (settings.GetOrNull(data.TrainLimit) is not null || settings.GetOrNull(data.TestLimit) is not null))
        {
            throw new UsageException(
                $"--train-limit and --test-limit take their images from a folder held in memory, and {root} at {size}×{size} would take {GiB(overBudget.RequiredBytes)}, " +
                $"over {settings.Origin(data.MemoryBudget)} {GiB(overBudget.BudgetBytes)}: raise --memory-budget, or leave the limits out (the folder is then streamed).");
        }

        var (train, test) = StreamingImageFolder.OpenSplits(root, FolderOptions(settings, data), logger, cancellationToken);
        return new LoadedData(train, test,
            $"Images from {root} at {size}×{size}, streamed from disk ({GiB(overBudget.RequiredBytes)} decoded, over --memory-budget {GiB(overBudget.BudgetBytes)}): " +
            $"{train.Count:N0} training and {test.Count:N0} test images, {train.ClassNames.Count} classes.");
    }

    private static string GiB(long bytes) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.###} GiB");
}
