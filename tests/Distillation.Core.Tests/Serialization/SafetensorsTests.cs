using System.Buffers.Binary;
using System.Text;
using Distillation.Serialization;
using Distillation.Tests.TestSupport;
using static TorchSharp.torch;

namespace Distillation.Tests.Serialization;

public sealed class SafetensorsTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    /// <summary>Writes a file by hand: the 8-byte length, the header text, then the data bytes.</summary>
    private string WriteRaw(string header, byte[] data, ulong? declaredHeaderLength = null, string name = "t.safetensors")
    {
        var path = Path.Combine(temp.Path, name);
        var headerBytes = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + headerBytes.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredHeaderLength ?? (ulong)headerBytes.Length);
        headerBytes.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + headerBytes.Length);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        return bytes;
    }

    private static InvalidDataException ReadFails(string path)
    {
        var act = () => Safetensors.Read(path);
        return act.Should().Throw<InvalidDataException>().Which;
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Fact]
    public void Reads_a_hand_written_file_in_any_header_order()
    {
        // b's entry comes first in the header but its data second.
        var path = WriteRaw(
            """{"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[3,1],"data_offsets":[0,12]}}""",
            Floats(1, 2, 3, -4.5f, 5.25f));

        using var content = Safetensors.Read(path);

        content.Names.Should().Equal("b", "a");
        content.Metadata.Should().Equal(new Dictionary<string, string> { ["k"] = "v" });
        content.Tensors["a"].shape.Should().Equal(3, 1);
        content.Tensors["a"].data<float>().ToArray().Should().Equal(1f, 2f, 3f);
        content.Tensors["b"].data<float>().ToArray().Should().Equal(-4.5f, 5.25f);
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float64)]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Int64)]
    [InlineData(ScalarType.Int32)]
    [InlineData(ScalarType.Int16)]
    [InlineData(ScalarType.Int8)]
    [InlineData(ScalarType.Byte)]
    [InlineData(ScalarType.Bool)]
    public void Every_supported_dtype_round_trips_bit_for_bit(ScalarType dtype)
    {
        var path = Path.Combine(temp.Path, "all.safetensors");
        using var source = (arange(-6, 6, ScalarType.Float32) * 1.5).reshape(3, 4).to(dtype);
        using var empty = zeros([0, 3], dtype);

        Safetensors.Write(path, [new("x", source), new("nothing", empty)], new Dictionary<string, string> { ["origin"] = "test" });
        var header = Safetensors.ReadHeader(path);
        using var content = Safetensors.Read(path);

        content.Tensors["x"].dtype.Should().Be(dtype);
        content.Tensors["x"].shape.Should().Equal(3, 4);
        Same(content.Tensors["x"], source).Should().BeTrue();
        content.Tensors["nothing"].shape.Should().Equal(0, 3);
        content.Metadata["origin"].Should().Be("test");
        header.Tensors.Select(t => t.DType).Should().Equal(dtype, dtype);
        // 8 + header (padded to a multiple of 8) + data: the data starts aligned.
        var dataStart = new FileInfo(path).Length - (header.Tensors[0].DataEnd - header.Tensors[0].DataBegin);
        (dataStart % 8).Should().Be(0);
    }

    [Fact]
    public void Reads_a_tensor_larger_than_one_read_slice()
    {
        var path = Path.Combine(temp.Path, "big.safetensors");
        using var source = arange(0, 1000, ScalarType.Float32).reshape(10, 100);
        Safetensors.Write(path, [new("w", source)]);

        // 64-byte slices: 16 floats per read, the last one partial (1000 = 62·16 + 8).
        using var content = Safetensors.Read(path, chunkBytes: 64);

        Same(content.Tensors["w"], source).Should().BeTrue();
    }

    [Fact]
    public void Writes_from_a_non_contiguous_tensor()
    {
        var path = Path.Combine(temp.Path, "t.safetensors");
        using var source = arange(0, 6, ScalarType.Float32).reshape(2, 3);
        using var transposed = source.t();

        Safetensors.Write(path, [new("t", transposed)]);
        using var content = Safetensors.Read(path);

        content.Tensors["t"].shape.Should().Equal(3, 2);
        content.Tensors["t"].data<float>().ToArray().Should().Equal(0f, 3f, 1f, 4f, 2f, 5f);
    }

    [Fact]
    public void Truncated_below_the_length_field_is_named()
    {
        var path = Path.Combine(temp.Path, "short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);

        ReadFails(path).Message.Should().Contain(path).And.Contain("3 bytes").And.Contain("truncated");
    }

    [Fact]
    public void Truncated_data_leaves_the_offsets_outside_the_buffer()
    {
        var path = WriteRaw("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", Floats(1, 2, 3));

        ReadFails(path).Message.Should().Contain(path).And.Contain("\"a\"").And.Contain("outside the 12-byte data buffer");
    }

    [Fact]
    public void Header_length_beyond_the_file_is_rejected_before_allocating()
    {
        var path = WriteRaw("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", Floats(1), declaredHeaderLength: ulong.MaxValue - 7);

        ReadFails(path).Message.Should().Contain(path).And.Contain("header length 18446744073709551608 exceeds");
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}""", "not well-formed JSON")]
    [InlineData("""[1, 2]""", "not an object")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", "appears twice")]
    [InlineData("""{"a":{"shape":[1],"data_offsets":[0,4]}}""", "no string \"dtype\"")]
    [InlineData("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", "not a non-negative integer")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", "not a non-negative integer")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}""", "two integers")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}""", "end before they begin")]
    [InlineData("""{"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", "not a string")]
    public void Malformed_headers_are_named(string header, string expected)
    {
        var path = WriteRaw(header, Floats(1));

        ReadFails(path).Message.Should().Contain(path).And.Contain(expected);
    }

    [Fact]
    public void Unknown_dtype_is_named_with_the_tensor()
    {
        var path = WriteRaw("""{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}""", [1, 2, 3, 4]);

        ReadFails(path).Message.Should().Contain(path).And.Contain("tensor \"w\"").And.Contain("dtype \"F8_E4M3\" is not supported");
    }

    [Fact]
    public void Offsets_beyond_the_data_buffer_are_rejected()
    {
        var path = WriteRaw("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", Floats(1));

        ReadFails(path).Message.Should().Contain("tensor \"w\"").And.Contain("outside the 4-byte data buffer");
    }

    [Fact]
    public void Byte_count_must_match_the_shape()
    {
        var path = WriteRaw("""{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}""", Floats(1, 2, 3));

        ReadFails(path).Message.Should().Contain("tensor \"w\"").And.Contain("hold 12 bytes, but shape [2, 2] of F32 needs 16");
    }

    [Fact]
    public void A_shape_whose_size_overflows_is_rejected()
    {
        var path = WriteRaw("""{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}""", Floats(1));

        ReadFails(path).Message.Should().Contain("tensor \"w\"").And.Contain("more than the file holds");
    }

    [Fact]
    public void Overlapping_tensors_are_rejected()
    {
        var path = WriteRaw(
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""",
            Floats(1, 2, 3));

        ReadFails(path).Message.Should().Contain("tensor \"b\"").And.Contain("overlap");
    }

    [Fact]
    public void Gaps_between_tensors_are_rejected()
    {
        var path = WriteRaw(
            """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""",
            Floats(1, 2, 3));

        ReadFails(path).Message.Should().Contain("tensor \"b\"").And.Contain("bytes 4 to 8").And.Contain("unused");
    }

    [Fact]
    public void Trailing_bytes_after_the_last_tensor_are_rejected()
    {
        var path = WriteRaw("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", Floats(1, 2));

        ReadFails(path).Message.Should().Contain("cover 4 bytes of the 8-byte data buffer");
    }

    [Fact]
    public void Bool_bytes_other_than_0_and_1_are_rejected()
    {
        var path = WriteRaw("""{"flags":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}}""", [1, 0, 7]);

        ReadFails(path).Message.Should().Contain("tensor \"flags\"").And.Contain("element 2 is byte 7");
    }

    [Fact]
    public void Missing_file_is_named()
    {
        var act = () => Safetensors.Read(Path.Combine(temp.Path, "absent.safetensors"));

        act.Should().Throw<FileNotFoundException>().WithMessage("*absent.safetensors*");
    }

    [Fact]
    public void Writing_replaces_the_file_atomically_and_rejects_repeated_names()
    {
        var path = Path.Combine(temp.Path, "nested", "w.safetensors");
        using var one = ones(2);
        Safetensors.Write(path, [new("a", one)]);
        var before = File.ReadAllBytes(path);

        var act = () => Safetensors.Write(path, [new("a", one), new("a", one)]);

        act.Should().Throw<ArgumentException>().WithMessage("*\"a\"*repeated*");
        File.ReadAllBytes(path).Should().Equal(before, "a failed write leaves the old file");
        Directory.GetFiles(Path.GetDirectoryName(path)!).Should().Equal([path], "no temporary file is left behind");
    }

    [Fact]
    public void Complex_tensors_are_not_exported()
    {
        using var complex = zeros([2], ScalarType.ComplexFloat32);

        var act = () => Safetensors.Write(Path.Combine(temp.Path, "c.safetensors"), [new("c", complex)]);

        act.Should().Throw<NotSupportedException>().WithMessage("*\"c\"*ComplexFloat32*");
    }
}
