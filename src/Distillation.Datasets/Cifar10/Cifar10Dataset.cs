using System.Buffers;
using Distillation.Devices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace Distillation.Data;

/// <summary>
/// Reads CIFAR-10's official binary version (<c>cifar-10-batches-bin/</c>) into an <see cref="ImageDataset"/>:
/// one resident uint8 tensor [N, 3, 32, 32] and int64 labels, class names from <c>batches.meta.txt</c>.
/// A record is 3,073 bytes: one label byte (0–9), then 1,024 red, 1,024 green and 1,024 blue bytes.
/// Any malformed file fails the whole load; nothing is half-loaded.
/// </summary>
public static partial class Cifar10Dataset
{
    /// <summary>The folder the official archive unpacks to.</summary>
    public const string FolderName = "cifar-10-batches-bin";

    /// <summary>The file naming the classes, one per line.</summary>
    internal const string MetaFileName = "batches.meta.txt";

    /// <summary>Bytes in one record: a label byte and 3 × 32 × 32 pixel bytes.</summary>
    internal const int RecordBytes = 1 + ImageBytes;

    /// <summary>Records in each official batch file.</summary>
    internal const int RecordsPerOfficialFile = 10_000;

    /// <summary>Colour channels.</summary>
    internal const int Channels = 3;

    /// <summary>Image height and width.</summary>
    internal const int ImageSize = 32;

    private const int ImageBytes = Channels * ImageSize * ImageSize;

    /// <summary>The official class names, used where <c>batches.meta.txt</c> is missing.</summary>
    public static IReadOnlyList<string> DefaultClassNames { get; } =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>The files of a split, in reading order.</summary>
    /// <param name="split">The split.</param>
    /// <returns>File names inside <see cref="FolderName"/>.</returns>
    public static IReadOnlyList<string> FilesOf(Cifar10Split split) => split switch
    {
        Cifar10Split.Train => ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"],
        Cifar10Split.Test => ["test_batch.bin"],
        _ => throw new ArgumentOutOfRangeException(nameof(split), split, "Unknown split."),
    };

    /// <summary>
    /// The batches folder for <paramref name="root"/>: <c>root/cifar-10-batches-bin</c>, or
    /// <paramref name="root"/> itself where it is that folder (by name, or because it holds the batch files).
    /// </summary>
    /// <param name="root">The data root.</param>
    /// <returns>The full path of the batches folder (which may not exist).</returns>
    public static string ResolveFolder(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        return Path.GetFileName(full) == FolderName || File.Exists(Path.Combine(full, "test_batch.bin")) || File.Exists(Path.Combine(full, "data_batch_1.bin"))
            ? full
            : Path.Combine(full, FolderName);
    }

    /// <summary>Loads one split.</summary>
    /// <param name="root">The folder holding <c>cifar-10-batches-bin/</c> (or that folder itself).</param>
    /// <param name="split">Training or test images.</param>
    /// <param name="options">Reading options; defaults when null.</param>
    /// <param name="logger">Receives a warning when <c>batches.meta.txt</c> is missing; none when null.</param>
    /// <returns>The dataset, owning its tensors.</returns>
    /// <exception cref="DatasetNotFoundException">The folder or a batch file is missing.</exception>
    /// <exception cref="DatasetFormatException">A file is truncated, of the wrong size, or holds a label outside 0–9.</exception>
    public static ImageDataset Load(string root, Cifar10Split split, Cifar10LoadOptions? options = null, ILogger? logger = null)
    {
        options ??= new Cifar10LoadOptions();
        options.Validate();
        logger ??= NullLogger.Instance;
        TorchRuntime.EnsureAvailable();

        var folder = ResolveFolder(root);
        if (!Directory.Exists(folder))
        {
            throw new DatasetNotFoundException(folder,
                $"CIFAR-10 was not found: expected the folder {folder} holding data_batch_1.bin … data_batch_5.bin, test_batch.bin and batches.meta.txt. " +
                $"Download the binary version (https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz) and extract it into {Path.GetDirectoryName(folder)}, " +
                "or let Cifar10Downloader fetch it.");
        }

        var files = FilesOf(split).Select(name => Path.Combine(folder, name)).ToArray();
        var recordCounts = files.Select(file => CountRecords(file, options.ExpectedRecordsPerFile)).ToArray();
        var total = recordCounts.Sum();
        if (total == 0)
        {
            throw new DatasetFormatException(files[0], null, $"The CIFAR-10 {split} files hold no records: {string.Join(", ", files)} {(files.Length == 1 ? "is" : "are")} empty.");
        }

        var classNames = ReadClassNames(folder, logger);
        var pixels = new byte[total * ImageBytes];
        var labels = new long[total];
        var next = 0L;
        for (var f = 0; f < files.Length; f++)
        {
            ReadRecords(files[f], recordCounts[f], classNames.Count, pixels.AsSpan(checked((int)(next * ImageBytes))), labels.AsSpan((int)next));
            next += recordCounts[f];
        }

        return new ImageDataset(
            tensor(pixels, [total, Channels, ImageSize, ImageSize]),
            tensor(labels, [total]),
            classNames,
            options.Normalization);
    }

    private static long CountRecords(string file, int? expectedRecords)
    {
        var info = new FileInfo(file);
        if (!info.Exists)
        {
            throw new DatasetNotFoundException(file,
                $"CIFAR-10 file {file} is missing. The folder must hold data_batch_1.bin … data_batch_5.bin and test_batch.bin " +
                "as extracted from cifar-10-binary.tar.gz.");
        }

        var whole = info.Length / RecordBytes;
        var rest = info.Length % RecordBytes;
        if (rest != 0)
        {
            throw new DatasetFormatException(file, whole,
                $"CIFAR-10 file {file} is truncated: its size, {info.Length:N0} bytes, is not a multiple of {RecordBytes:N0}; " +
                $"record {whole:N0} (zero-based) has only {rest:N0} of its {RecordBytes:N0} bytes.");
        }

        if (expectedRecords is { } expected && whole != expected)
        {
            throw new DatasetFormatException(file, Math.Min(whole, expected),
                $"CIFAR-10 file {file} holds {whole:N0} records ({info.Length:N0} bytes); an official batch file holds {expected:N0} " +
                $"({(long)expected * RecordBytes:N0} bytes). The file is incomplete or not a CIFAR-10 batch.");
        }

        return whole;
    }

    private static void ReadRecords(string file, long records, int classCount, Span<byte> pixels, Span<long> labels)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(RecordBytes * 1024);
        try
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
            var record = 0L;
            while (record < records)
            {
                var chunk = (int)Math.Min(1024, records - record);
                var bytes = chunk * RecordBytes;
                var read = stream.ReadAtLeast(buffer.AsSpan(0, bytes), bytes, throwOnEndOfStream: false);
                if (read < bytes)
                {
                    // The file shrank after it was measured.
                    var at = record + (read / RecordBytes);
                    throw new DatasetFormatException(file, at, $"CIFAR-10 file {file} ended early, inside record {at:N0}.");
                }

                for (var i = 0; i < chunk; i++)
                {
                    var source = buffer.AsSpan(i * RecordBytes, RecordBytes);
                    var label = source[0];
                    if (label >= classCount)
                    {
                        throw new DatasetFormatException(file, record + i,
                            $"CIFAR-10 file {file}, record {record + i:N0} (zero-based, byte offset {(record + i) * RecordBytes:N0}): label {label} is outside 0..{classCount - 1}.");
                    }

                    labels[(int)(record + i)] = label;
                    source[1..].CopyTo(pixels.Slice((int)((record + i) * ImageBytes), ImageBytes));
                }

                record += chunk;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static IReadOnlyList<string> ReadClassNames(string folder, ILogger logger)
    {
        var meta = Path.Combine(folder, MetaFileName);
        if (!File.Exists(meta))
        {
            LogMetaMissing(logger, meta);
            return DefaultClassNames;
        }

        var names = File.ReadAllLines(meta).Select(line => line.Trim()).Where(line => line.Length > 0).ToArray();
        if (names.Length != DefaultClassNames.Count)
        {
            throw new DatasetFormatException(meta, null,
                $"CIFAR-10 file {meta} names {names.Length} classes; it must name {DefaultClassNames.Count}, one per line.");
        }

        return names;
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "CIFAR-10 class names file {Path} is missing; using the official names.")]
    private static partial void LogMetaMissing(ILogger logger, string path);
}
