namespace Distillation.Onnx;

/// <summary>
/// The keys <see cref="OnnxExporter"/> writes in the file's <c>metadata_props</c> (ONNX Runtime:
/// <c>ModelMetadata.CustomMetadataMap</c>). Lists are JSON arrays; numbers use the invariant culture.
/// </summary>
public static class OnnxMetadataKeys
{
    /// <summary>The class names, in output order, as a JSON array of strings (<c>["airplane","automobile",…]</c>). Written when <see cref="OnnxExportOptions.ClassNames"/> is set.</summary>
    public const string ClassNames = "distillation.class_names";

    /// <summary>The per-channel mean of the input normalization, in [0, 1] units, as a JSON array (<c>[0.485,0.456,0.406]</c>). Written when <see cref="OnnxExportOptions.Normalization"/> is set.</summary>
    public const string NormalizationMean = "distillation.normalization.mean";

    /// <summary>The per-channel standard deviation of the input normalization, in [0, 1] units, as a JSON array. Written with <see cref="NormalizationMean"/>.</summary>
    public const string NormalizationStd = "distillation.normalization.std";

    /// <summary>
    /// How a pixel becomes an input value, in words: <c>(byte / 255 - mean[c]) / std[c]</c>, channels
    /// first. Written with <see cref="NormalizationMean"/>.
    /// </summary>
    public const string NormalizationFormula = "distillation.normalization.formula";

    /// <summary>The input's shape without the batch dimension, as a JSON array (<c>[3,32,32]</c> for C, H, W). Always written.</summary>
    public const string InputShape = "distillation.input_shape";

    /// <summary>The producing library's name (<c>Distillation.Onnx</c>), also in the model's <c>producer_name</c>. Always written.</summary>
    public const string ProducerName = "distillation.producer_name";

    /// <summary>The producing library's version, also in the model's <c>producer_version</c>. Always written.</summary>
    public const string ProducerVersion = "distillation.producer_version";

    /// <summary>Every key above: the prefix <c>distillation.</c> is reserved, so user metadata cannot shadow them.</summary>
    internal const string ReservedPrefix = "distillation.";
}
