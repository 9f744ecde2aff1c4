using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace Distillation.Onnx.Quantization;

/// <summary>Reads and writes ONNX initializers (little-endian raw data, as every platform .NET runs on).</summary>
internal static class TensorProtos
{
    public const int Float = (int)TensorProto.Types.DataType.Float;
    public const int UInt8 = (int)TensorProto.Types.DataType.Uint8;
    public const int Int8 = (int)TensorProto.Types.DataType.Int8;
    public const int Int32 = (int)TensorProto.Types.DataType.Int32;
    public const int Int64 = (int)TensorProto.Types.DataType.Int64;

    public static bool IsFloat(TensorProto tensor) => tensor.DataType == Float && tensor.DataLocation != TensorProto.Types.DataLocation.External;

    public static float[] ReadFloats(TensorProto tensor)
    {
        if (!IsFloat(tensor))
        {
            throw new InvalidDataException($"The initializer '{tensor.Name}' is not an embedded float tensor.");
        }

        return tensor.RawData.Length > 0
            ? MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray()
            : [.. tensor.FloatData];
    }

    public static long[] ReadInt64s(TensorProto tensor) => tensor.RawData.Length > 0
        ? MemoryMarshal.Cast<byte, long>(tensor.RawData.Span).ToArray()
        : [.. tensor.Int64Data];

    public static TensorProto Floats(string name, float[] values, long[] shape) =>
        Make(name, Float, MemoryMarshal.AsBytes(values.AsSpan()), shape);

    public static TensorProto Int8s(string name, sbyte[] values, long[] shape) =>
        Make(name, Int8, MemoryMarshal.AsBytes(values.AsSpan()), shape);

    public static TensorProto Int32s(string name, int[] values, long[] shape) =>
        Make(name, Int32, MemoryMarshal.AsBytes(values.AsSpan()), shape);

    /// <summary>A scalar zero point of the activation type.</summary>
    public static TensorProto ZeroPoint(string name, ActivationType type, int zeroPoint) => type == ActivationType.U8
        ? Make(name, UInt8, [(byte)zeroPoint], [])
        : Make(name, Int8, [unchecked((byte)(sbyte)zeroPoint)], []);

    private static TensorProto Make(string name, int dataType, ReadOnlySpan<byte> bytes, long[] shape)
    {
        var proto = new TensorProto { Name = name, DataType = dataType, RawData = ByteString.CopyFrom(bytes) };
        proto.Dims.AddRange(shape);
        return proto;
    }
}
