using static TorchSharp.torch;

namespace Distillation.Serialization;

/// <summary>A validated safetensors header: the tensors' descriptions in file order, and the metadata.</summary>
/// <param name="Tensors">Each tensor's name, dtype, shape and data offsets, in the header's order.</param>
/// <param name="Metadata">The <c>__metadata__</c> strings (empty when the file has none).</param>
internal sealed record SafetensorsHeader(IReadOnlyList<SafetensorsTensorInfo> Tensors, IReadOnlyDictionary<string, string> Metadata);

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">The tensor's name (for a state dict, the parameter or buffer path).</param>
/// <param name="DTypeName">The dtype as the file names it (<c>F32</c>, <c>BF16</c>, …).</param>
/// <param name="DType">The matching torch type.</param>
/// <param name="Shape">The shape.</param>
/// <param name="DataBegin">The first byte, relative to the start of the data buffer.</param>
/// <param name="DataEnd">One past the last byte, relative to the start of the data buffer.</param>
internal sealed record SafetensorsTensorInfo(string Name, string DTypeName, ScalarType DType, IReadOnlyList<long> Shape, long DataBegin, long DataEnd);
