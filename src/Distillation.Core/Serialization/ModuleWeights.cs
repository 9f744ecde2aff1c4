using Distillation.Devices;
using Distillation.IO;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;

namespace Distillation.Serialization;

/// <summary>
/// Saving and loading a module's weights: in TorchSharp's format (<see cref="SaveWeights"/>,
/// <see cref="LoadWeights"/>), so a trained teacher can be reused, with the SHA-256 of the entries
/// appended after them (TorchSharp's own <c>load</c> ignores it) so that a damaged file is found before
/// anything is loaded; and PyTorch's state dicts (<see cref="LoadPyTorchStateDict"/>,
/// <see cref="LoadSafetensors"/>, <see cref="SaveSafetensors"/>, <see cref="LoadStateDict"/>), by
/// parameter and buffer name with the semantics of PyTorch's <c>load_state_dict</c>.
/// </summary>
/// <remarks>
/// A state-dict load checks everything before it copies anything: when it throws, the module is
/// unchanged. Values are copied under <c>no_grad</c> into the module's existing tensors, converted to
/// each tensor's dtype and device, so optimizers holding the parameters stay valid.
/// </remarks>
public static partial class ModuleWeights
{
    /// <summary>Marks the checksum after the entries: 8 bytes, then the 32-byte SHA-256 of everything before.</summary>
    private static ReadOnlySpan<byte> TrailerMagic => "DSHA256\0"u8;

    private static int TrailerLength => TrailerMagic.Length + PayloadChecksum.Length;

    /// <summary>
    /// Writes the module's state dict to <paramref name="path"/> atomically (through
    /// an atomic write: a temporary file in the same folder, flushed, then renamed over the
    /// target), so an interrupted or failed save never leaves a half-written file under that name,
    /// followed by the SHA-256 of the entries.
    /// </summary>
    /// <param name="module">The module.</param>
    /// <param name="path">The weights file; its folder is created if needed.</param>
    /// <exception cref="IOException">The file cannot be written (e.g. the disk is full); the previous file, if any, is unchanged.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder is not writable; the previous file, if any, is unchanged.</exception>
    public static void SaveWeights(this torch.nn.Module module, string path)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        TorchRuntime.EnsureAvailable();
        AtomicFile.Write(path, stream =>
        {
            using (var hashing = new PayloadChecksum.HashingStream(stream))
            {
                using (var writer = new BinaryWriter(hashing, System.Text.Encoding.UTF8, leaveOpen: true))
                {
                    module.save(writer);
                    writer.Flush();
                }

                stream.Write(TrailerMagic);
                stream.Write(hashing.Hash());
            }
        });
    }

    /// <summary>Loads weights saved by <see cref="SaveWeights"/> (or TorchSharp's <c>save</c>) into the module.</summary>
    /// <remarks>
    /// The checksum is compared with the entries, then the file's entries (names, dtypes, shapes and
    /// sizes) are compared with the module's state dict, all before anything is copied, so a damaged
    /// file, or one of another model, leaves the module unchanged. TorchSharp's own reader copies
    /// tensor after tensor and would stop half-way through. A file without a checksum (written by
    /// TorchSharp's <c>save</c>, or by this library before checksums) is still loaded, with a warning
    /// to <paramref name="logger"/>: damage in it cannot be detected beyond its structure.
    /// </remarks>
    /// <param name="module">The module, of the same architecture as the one saved.</param>
    /// <param name="path">The weights file.</param>
    /// <param name="logger">Receives the warning about a file without a checksum; none by default.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">
    /// The file is damaged (its checksum does not match its content), does not fit the module (the
    /// message names the file and lists the missing and unexpected keys and the shapes or dtypes that
    /// differ), is a training checkpoint rather than weights, or is not a weights file.
    /// Nothing was loaded.
    /// </exception>
    public static void LoadWeights(this torch.nn.Module module, string path, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        TorchRuntime.EnsureAvailable();
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"Weights file {full} does not exist.", full);
        }

        try
        {
            using var stream = File.OpenRead(full);
            RefuseCheckpoint(stream, full);
            var (entries, end) = ReadEntries(stream, full);
            if (!CheckTrailer(stream, end, full))
            {
                LogNoChecksum(logger ?? NullLogger.Instance, full);
            }

            CheckFits(module, entries, full);
            stream.Position = 0;
            module.load(stream, strict: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or EndOfStreamException or IOException and not FileNotFoundException)
        {
            throw new InvalidDataException($"Weights file {full} does not fit {module.GetName()}: {PrintableText.Of(e.Message, 300)}", e);
        }
    }

    /// <summary>A training checkpoint starts with its magic string; say so rather than fail on its bytes as entries.</summary>
    private static void RefuseCheckpoint(Stream stream, string full)
    {
        if (FileSignatures.OpensWith(stream, FileSignatures.Checkpoint))
        {
            throw new InvalidDataException(
                $"{full} is a training checkpoint, not a weights file: a run continues from its checkpoint by resuming it (CheckpointOptions.Resume); " +
                "weights are saved with SaveWeights (e.g. the -best.weights beside it).");
        }
    }

    /// <summary>
    /// After the entries: nothing (a file without a checksum: false), or the library's trailer,
    /// whose SHA-256 must match the entries (true); anything else is damage.
    /// </summary>
    private static bool CheckTrailer(Stream stream, long end, string full)
    {
        var left = stream.Length - end;
        if (left == 0)
        {
            return false;
        }

        var trailer = new byte[TrailerLength];
        stream.Position = end;
        if (left != TrailerLength || stream.ReadAtLeast(trailer, trailer.Length, throwOnEndOfStream: false) != trailer.Length
            || !trailer.AsSpan(0, TrailerMagic.Length).SequenceEqual(TrailerMagic))
        {
            throw new InvalidDataException(
                $"Weights file {full} has {left:N0} bytes after its last entry that are not a checksum; it is damaged or not a TorchSharp weights file. Nothing was loaded.");
        }

        if (!PayloadChecksum.Matches(stream, end, trailer.AsSpan(TrailerMagic.Length)))
        {
            throw new InvalidDataException(
                $"Weights file {full} is damaged: its content does not match its SHA-256 checksum (a changed byte); nothing was loaded.");
        }

        return true;
    }

    [LoggerMessage(EventId = 600, Level = LogLevel.Warning, Message = "Weights file {Path} has no checksum (written by TorchSharp's save or an earlier version): damage in it cannot be detected")]
    private static partial void LogNoChecksum(ILogger logger, string path);

    /// <summary>
    /// Reads the entries of a TorchSharp weights file without loading any tensor: a LEB128 count,
    /// then per entry a length-prefixed UTF-8 name, a LEB128 dtype, rank and dimensions, and the raw bytes.
    /// </summary>
    private static (Dictionary<string, (torch.ScalarType DType, long[] Shape)> Entries, long End) ReadEntries(Stream stream, string full)
    {
        var entries = new Dictionary<string, (torch.ScalarType, long[])>(StringComparer.Ordinal);
        using var reader = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        try
        {
            var count = Decode(reader, full, "the entry count");
            if (count > stream.Length)
            {
                throw new InvalidDataException($"Weights file {full} claims {count:N0} entries in {stream.Length:N0} bytes; it is not a TorchSharp weights file.");
            }

            for (var i = 0L; i < count; i++)
            {
                var key = reader.ReadString();
                var name = PrintableText.Of(key);
                var code = Decode(reader, full, $"the dtype of \"{name}\"");
                var elementSize = ElementSize(code) ?? throw new InvalidDataException(
                    $"Weights file {full}: entry \"{name}\" has the unknown dtype code {code}; it is damaged or not a TorchSharp weights file.");
                var rank = Decode(reader, full, $"the rank of \"{name}\"");
                if (rank > 64)
                {
                    throw new InvalidDataException($"Weights file {full}: entry \"{name}\" claims {rank:N0} dimensions; it is damaged or not a TorchSharp weights file.");
                }

                var shape = new long[rank];
                var bytes = elementSize;
                for (var d = 0; d < rank; d++)
                {
                    shape[d] = Decode(reader, full, $"the shape of \"{name}\"");
                    bytes = shape[d] == 0 ? 0 : bytes <= (stream.Length / shape[d]) ? bytes * shape[d] : long.MaxValue;
                }

                if (bytes > stream.Length - stream.Position)
                {
                    throw new InvalidDataException(
                        $"Weights file {full}: entry \"{name}\" [{string.Join(", ", shape)}] needs more bytes than the file has left ({stream.Length - stream.Position:N0}); the file is truncated or damaged.");
                }

                if (!entries.TryAdd(key, ((torch.ScalarType)code, shape)))
                {
                    throw new InvalidDataException($"Weights file {full} holds \"{name}\" twice; it is damaged.");
                }

                stream.Seek(bytes, SeekOrigin.Current);
            }
        }
        catch (Exception e) when (e is EndOfStreamException or FormatException)
        {
            throw new InvalidDataException($"Weights file {full} ends early or is not a TorchSharp weights file: {e.Message}", e);
        }

        return (entries, stream.Position);
    }

    private static void CheckFits(torch.nn.Module module, Dictionary<string, (torch.ScalarType DType, long[] Shape)> entries, string full)
    {
        var match = StateDictMatch.Of(module.state_dict(), entries, e => e.Shape, e => e.DType);
        var problems = match.Problems(strict: true, "file");
        if (problems.Count == 0)
        {
            return;
        }

        var message = $"Weights file {full} does not fit {module.GetName()}, nothing was loaded: {string.Join("; ", problems)}.";
        throw new InvalidDataException(message, new StateDictMismatchException(message, match.Missing, match.Unexpected, match.ShapeMismatches));
    }

    /// <summary>TorchSharp's LEB128 integer, at most 10 bytes.</summary>
    private static long Decode(BinaryReader reader, string full, string what)
    {
        long result = 0;
        for (var i = 0; i < 10; i++)
        {
            long b = reader.ReadByte();
            result |= (b & 0x7f) << (i * 7);
            if ((b & 0x80) == 0)
            {
                return result >= 0
                    ? result
                    : throw new InvalidDataException($"Weights file {full}: {what} is negative; it is damaged or not a TorchSharp weights file.");
            }
        }

        throw new InvalidDataException($"Weights file {full}: {what} is not a valid number; it is damaged or not a TorchSharp weights file.");
    }

    private static long? ElementSize(long code) => code switch
    {
        (long)torch.ScalarType.Byte or (long)torch.ScalarType.Int8 or (long)torch.ScalarType.Bool => 1,
        (long)torch.ScalarType.Int16 or (long)torch.ScalarType.Float16 or (long)torch.ScalarType.BFloat16 => 2,
        (long)torch.ScalarType.Int32 or (long)torch.ScalarType.Float32 => 4,
        (long)torch.ScalarType.Int64 or (long)torch.ScalarType.Float64 or (long)torch.ScalarType.ComplexFloat32 => 8,
        (long)torch.ScalarType.ComplexFloat64 => 16,
        _ => null,
    };
}
