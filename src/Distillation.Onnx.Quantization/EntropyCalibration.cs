namespace Distillation.Onnx.Quantization;

/// <summary>The window of histogram bins the entropy method keeps, and the divergence of every candidate it weighed.</summary>
/// <param name="Start">The first kept bin.</param>
/// <param name="End">One past the last kept bin.</param>
/// <param name="Divergences">KL(P‖Q) of each candidate window, the narrowest first (infinite where it is undefined).</param>
internal sealed record EntropyWindow(int Start, int End, double[] Divergences);

/// <summary>
/// Entropy (KL-divergence) calibration, the method of TensorRT's and ONNX Runtime's calibrators: of
/// the windows of a tensor's histogram that keep at least as many bins as there are 8-bit steps, choose
/// the one whose 8-bit version loses the least information. For each candidate window:
/// <list type="bullet">
/// <item>P, the reference: the window's counts, with everything outside added to its first and last bin
/// (values beyond the range saturate there).</item>
/// <item>Q, the candidate: the window's counts (without the outliers) merged into
/// <c>quantizedBins</c> groups as equal as whole bins allow, each group's count then spread evenly
/// over the bins of the group where P is not zero.</item>
/// <item>Both smoothed (ε = 0.0001 moved onto their empty bins, so the logarithm is defined), normalized,
/// and compared by KL(P‖Q) = Σ P log(P / Q).</item>
/// </list>
/// The windows grow around the bin holding zero, keeping its place in the window, so that the range
/// they give keeps the asymmetric zero point the full range has. Where ONNX Runtime's Python
/// calibrator divides Q's counts in integers, spreads them over empty bins too and adds the remainder
/// bins to the last group, this keeps them exact, puts nothing where P is empty (as TensorRT and MXNet
/// do; P and Q then hold the same count) and spreads the remainder over all groups.
/// </summary>
internal static class EntropyCalibration
{
    private const double Epsilon = 1e-4;

    /// <summary>The window of <paramref name="histogram"/> with the least KL divergence.</summary>
    /// <param name="histogram">Counts in equal bins over a range that holds zero.</param>
    /// <param name="zeroPosition">Where zero lies, in bins from the histogram's start (0 when every value is at least 0).</param>
    /// <param name="quantizedBins">The 8-bit steps a window is quantized into (255 for 8 bits); at most the histogram's bins.</param>
    /// <returns>The chosen window; the first of equal divergences, so the narrowest.</returns>
    public static EntropyWindow Choose(long[] histogram, double zeroPosition, int quantizedBins)
    {
        var bins = histogram.Length;
        if (quantizedBins < 1 || quantizedBins > bins)
        {
            throw new ArgumentOutOfRangeException(nameof(quantizedBins), quantizedBins, $"The entropy method needs between 1 and {bins} quantized bins, was {quantizedBins}.");
        }

        if (!(zeroPosition >= 0 && zeroPosition <= bins))
        {
            throw new ArgumentOutOfRangeException(nameof(zeroPosition), zeroPosition, $"Zero must lie in the histogram's {bins} bins, was at {zeroPosition}.");
        }

        // Prefix sums: the counts left and right of a window in constant time.
        var before = new long[bins + 1];
        for (var i = 0; i < bins; i++)
        {
            before[i + 1] = before[i] + histogram[i];
        }

        var divergences = new double[bins - quantizedBins + 1];
        var best = 0;
        var bestStart = 0;
        var p = new double[bins];
        var q = new double[bins];
        for (var width = quantizedBins; width <= bins; width++)
        {
            // Zero keeps its fraction of the window: the window is [zero − z·w/B, zero + (B − z)·w/B] in bins.
            var start = Math.Clamp((int)Math.Round(zeroPosition * (bins - width) / bins, MidpointRounding.ToEven), 0, bins - width);
            var divergence = Divergence(histogram, before, start, width, quantizedBins, p, q);
            var candidate = width - quantizedBins;
            divergences[candidate] = divergence;
            if (candidate == 0 || divergence < divergences[best])
            {
                best = candidate;
                bestStart = start;
            }
        }

        return new EntropyWindow(bestStart, bestStart + best + quantizedBins, divergences);
    }

    private static double Divergence(long[] histogram, long[] before, int start, int width, int quantizedBins, double[] p, double[] q)
    {
        for (var i = 0; i < width; i++)
        {
            p[i] = histogram[start + i];
        }

        p[0] += before[start];
        p[width - 1] += before[histogram.Length] - before[start + width];

        for (var group = 0; group < quantizedBins; group++)
        {
            // Groups as even as whole bins allow (bins ⌊j·w/n⌋ to ⌊(j+1)·w/n⌋): the remainder spread over
            // the groups, not all added to the last (which made widths that are multiples of n look best).
            var from = (int)((long)group * width / quantizedBins);
            var to = (int)((long)(group + 1) * width / quantizedBins);
            double count = before[start + to] - before[start + from];
            var occupied = 0;
            for (var i = from; i < to; i++)
            {
                occupied += p[i] != 0 ? 1 : 0;
            }

            for (var i = from; i < to; i++)
            {
                q[i] = p[i] != 0 ? count / occupied : 0;
            }
        }

        return Smooth(p, width) && Smooth(q, width) ? KullbackLeibler(p, q, width) : double.PositiveInfinity;
    }

    /// <summary>Moves ε onto every empty bin, taken evenly from the others; false when every bin is empty or a bin would go below zero.</summary>
    private static bool Smooth(double[] counts, int length)
    {
        var empty = 0;
        var smallest = double.PositiveInfinity;
        for (var i = 0; i < length; i++)
        {
            empty += counts[i] == 0 ? 1 : 0;
            smallest = counts[i] != 0 ? Math.Min(smallest, counts[i]) : smallest;
        }

        var taken = empty == length ? 0 : Epsilon * empty / (length - empty);
        if (empty == length || taken >= smallest)
        {
            return false;
        }

        for (var i = 0; i < length; i++)
        {
            counts[i] += counts[i] == 0 ? Epsilon : -taken;
        }

        return true;
    }

    private static double KullbackLeibler(double[] p, double[] q, int length)
    {
        double pTotal = 0, qTotal = 0;
        for (var i = 0; i < length; i++)
        {
            pTotal += p[i];
            qTotal += q[i];
        }

        double sum = 0;
        for (var i = 0; i < length; i++)
        {
            var pi = p[i] / pTotal;
            if (pi > 0)
            {
                sum += pi * Math.Log(pi / (q[i] / qTotal));
            }
        }

        return sum;
    }
}
