using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Distillation.Devices;
using Distillation.IO;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Serialization;

/// <summary>
/// Reads and writes the <see href="https://huggingface.co/docs/safetensors">safetensors</see>
/// format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each tensor
/// name to its dtype, shape and data offsets (plus an optional <c>__metadata__</c> string map),
/// then the raw little-endian data. Files are treated as untrusted: every length and offset is
/// checked against the file before anything is allocated from it, and any inconsistency throws
/// an <see cref="InvalidDataException"/> naming the file and the tensor.
/// </summary>
public static class Safetensors
{
    /// <summary>The largest header accepted, as in the reference implementation (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";
    private const int DefaultChunkBytes = 1 << 30;

    /// <summary>Reads every tensor of a safetensors file onto the CPU, in the dtype the file stores.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The tensors and metadata; dispose it to free the tensors.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">
    /// The file is not valid safetensors: truncated, a header length beyond the file, malformed
    /// JSON, an unknown dtype, offsets outside the data or overlapping or leaving gaps, or a byte
    /// count that does not match the shape. The message names the file and the tensor.
    /// </exception>
    public static FileContent Read(string path) => Read(path, DefaultChunkBytes);

    /// <summary>Reads only the header of a safetensors file: names, dtypes, shapes and offsets, validated as by <see cref="Read(string)"/>.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The tensors' descriptions in file order, and the metadata.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The header is not valid (see <see cref="Read(string)"/>).</exception>
    internal static SafetensorsHeader ReadHeader(string path)
    {
        var full = CheckedFullPath(path);
        using var handle = File.OpenHandle(full, FileMode.Open, FileAccess.Read, FileShare.Read);
        return ParseHeader(full, handle, out _);
    }

    /// <summary>
    /// Writes tensors as a safetensors file, atomically: to a temporary file in the same folder,
    /// then renamed over <paramref name="path"/>.
    /// </summary>
    /// <param name="path">The file; its folder is created if needed.</param>
    /// <param name="tensors">Names and tensors, written in this order; any device, any layout.</param>
    /// <param name="metadata">Optional string metadata, stored under <c>__metadata__</c>.</param>
    /// <exception cref="ArgumentException">A name is empty, repeated or <c>__metadata__</c>.</exception>
    /// <exception cref="NotSupportedException">A tensor's dtype has no safetensors name this library writes (for example complex).</exception>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(tensors);
        TorchRuntime.EnsureAvailable();
        var entries = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in entries)
        {
            if (string.IsNullOrEmpty(name) || name == MetadataKey || !names.Add(name))
            {
                throw new ArgumentException($"Tensor name \"{name}\" is empty, reserved or repeated.", nameof(tensors));
            }

            ArgumentNullException.ThrowIfNull(tensor, nameof(tensors));
            if (SafetensorsDType.NameOf(tensor.dtype) is null)
            {
                throw new NotSupportedException($"Tensor \"{name}\" has dtype {tensor.dtype}, which safetensors export does not support (supported: {SafetensorsDType.SupportedNames}).");
            }
        }

        var header = BuildHeader(entries, metadata);
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (var (_, tensor) in entries)
            {
                WriteData(stream, tensor);
            }
        });
    }

    /// <summary>The reader, with the size of the slices tensors are read in (tests use a small one to cover multi-slice reads).</summary>
    internal static FileContent Read(string path, int chunkBytes)
    {
        var full = CheckedFullPath(path);
        TorchRuntime.EnsureAvailable();
        using var handle = File.OpenHandle(full, FileMode.Open, FileAccess.Read, FileShare.Read);
        var header = ParseHeader(full, handle, out var dataStart);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var info in header.Tensors)
            {
                tensors.Add(info.Name, ReadTensor(full, handle, dataStart, info, chunkBytes));
            }
        }
        catch
        {
            foreach (var tensor in tensors.Values)
            {
                tensor.Dispose();
            }

            throw;
        }

        return new FileContent(header.Tensors.Select(t => t.Name).ToList(), tensors, header.Metadata);
    }

    private static string CheckedFullPath(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"Safetensors file {full} does not exist.", full);
        }

        return full;
    }

    private static SafetensorsHeader ParseHeader(string file, SafeFileHandle handle, out long dataStart)
    {
        var fileLength = RandomAccess.GetLength(handle);
        if (fileLength < 8)
        {
            throw Invalid(file, null, $"the file has {fileLength} bytes, fewer than the 8-byte header length: it is truncated or not safetensors.");
        }

        Span<byte> prefix = stackalloc byte[8];
        ReadExactly(file, handle, prefix, 0);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)(fileLength - 8))
        {
            throw Invalid(file, null, $"the header length {headerLength} exceeds the {fileLength - 8} bytes after the length field: the file is truncated or not safetensors.");
        }

        if (headerLength > MaxHeaderBytes)
        {
            throw Invalid(file, null, $"the header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit.");
        }

        if (headerLength < 2)
        {
            throw Invalid(file, null, $"the header length {headerLength} is too short for a JSON object.");
        }

        // Bounded by the file size and by MaxHeaderBytes, both checked above.
        var headerBytes = new byte[(int)headerLength];
        ReadExactly(file, handle, headerBytes, 8);
        dataStart = 8 + (long)headerLength;
        var dataLength = fileLength - dataStart;

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(headerBytes, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw Invalid(file, null, $"the header is not well-formed JSON: {e.Message}", e);
        }
        catch (ArgumentException e)
        {
            // Invalid UTF-8 surfaces as an ArgumentException from the decoder.
            throw Invalid(file, null, $"the header is not valid UTF-8 JSON: {e.Message}", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Invalid(file, null, $"the header is a JSON {document.RootElement.ValueKind}, not an object.");
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            var tensors = new List<SafetensorsTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    throw Invalid(file, property.Name, "the name appears twice in the header.");
                }

                if (property.Name == MetadataKey)
                {
                    ParseMetadata(file, property.Value, metadata);
                }
                else
                {
                    tensors.Add(ParseTensorInfo(file, property.Name, property.Value, dataLength));
                }
            }

            CheckCoverage(file, tensors, dataLength);
            return new SafetensorsHeader(tensors, metadata);
        }
    }

    private static void ParseMetadata(string file, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Invalid(file, null, $"\"{MetadataKey}\" is a JSON {value.ValueKind}, not an object of strings.");
        }

        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                throw Invalid(file, null, $"metadata entry \"{entry.Name}\" is a JSON {entry.Value.ValueKind}, not a string.");
            }

            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
            {
                throw Invalid(file, null, $"metadata entry \"{entry.Name}\" appears twice.");
            }
        }
    }

    private static SafetensorsTensorInfo ParseTensorInfo(string file, string name, JsonElement value, long dataLength)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Invalid(file, name, $"the entry is a JSON {value.ValueKind}, not an object with dtype, shape and data_offsets.");
        }

        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw Invalid(file, name, "the entry has no string \"dtype\".");
        }

        var dtypeName = dtypeElement.GetString()!;
        if (!SafetensorsDType.TryParse(dtypeName, out var dtype, out var elementSize))
        {
            throw Invalid(file, name, $"dtype \"{dtypeName}\" is not supported (supported: {SafetensorsDType.SupportedNames}).");
        }

        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            throw Invalid(file, name, "the entry has no \"shape\" array.");
        }

        var shape = new long[shapeElement.GetArrayLength()];
        var index = 0;
        long elements = 1;
        foreach (var dimension in shapeElement.EnumerateArray())
        {
            if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out var size) || size < 0)
            {
                throw Invalid(file, name, $"shape dimension {index} ({dimension.GetRawText()}) is not a non-negative integer.");
            }

            shape[index++] = size;

            // Saturate instead of overflowing: any product beyond the data length fails the byte-count check below.
            elements = size != 0 && elements > long.MaxValue / size ? long.MaxValue : elements * size;
        }

        if (!value.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array || offsetsElement.GetArrayLength() != 2)
        {
            throw Invalid(file, name, "the entry has no \"data_offsets\" array of two integers.");
        }

        var begin = ReadOffset(file, name, offsetsElement[0], "begin");
        var end = ReadOffset(file, name, offsetsElement[1], "end");
        if (begin > end)
        {
            throw Invalid(file, name, $"data_offsets [{begin}, {end}] end before they begin.");
        }

        if (end > dataLength)
        {
            throw Invalid(file, name, $"data_offsets [{begin}, {end}] lie outside the {dataLength}-byte data buffer.");
        }

        var expected = elements > long.MaxValue / elementSize ? long.MaxValue : elements * elementSize;
        if (end - begin != expected)
        {
            var expectedText = expected == long.MaxValue ? "more than the file holds" : expected.ToString(System.Globalization.CultureInfo.InvariantCulture);
            throw Invalid(file, name, $"data_offsets [{begin}, {end}] hold {end - begin} bytes, but shape [{string.Join(", ", shape)}] of {dtypeName} needs {expectedText}.");
        }

        return new SafetensorsTensorInfo(name, dtypeName, dtype, shape, begin, end);
    }

    private static long ReadOffset(string file, string name, JsonElement element, string which)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out var offset) || offset < 0)
        {
            throw Invalid(file, name, $"the {which} data offset ({element.GetRawText()}) is not a non-negative integer.");
        }

        return offset;
    }

    private static void CheckCoverage(string file, List<SafetensorsTensorInfo> tensors, long dataLength)
    {
        var ordered = tensors.OrderBy(t => t.DataBegin).ThenBy(t => t.DataEnd).ToList();
        long position = 0;
        foreach (var tensor in ordered)
        {
            if (tensor.DataBegin < position)
            {
                throw Invalid(file, tensor.Name, $"data_offsets [{tensor.DataBegin}, {tensor.DataEnd}] overlap another tensor's data, which ends at {position}.");
            }

            if (tensor.DataBegin > position)
            {
                throw Invalid(file, tensor.Name, $"data_offsets [{tensor.DataBegin}, {tensor.DataEnd}] leave bytes {position} to {tensor.DataBegin} of the data buffer unused.");
            }

            position = tensor.DataEnd;
        }

        if (position != dataLength)
        {
            throw Invalid(file, null, $"the tensors cover {position} bytes of the {dataLength}-byte data buffer; the rest belongs to no tensor.");
        }
    }

    private static Tensor ReadTensor(string file, SafeFileHandle handle, long dataStart, SafetensorsTensorInfo info, int chunkBytes)
    {
        // The byte count was checked against the shape and lies inside the file: this allocation is bounded by the file size.
        var tensor = empty(info.Shape.ToArray(), info.DType, CPU);
        try
        {
            var length = info.DataEnd - info.DataBegin;
            if (length == 0)
            {
                return tensor;
            }

            using var flat = tensor.view(-1);
            var elementSize = tensor.ElementSize;
            var elementsPerChunk = Math.Max(1, chunkBytes / elementSize);
            var total = flat.shape[0];
            for (long start = 0; start < total; start += elementsPerChunk)
            {
                var count = Math.Min(elementsPerChunk, total - start);
                using var slice = flat.narrow(0, start, count);
                var bytes = slice.bytes;
                ReadExactly(file, handle, bytes, dataStart + info.DataBegin + (start * elementSize));
                if (info.DType == ScalarType.Bool && bytes.IndexOfAnyExcept((byte)0, (byte)1) is var bad and >= 0)
                {
                    throw Invalid(file, info.Name, $"BOOL element {start + bad} is byte {bytes[bad]}, not 0 or 1.");
                }
            }

            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    private static void ReadExactly(string file, SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        while (!buffer.IsEmpty)
        {
            var read = RandomAccess.Read(handle, buffer, offset);
            if (read == 0)
            {
                throw Invalid(file, null, $"the file ended at byte {offset}, before the data its header announces (was it changed while being read?).");
            }

            buffer = buffer[read..];
            offset += read;
        }
    }

    private static byte[] BuildHeader(List<KeyValuePair<string, Tensor>> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata)
                {
                    json.WriteString(key, value);
                }

                json.WriteEndObject();
            }

            long offset = 0;
            foreach (var (name, tensor) in entries)
            {
                var bytes = checked(tensor.numel() * tensor.ElementSize);
                json.WriteStartObject(name);
                json.WriteString("dtype", SafetensorsDType.NameOf(tensor.dtype));
                json.WriteStartArray("shape");
                foreach (var size in tensor.shape)
                {
                    json.WriteNumberValue(size);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }

            json.WriteEndObject();
        }

        // Pad with spaces to a multiple of 8, as the reference writer does, so the data starts aligned.
        var padding = (int)((8 - (buffer.Length % 8)) % 8);
        for (var i = 0; i < padding; i++)
        {
            buffer.WriteByte((byte)' ');
        }

        return buffer.ToArray();
    }

    private static void WriteData(Stream stream, Tensor tensor)
    {
        if (tensor.numel() == 0)
        {
            return;
        }

        using var scope = NewDisposeScope();
        var flat = tensor.detach().cpu().contiguous().view(-1);
        var elementsPerChunk = Math.Max(1, DefaultChunkBytes / flat.ElementSize);
        var total = flat.shape[0];
        for (long start = 0; start < total; start += elementsPerChunk)
        {
            var slice = flat.narrow(0, start, Math.Min(elementsPerChunk, total - start));
            stream.Write(slice.bytes);
        }
    }

    private static InvalidDataException Invalid(string file, string? tensor, string problem, Exception? inner = null)
    {
        var where = tensor is null ? $"Safetensors file {file}" : $"Safetensors file {file}, tensor \"{tensor}\"";
        return new InvalidDataException($"{where}: {problem}", inner);
    }

    /// <summary>The tensors of a safetensors file, read onto the CPU; disposing it frees them.</summary>
    public sealed class FileContent : IDisposable
    {
        private readonly Dictionary<string, Tensor> tensors;

        internal FileContent(IReadOnlyList<string> names, Dictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> metadata)
        {
            Names = names;
            this.tensors = tensors;
            Metadata = metadata;
        }

        /// <summary>The tensor names in the order of the file's header.</summary>
        public IReadOnlyList<string> Names { get; }

        /// <summary>The tensors by name, in the dtypes and shapes the file stores.</summary>
        public IReadOnlyDictionary<string, Tensor> Tensors => tensors;

        /// <summary>The file's <c>__metadata__</c> strings (empty when it has none).</summary>
        public IReadOnlyDictionary<string, string> Metadata { get; }

        /// <summary>Disposes every tensor.</summary>
        public void Dispose()
        {
            foreach (var tensor in tensors.Values)
            {
                tensor.Dispose();
            }

            tensors.Clear();
        }
    }
}
