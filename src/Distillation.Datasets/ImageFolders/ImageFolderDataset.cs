using System.Collections.Concurrent;
using System.Globalization;
using Distillation.Devices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace Distillation.Data;

/// <summary>Images decoded so far out of the total, reported while an image folder loads.</summary>
/// <param name="Decoded">Images decoded (or skipped) so far.</param>
/// <param name="Total">Images in the folder.</param>
public readonly record struct ImageFolderProgress(int Decoded, int Total);

/// <summary>
/// Reads a folder of images laid out as torchvision's <c>ImageFolder</c>, <c>root/&lt;class&gt;/&lt;image&gt;</c>,
/// into an <see cref="ImageDataset"/>: one resident uint8 tensor [N, 3, size, size] and int64 labels.
/// Classes are the sub-folders (ordinal order of their names; folders starting with '.' are
/// ignored); images are the .jpg, .jpeg, .png, .bmp and .webp files beneath each (any case, sub-folders
/// included; other files are ignored). Every image becomes RGB (see <see cref="ImageFolderOptions"/>) and is
/// resized to <see cref="ImageFolderOptions.ImageSize"/>. Links: a folder link that leads out of the
/// tree is followed (a class folder may be a link to images kept elsewhere); one that leads back into
/// it (to the root, an ancestor, another class or a folder already read) is skipped with a warning,
/// since it would list images twice, under the wrong class, or without end; a file reached by two
/// names is listed once, under its own name where it has one in the tree. A file or folder whose name is not valid UTF-8 cannot be opened through
/// .NET's paths and is skipped with a warning naming it ('?' for the bad bytes). Decoding uses SkiaSharp: the application
/// adds the native assets for its platform (e.g. <c>SkiaSharp.NativeAssets.Linux.NoDependencies</c>).
/// </summary>
public static partial class ImageFolderDataset
{
    /// <summary>The training sub-folder of a folder that comes split.</summary>
    public const string TrainFolderName = "train";

    /// <summary>The test sub-folder of a folder that comes split.</summary>
    public const string TestFolderName = "test";

    /// <summary>The bytes a resident dataset of <paramref name="imageCount"/> images of <paramref name="imageSize"/>² takes: N·3·size² (uint8 pixels) + 8·N (int64 labels).</summary>
    /// <param name="imageCount">Images.</param>
    /// <param name="imageSize">Height and width.</param>
    /// <returns>The bytes.</returns>
    public static long ResidentBytes(long imageCount, int imageSize) => checked((imageCount * 3L * imageSize * imageSize) + (8L * imageCount));

    /// <summary>Whether <paramref name="root"/> comes split, holding both <c>train/</c> and <c>test/</c>.</summary>
    /// <param name="root">The folder.</param>
    /// <returns>True when both sub-folders exist.</returns>
    public static bool HasSplitFolders(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        return Directory.Exists(Path.Combine(root, TrainFolderName)) && Directory.Exists(Path.Combine(root, TestFolderName));
    }

    /// <summary>Loads every image of <c>root/&lt;class&gt;/&lt;image&gt;</c>.</summary>
    /// <param name="root">The folder whose sub-folders are the classes.</param>
    /// <param name="options">Size, resizing, order, normalization, budget; defaults when null.</param>
    /// <param name="progress">Receives the count of decoded images about every 1 %, from the decoding threads; none when null.</param>
    /// <param name="logger">Receives a warning per skipped file (<see cref="ImageFolderOptions.SkipUnreadable"/>), link or undecodable name; none when null.</param>
    /// <param name="cancellationToken">Stops the listing and the decoding (between images).</param>
    /// <returns>The dataset, owning its tensors.</returns>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    /// <exception cref="DatasetNotFoundException">The folder is missing or holds no class folder.</exception>
    /// <exception cref="DatasetFormatException">A class folder holds no image.</exception>
    /// <exception cref="MemoryBudgetExceededException">The images would take more than <see cref="ImageFolderOptions.MemoryBudgetBytes"/>; nothing was decoded.</exception>
    /// <exception cref="InvalidDataException">A file cannot be decoded (the message names the first such in the folder's order), unless <see cref="ImageFolderOptions.SkipUnreadable"/> is set.</exception>
    /// <exception cref="OperationCanceledException">The load was cancelled.</exception>
    public static ImageDataset Load(string root, ImageFolderOptions? options = null, IProgress<ImageFolderProgress>? progress = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        options ??= new ImageFolderOptions();
        options.Validate();
        var index = ImageFolderIndex.Scan(root, options.Order, null, logger, cancellationToken);
        return Decode(index, options, progress, logger, cancellationToken);
    }

    /// <summary>
    /// Loads a training and a test set. A folder holding <c>train/</c> and <c>test/</c> is read as
    /// given (classes from <c>train/</c>; <c>test/</c> may lack some, but may not add one). Any other
    /// folder is split: from each class, round(n · <see cref="ImageFolderOptions.TestFraction"/>)
    /// images drawn with <see cref="ImageFolderOptions.SplitSeed"/> go to the test set (at least one
    /// stays for training), so both sets keep the class balance. Both sets keep the folder's order.
    /// </summary>
    /// <param name="root">The folder.</param>
    /// <param name="options">As for <see cref="Load"/>, plus the split; defaults when null.</param>
    /// <param name="progress">Receives the count of decoded images of both sets together; none when null.</param>
    /// <param name="logger">Receives a warning per skipped file, link or undecodable name; none when null.</param>
    /// <param name="cancellationToken">Stops the listing and the decoding (between images).</param>
    /// <returns>The two sets; dispose both.</returns>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    /// <exception cref="DatasetNotFoundException">A folder is missing or holds no class folder.</exception>
    /// <exception cref="DatasetFormatException">The training classes are fewer than two (nothing to tell apart), a class folder holds no image, <c>test/</c> has a class <c>train/</c> lacks, or a split leaves the test set empty.</exception>
    /// <exception cref="MemoryBudgetExceededException">The two sets together would exceed <see cref="ImageFolderOptions.MemoryBudgetBytes"/>; nothing was decoded.</exception>
    /// <exception cref="InvalidDataException">A file cannot be decoded, unless <see cref="ImageFolderOptions.SkipUnreadable"/> is set.</exception>
    /// <exception cref="OperationCanceledException">The load was cancelled.</exception>
    public static (ImageDataset Train, ImageDataset Test) LoadSplits(string root, ImageFolderOptions? options = null, IProgress<ImageFolderProgress>? progress = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        options ??= new ImageFolderOptions();
        options.Validate();
        var (trainIndex, testIndex) = ImageFolderIndex.ScanSplits(root, options, logger, cancellationToken);
        CheckBudget(trainIndex.Count + testIndex.Count, options, root);
        var total = trainIndex.Count + testIndex.Count;
        var train = Decode(trainIndex, options, Offset(progress, 0, total), logger, cancellationToken);
        try
        {
            return (train, Decode(testIndex, options, Offset(progress, trainIndex.Count, total), logger, cancellationToken));
        }
        catch
        {
            train.Dispose();
            throw;
        }
    }

    private static Progress? Offset(IProgress<ImageFolderProgress>? progress, int offset, int total) =>
        progress is null ? null : new Progress(progress, offset, total);

    internal static void CheckBudget(long imageCount, ImageFolderOptions options, string root)
    {
        var bytes = ResidentBytes(imageCount, options.ImageSize);
        if (bytes > options.MemoryBudgetBytes)
        {
            throw new MemoryBudgetExceededException(bytes, options.MemoryBudgetBytes, string.Create(CultureInfo.InvariantCulture,
                $"The {imageCount:N0} images of {root} at {options.ImageSize}×{options.ImageSize} would take {FormatBytes(bytes)} resident " +
                $"(N·3·{options.ImageSize}² bytes + labels), over the memory budget of {FormatBytes(options.MemoryBudgetBytes)}. " +
                $"Choose a smaller image size, stream the folder with StreamingImageFolder (decoded batch by batch), or raise ImageFolderOptions.MemoryBudgetBytes."));
        }
    }

    internal static string FormatBytes(long bytes) =>
        bytes >= 1L << 30 ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.##} GiB ({bytes:N0} bytes)")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.##} MiB ({bytes:N0} bytes)");

    internal static ImageDataset Decode(ImageFolderIndex index, ImageFolderOptions options, IProgress<ImageFolderProgress>? progress, ILogger? logger, CancellationToken cancellationToken)
    {
        logger ??= NullLogger.Instance;
        TorchRuntime.EnsureAvailable();
        CheckBudget(index.Count, options, index.Root);
        var size = options.ImageSize;
        var imageBytes = ImageDecoder.BytesPerImage(size);
        var total = index.Count;
        var step = Math.Max(1, total / 100);
        var decoded = 0;
        var failures = new ConcurrentDictionary<int, InvalidDataException>();

        var images = empty([total, 3, size, size], ScalarType.Byte).DetachFromDisposeScope();
        try
        {
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism, CancellationToken = cancellationToken };
            Parallel.For(0, total, parallel, () => new byte[imageBytes], (i, state, buffer) =>
            {
                try
                {
                    ImageDecoder.Decode(index.Files[i], size, options.Resize, buffer);
                    using var row = images[i];
                    row.bytes = buffer;
                }
                catch (InvalidDataException e)
                {
                    failures[i] = e;
                    if (!options.SkipUnreadable)
                    {
                        // Break, not Stop: every image before this one is still decoded, so the
                        // error names the folder's first unreadable file however the threads raced.
                        state.Break();
                    }
                }

                var done = Interlocked.Increment(ref decoded);
                if (progress is not null && (done % step == 0 || done == total))
                {
                    progress.Report(new ImageFolderProgress(done, total));
                }

                return buffer;
            }, _ => { });

            if (failures.IsEmpty)
            {
                return new ImageDataset(images, tensor(index.Labels, [total]), index.ClassNames, options.Normalization);
            }

            var first = failures.MinBy(pair => pair.Key);
            if (!options.SkipUnreadable)
            {
                throw new InvalidDataException(first.Value.Message, first.Value.InnerException);
            }

            return WithoutFailures(images, index, failures.Keys.Order().ToArray(), options, logger);
        }
        catch
        {
            images.Dispose();
            throw;
        }
    }

    private static ImageDataset WithoutFailures(Tensor images, ImageFolderIndex index, int[] failed, ImageFolderOptions options, ILogger logger)
    {
        foreach (var i in failed)
        {
            LogSkipped(logger, index.Files[i]);
        }

        if (failed.Length == index.Count)
        {
            throw new InvalidDataException($"None of the {index.Count:N0} images of {index.Root} could be decoded; the first is {index.Files[failed[0]]}.");
        }

        LogSkippedTotal(logger, failed.Length, index.Count, index.Root);
        var failedSet = failed.ToHashSet();
        var kept = Enumerable.Range(0, index.Count).Where(i => !failedSet.Contains(i)).ToArray();

        // Compact in place (rows only move towards the front), so skipping costs no second copy of the set.
        for (var j = 0; j < kept.Length; j++)
        {
            if (kept[j] != j)
            {
                using var target = images[j];
                using var source = images[kept[j]];
                target.copy_(source);
            }
        }

        using var whole = images;
        var compacted = images.narrow(0, 0, kept.Length).DetachFromDisposeScope();
        var labels = kept.Select(i => index.Labels[i]).ToArray();
        return new ImageDataset(compacted, tensor(labels, [kept.Length]), index.ClassNames, options.Normalization);
    }

    [LoggerMessage(EventId = 30, Level = LogLevel.Warning, Message = "Image {Path} could not be decoded and is left out.")]
    private static partial void LogSkipped(ILogger logger, string path);

    [LoggerMessage(EventId = 31, Level = LogLevel.Warning, Message = "{Skipped} of {Total} images of {Root} could not be decoded and were left out.")]
    private static partial void LogSkippedTotal(ILogger logger, int skipped, int total, string root);

    private sealed class Progress(IProgress<ImageFolderProgress> inner, int offset, int total) : IProgress<ImageFolderProgress>
    {
        public void Report(ImageFolderProgress value) => inner.Report(new ImageFolderProgress(offset + value.Decoded, total));
    }
}
