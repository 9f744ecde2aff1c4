using System.Buffers.Binary;
using System.Text;
using CsCheck;
using Distillation.Serialization;
using Distillation.Tests.TestSupport;

namespace Distillation.Tests.Serialization;

/// <summary>Random safetensors-like files: the reader only ever reads them or throws <see cref="InvalidDataException"/>.</summary>
public sealed class SafetensorsFuzzTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private static readonly Gen<string> DType = Gen.OneOf(
        Gen.OneOf("F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"),
        Gen.OneOf("F8_E4M3", "C64", "f32", "", "U64"),
        Gen.String);

    private static readonly Gen<long> Number = Gen.OneOf(
        Gen.Long[0, 64],
        Gen.Long[-3, 3],
        Gen.OneOf(long.MaxValue, long.MinValue, int.MaxValue + 1L, 1L << 62));

    private static readonly Gen<string> Entry =
        from name in Gen.OneOf(Gen.OneOf("w", "b", "__metadata__", "w"), Gen.String)
        from dtype in DType
        from shape in Number.Array[0, 3]
        from begin in Number
        from end in Number
        from style in Gen.Int[0, 5]
        select style switch
        {
            0 => $"{Quote(name)}:{{\"dtype\":{Quote(dtype)},\"shape\":[{string.Join(",", shape)}]}}",
            1 => $"{Quote(name)}:{{\"dtype\":{Quote(dtype)},\"shape\":\"x\",\"data_offsets\":[{begin},{end}]}}",
            2 => $"{Quote(name)}:{{\"dtype\":7,\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{begin}]}}",
            3 => $"{Quote(name)}:{{\"k\":{Quote(dtype)}}}",
            _ => $"{Quote(name)}:{{\"dtype\":{Quote(dtype)},\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{begin},{end}]}}",
        };

    /// <summary>A well-formed file: one tensor "w" of a supported dtype whose offsets cover the data exactly.</summary>
    private static readonly Gen<byte[]> Valid =
        from type in Gen.OneOf(("F32", 4), ("F64", 8), ("I16", 2), ("U8", 1), ("I64", 8))
        from n in Gen.Int[0, 6]
        select File([$"\"w\":{{\"dtype\":\"{type.Item1}\",\"shape\":[{n}],\"data_offsets\":[0,{n * type.Item2}]}}"], 0, "", 0, new byte[n * type.Item2]);

    /// <summary>A header of 0–3 entries (mostly well-formed JSON, sometimes cut or random), a length field that mostly matches, and 0–300 data bytes.</summary>
    private static readonly Gen<byte[]> Files =
        from entries in Entry.Array[0, 3]
        from cut in Gen.OneOf(Gen.Const(0), Gen.Const(0), Gen.Int[1, 10])
        from garbage in Gen.OneOf(Gen.Const(""), Gen.Const(""), Gen.String)
        from lengthChange in Gen.OneOf(Gen.Const(0L), Gen.Const(0L), Number)
        from data in Gen.Byte.Array[0, 300]
        from raw in Gen.OneOf(Gen.Const((byte[]?)null), Gen.Const((byte[]?)null), Gen.Const((byte[]?)null), Gen.Byte.Array[0, 40].Select(b => (byte[]?)b))
        from valid in Valid
        from pick in Gen.Int[0, 5]
        select pick == 0 ? valid : (raw ?? File(entries, cut, garbage, lengthChange, data));

    private static string Quote(string text) => System.Text.Json.JsonSerializer.Serialize(text);

    private static byte[] File(string[] entries, int cut, string garbage, long lengthChange, byte[] data)
    {
        var json = "{" + string.Join(",", entries) + "}" + garbage;
        var header = Encoding.UTF8.GetBytes(json);
        header = header[..Math.Max(0, header.Length - cut)];
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, unchecked(header.Length + lengthChange));
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    [Fact]
    public void Random_headers_read_or_raise_only_InvalidDataException_naming_the_file()
    {
        var path = Path.Combine(temp.Path, "fuzz.safetensors");
        var read = 0;
        var rejected = 0;
        Fuzz.ForAll(Files, seed: 20260702, iterations: 400, check: bytes =>
        {
            System.IO.File.WriteAllBytes(path, bytes);
            try
            {
                Safetensors.ReadHeader(path);
                using var content = Safetensors.Read(path);
                read++;
            }
            catch (InvalidDataException e)
            {
                e.Message.Should().Contain(path);
                rejected++;
            }
        });

        rejected.Should().BeGreaterThan(100);
        read.Should().BeGreaterThan(0, "well-formed headers with fitting offsets occur and must be read");
    }
}
