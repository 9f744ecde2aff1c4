using System.Globalization;

namespace Distillation.Onnx.Quantization;

/// <summary>How the range of an activation tensor is chosen from the values it took on the calibration images.</summary>
public enum CalibrationMethod
{
    /// <summary>The smallest and largest value seen: nothing is clipped, but one outlier widens every step.</summary>
    MinMax,

    /// <summary>
    /// The values at <see cref="QuantizationOptions.Percentile"/> and 100 − that percentile of a histogram
    /// of each tensor's values: the rarest outliers are clipped so the common values get finer steps.
    /// </summary>
    Percentile,

    /// <summary>
    /// Entropy (KL divergence), as TensorRT and ONNX Runtime's Python quantizer: of the ranges around zero
    /// that a <see cref="QuantizationOptions.HistogramBins"/>-bin histogram of each tensor allows, the one
    /// whose 8-bit version (255 steps) keeps the distribution of values closest to the original, outliers
    /// saturated at its ends. Clips more than a high percentile where a long tail holds few values.
    /// </summary>
    Entropy,
}

/// <summary>The 8-bit type of the quantized activations (the weights are always int8).</summary>
public enum ActivationType
{
    /// <summary>Unsigned 8-bit (uint8) with a zero point: ONNX Runtime's U8S8 integer kernels (uint8 activations, int8 weights).</summary>
    U8,

    /// <summary>Signed 8-bit (int8) with a zero point: ONNX Runtime's S8S8 integer kernels.</summary>
    S8,
}

/// <summary>Settings of <see cref="OnnxQuantizer"/>. The defaults suit an image classifier exported by <see cref="OnnxExporter"/>.</summary>
public sealed class QuantizationOptions
{
    /// <summary>How activation ranges are chosen. Default: <see cref="CalibrationMethod.MinMax"/>.</summary>
    public CalibrationMethod Method { get; set; } = CalibrationMethod.MinMax;

    /// <summary>With <see cref="CalibrationMethod.Percentile"/>: the percentile kept, in (50, 100]. Default: 99.999.</summary>
    public double Percentile { get; set; } = 99.999;

    /// <summary>
    /// Bins of the histogram the percentile or the entropy range is read from, in [128, 1 048 576]
    /// (at least 512 for <see cref="CalibrationMethod.Entropy"/>: twice its 255 steps, so it has ranges to
    /// choose from; its cost grows with the square of the bins). Default: 4096.
    /// </summary>
    public int HistogramBins { get; set; } = 4096;

    /// <summary>The type of the quantized activations. Default: <see cref="ActivationType.U8"/>.</summary>
    public ActivationType Activations { get; set; } = ActivationType.U8;

    /// <summary>
    /// With an <see cref="Data.IBatchSource"/>: the calibration images read from its start, in its
    /// stored order (pass a sample of the training set). Default: 1000.
    /// </summary>
    public int CalibrationImages { get; set; } = 1000;

    /// <summary>With an <see cref="Data.IBatchSource"/>: images per calibration batch. Default: 100.</summary>
    public int CalibrationBatchSize { get; set; } = 100;

    /// <summary>
    /// An ungrouped Conv with fewer input channels than this stays float, for a model whose first
    /// layer should keep full precision. Not faster in ONNX Runtime 1.31 on the notebook student: its
    /// int8 RGB stem is slower than the fp32 one (1.8 against 0.6 ms at batch 64), but a float stem
    /// makes ONNX Runtime move the quantization before the following MaxPool, which then runs as a
    /// slow uint8 NCHW pool (3.5 ms). Default: 0 (every Conv is quantized).
    /// </summary>
    public int MinConvInputChannels { get; set; }

    /// <summary>Node names to leave in float; the report lists them. Default: none.</summary>
    public ISet<string> ExcludedNodes { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>ONNX Runtime's threads for the calibration runs; 0 for its default (one per physical core). Default: 0.</summary>
    public int Threads { get; set; }

    /// <summary>Checks every setting; called before anything is read or written.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it.</exception>
    public void Validate()
    {
        if (!Enum.IsDefined(Method))
        {
            throw new ArgumentOutOfRangeException(nameof(Method), Method, $"QuantizationOptions.Method must be MinMax, Percentile or Entropy, was {(int)Method}.");
        }

        if (!Enum.IsDefined(Activations))
        {
            throw new ArgumentOutOfRangeException(nameof(Activations), Activations, $"QuantizationOptions.Activations must be U8 or S8, was {(int)Activations}.");
        }

        if (!(Percentile > 50 && Percentile <= 100))
        {
            throw new ArgumentOutOfRangeException(nameof(Percentile), Percentile, $"QuantizationOptions.Percentile must be in (50, 100], was {Percentile.ToString(CultureInfo.InvariantCulture)}.");
        }

        if (HistogramBins is < 128 or > 1 << 20)
        {
            throw new ArgumentOutOfRangeException(nameof(HistogramBins), HistogramBins, $"QuantizationOptions.HistogramBins must be in [128, 1048576], was {HistogramBins}.");
        }

        if (Method == CalibrationMethod.Entropy && HistogramBins < MinEntropyBins)
        {
            throw new ArgumentOutOfRangeException(nameof(HistogramBins), HistogramBins, $"QuantizationOptions.HistogramBins must be at least {MinEntropyBins} with the entropy method, was {HistogramBins}.");
        }

        if (CalibrationImages < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(CalibrationImages), CalibrationImages, $"QuantizationOptions.CalibrationImages must be at least 1, was {CalibrationImages}.");
        }

        if (CalibrationBatchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(CalibrationBatchSize), CalibrationBatchSize, $"QuantizationOptions.CalibrationBatchSize must be at least 1, was {CalibrationBatchSize}.");
        }

        if (MinConvInputChannels < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MinConvInputChannels), MinConvInputChannels, $"QuantizationOptions.MinConvInputChannels must be 0 or more, was {MinConvInputChannels}.");
        }

        if (Threads < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Threads), Threads, $"QuantizationOptions.Threads must be 0 (ONNX Runtime's default) or more, was {Threads}.");
        }

        if (ExcludedNodes.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentOutOfRangeException(nameof(ExcludedNodes), "QuantizationOptions.ExcludedNodes holds an empty node name.");
        }
    }

    /// <summary>The 8-bit steps the entropy method quantizes a candidate range into: 2⁸ − 1.</summary>
    internal const int EntropySteps = 255;

    private const int MinEntropyBins = 2 * (EntropySteps + 1);

    /// <summary>The method in words, as the metadata and the report give it.</summary>
    internal string DescribeMethod() => Method switch
    {
        CalibrationMethod.Percentile => string.Create(CultureInfo.InvariantCulture, $"percentile {Percentile} ({HistogramBins}-bin histogram)"),
        CalibrationMethod.Entropy => string.Create(CultureInfo.InvariantCulture, $"entropy (KL divergence, {HistogramBins}-bin histogram, {EntropySteps} steps)"),
        _ => "min-max",
    };
}
