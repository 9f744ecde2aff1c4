namespace Distillation.Onnx.Quantization;

/// <summary>A node of the quantized model and what became of it.</summary>
/// <param name="Name">The node's name in the source model.</param>
/// <param name="OpType">Its ONNX operator.</param>
/// <param name="Note">For a node left in float, why; for a quantized or carried node, how.</param>
public sealed record QuantizedNodeInfo(string Name, string OpType, string Note);

/// <summary>What <see cref="OnnxQuantizer"/> did: which nodes run in 8-bit, which stay in float and why, and how it calibrated.</summary>
public sealed class QuantizationReport
{
    internal QuantizationReport(
        string outputPath,
        long sourceBytes,
        long quantizedBytes,
        int calibrationImages,
        int calibrationBatches,
        string method,
        ActivationType activations,
        IReadOnlyList<QuantizedNodeInfo> quantizedNodes,
        IReadOnlyList<QuantizedNodeInfo> carriedNodes,
        IReadOnlyList<QuantizedNodeInfo> floatNodes,
        IReadOnlyList<QuantizedNodeInfo> foldedNodes)
    {
        OutputPath = outputPath;
        SourceBytes = sourceBytes;
        QuantizedBytes = quantizedBytes;
        CalibrationImages = calibrationImages;
        CalibrationBatches = calibrationBatches;
        Method = method;
        Activations = activations;
        QuantizedNodes = quantizedNodes;
        CarriedNodes = carriedNodes;
        FloatNodes = floatNodes;
        FoldedNodes = foldedNodes;
    }

    /// <summary>The quantized file's full path.</summary>
    public string OutputPath { get; }

    /// <summary>The size of the fp32 file, in bytes.</summary>
    public long SourceBytes { get; }

    /// <summary>The size of the quantized file, in bytes.</summary>
    public long QuantizedBytes { get; }

    /// <summary>Images the ranges were calibrated on.</summary>
    public int CalibrationImages { get; }

    /// <summary>Batches those images came in.</summary>
    public int CalibrationBatches { get; }

    /// <summary>The calibration method in words (<c>min-max</c>, <c>percentile 99.999 (4096-bin histogram)</c>, <c>entropy (KL divergence, 4096-bin histogram, 255 steps)</c>).</summary>
    public string Method { get; }

    /// <summary>The type of the quantized activations.</summary>
    public ActivationType Activations { get; }

    /// <summary>Conv, Gemm, MatMul, Add and average-pool nodes whose inputs (and weights, biases) are quantized.</summary>
    public IReadOnlyList<QuantizedNodeInfo> QuantizedNodes { get; }

    /// <summary>Nodes that run between quantized tensors on the same scale (MaxPool, Flatten, a Relu ONNX Runtime folds into the quantization).</summary>
    public IReadOnlyList<QuantizedNodeInfo> CarriedNodes { get; }

    /// <summary>Nodes that stay in float, each with the reason.</summary>
    public IReadOnlyList<QuantizedNodeInfo> FloatNodes { get; }

    /// <summary>Nodes removed before quantizing (a BatchNormalization folded into its Conv, a Transpose of a constant).</summary>
    public IReadOnlyList<QuantizedNodeInfo> FoldedNodes { get; }

    /// <summary>How many times smaller the quantized file is.</summary>
    public double SizeRatio => QuantizedBytes == 0 ? 0 : (double)SourceBytes / QuantizedBytes;
}
