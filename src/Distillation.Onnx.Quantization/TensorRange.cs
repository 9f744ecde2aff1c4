namespace Distillation.Onnx.Quantization;

/// <summary>
/// The values one tensor took over the calibration batches: the running minimum and maximum (first
/// pass), then, for the percentile and entropy methods, a histogram (second pass) over [minimum,
/// maximum], widened to hold zero for the entropy method.
/// </summary>
internal sealed class TensorRange
{
    private long[]? histogram;
    private double histogramLow;
    private double histogramHigh;

    public TensorRange(string name) => Name = name;

    public string Name { get; }

    public float Min { get; private set; } = float.PositiveInfinity;

    public float Max { get; private set; } = float.NegativeInfinity;

    public long Count { get; private set; }

    /// <summary>First pass: widens the range to hold <paramref name="values"/>.</summary>
    public void AddToRange(ReadOnlySpan<float> values)
    {
        var min = Min;
        var max = Max;
        foreach (var value in values)
        {
            if (!float.IsFinite(value))
            {
                throw new InvalidDataException($"The tensor '{Name}' took a non-finite value ({value}) on the calibration images; the fp32 model itself overflows on them.");
            }

            min = Math.Min(min, value);
            max = Math.Max(max, value);
        }

        Min = min;
        Max = max;
        Count += values.Length;
    }

    /// <summary>
    /// Second pass: counts <paramref name="values"/> into <paramref name="bins"/> equal bins over
    /// [<see cref="Min"/>, <see cref="Max"/>], or over [min(<see cref="Min"/>, 0), max(<see cref="Max"/>, 0)]
    /// without the exact zeros when <paramref name="holdZero"/> (fixed by the first call).
    /// </summary>
    public void AddToHistogram(ReadOnlySpan<float> values, int bins, bool holdZero = false)
    {
        if (histogram is null)
        {
            histogram = new long[bins];
            histogramLow = holdZero ? Math.Min(Min, 0.0) : Min;
            histogramHigh = holdZero ? Math.Max(Max, 0.0) : Max;
        }

        var width = histogramHigh - histogramLow;
        if (width <= 0)
        {
            histogram[0] += values.Length;
            return;
        }

        foreach (var value in values)
        {
            // For the entropy method, exact zeros (a ReLU's many) are left out: every range represents
            // zero exactly (the zero point), and counted in they would be a spike that the merged bins
            // smear, which pushes the method towards narrow ranges.
            if (holdZero && value == 0)
            {
                continue;
            }

            var bin = (int)((value - histogramLow) / width * bins);
            histogram[Math.Clamp(bin, 0, bins - 1)]++;
        }
    }

    /// <summary>
    /// The calibrated range: [min, max] for min-max; for a percentile p, the upper edge of the bin where
    /// the cumulative count reaches p % and the lower edge of the bin where it passes (100 − p) %; for
    /// entropy, the edges of the window <see cref="EntropyCalibration"/> chooses with
    /// <paramref name="quantizedBins"/> steps, within [min, max].
    /// </summary>
    public (float Min, float Max) Calibrated(CalibrationMethod method, double percentile, int quantizedBins = QuantizationOptions.EntropySteps)
    {
        if (Count == 0)
        {
            throw new InvalidOperationException($"The tensor '{Name}' saw no calibration values.");
        }

        if (method == CalibrationMethod.MinMax || histogram is null || Max <= Min)
        {
            return (Min, Max);
        }

        var bins = histogram.Length;
        var width = (histogramHigh - histogramLow) / bins;
        if (method == CalibrationMethod.Entropy)
        {
            var window = EntropyCalibration.Choose(histogram, -histogramLow / width, Math.Min(quantizedBins, bins));
            var from = (float)(histogramLow + (window.Start * width));
            var to = (float)(histogramLow + (window.End * width));
            return (Math.Max(from, Min), Math.Min(to, Max));
        }

        long total = histogram.Sum();

        // Ranks as whole counts (with a little slack for p / 100 not being exact in binary): keep the
        // upperRank smallest values below the upper bound, and clip the lowerRank smallest below the lower.
        var upperRank = (long)Math.Ceiling((percentile / 100 * total) - 1e-6);
        var lowerRank = (long)Math.Floor(((1 - (percentile / 100)) * total) + 1e-6);
        long cumulative = 0;
        var lowerBin = 0;
        for (var i = 0; i < bins; i++)
        {
            cumulative += histogram[i];
            if (cumulative > lowerRank)
            {
                lowerBin = i;
                break;
            }
        }

        cumulative = 0;
        var upperBin = bins - 1;
        for (var i = 0; i < bins; i++)
        {
            cumulative += histogram[i];
            if (cumulative >= upperRank)
            {
                upperBin = i;
                break;
            }
        }

        var low = (float)(histogramLow + (lowerBin * width));
        var high = (float)(histogramLow + ((upperBin + 1) * width));
        return (Math.Max(low, Min), Math.Min(high, Max));
    }
}
