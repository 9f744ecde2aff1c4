namespace Distillation.Benchmarks;

/// <summary>Median and spread of repeated measurements.</summary>
internal sealed record Stats(double Median, double Min, double Max, int Count)
{
    /// <summary>Wall-clock seconds of one run of <paramref name="run"/>.</summary>
    public static double Seconds(Action run)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        run();
        return clock.Elapsed.TotalSeconds;
    }

    public static Stats? Of(IReadOnlyCollection<double> samples)
    {
        if (samples.Count == 0)
        {
            return null;
        }

        var sorted = samples.Order().ToArray();
        var mid = sorted.Length / 2;
        var median = sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
        return new Stats(median, sorted[0], sorted[^1], sorted.Length);
    }
}
