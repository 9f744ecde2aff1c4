namespace Distillation.Cifar10;

/// <summary>The mean and sample standard deviation of repeated measurements (e.g. one per seed).</summary>
/// <param name="Values">The measurements, in order.</param>
internal sealed record Spread(IReadOnlyList<double> Values)
{
    /// <summary>The mean; NaN when there are no values.</summary>
    public double Mean => Values.Count == 0 ? double.NaN : Values.Average();

    /// <summary>The sample standard deviation (n − 1 in the denominator); 0 for one value, NaN for none.</summary>
    public double StandardDeviation
    {
        get
        {
            if (Values.Count < 2)
            {
                return Values.Count == 1 ? 0 : double.NaN;
            }

            var mean = Mean;
            return Math.Sqrt(Values.Sum(v => (v - mean) * (v - mean)) / (Values.Count - 1));
        }
    }

    /// <summary>The spread of <paramref name="values"/>.</summary>
    /// <param name="values">The measurements.</param>
    /// <returns>Their spread.</returns>
    public static Spread Of(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return new Spread(values.ToArray());
    }

    /// <summary>The spread of the pairwise differences <c>a[i] − b[i]</c> (paired by seed).</summary>
    /// <param name="a">The first measurements.</param>
    /// <param name="b">The second measurements, as many as <paramref name="a"/>.</param>
    /// <returns>The spread of the differences.</returns>
    public static Spread OfDifferences(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Count != b.Count)
        {
            throw new ArgumentException($"Paired differences need as many values on each side; got {a.Count} and {b.Count}.", nameof(b));
        }

        return new Spread(a.Zip(b, (x, y) => x - y).ToArray());
    }
}
