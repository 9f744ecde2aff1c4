namespace Distillation.Onnx.Quantization;

/// <summary>
/// The keys <see cref="OnnxQuantizer"/> adds to the model's <c>metadata_props</c>; every key of the
/// source file (<see cref="OnnxMetadataKeys"/>: class names, normalization, input shape) is kept.
/// </summary>
public static class QuantizationMetadataKeys
{
    /// <summary>The format, in words: <c>QDQ int8: weights int8 symmetric per output channel, activations uint8 asymmetric per tensor, biases int32</c>.</summary>
    public const string Format = "distillation.quantization.format";

    /// <summary>The calibration method (<c>min-max</c>, <c>percentile 99.999 (4096-bin histogram)</c>, or <c>entropy (KL divergence, 4096-bin histogram, 255 steps)</c>).</summary>
    public const string CalibrationMethod = "distillation.quantization.calibration_method";

    /// <summary>The number of calibration images, invariant culture.</summary>
    public const string CalibrationImages = "distillation.quantization.calibration_images";

    /// <summary>The nodes left in float, as a JSON array of <c>"name (OpType)"</c>.</summary>
    public const string FloatNodes = "distillation.quantization.float_nodes";

    /// <summary>The producing library's name and version (<c>Distillation.Onnx.Quantization 0.1.0</c>).</summary>
    public const string Quantizer = "distillation.quantization.quantizer";
}
