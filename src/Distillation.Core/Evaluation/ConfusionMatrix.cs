using System.Text.Json;
using System.Text.Json.Serialization;

namespace Distillation.Evaluation;

/// <summary>
/// Counts of images by true class (row) and predicted class (column): <c>this[t, p]</c> images of
/// class <c>t</c> were predicted as <c>p</c>. Immutable. In JSON it is an array of rows.
/// </summary>
[JsonConverter(typeof(ConfusionMatrixJsonConverter))]
public sealed class ConfusionMatrix
{
    private readonly long[] counts;

    /// <summary>Creates a matrix from its rows.</summary>
    /// <param name="rows">One row per true class, each with one count per predicted class; square, non-negative.</param>
    /// <exception cref="ArgumentException">The rows are empty, not square, or hold a negative count.</exception>
    public ConfusionMatrix(IReadOnlyList<IReadOnlyList<long>> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var classes = rows.Count;
        if (classes == 0)
        {
            throw new ArgumentException("A confusion matrix needs at least one class.", nameof(rows));
        }

        counts = new long[classes * classes];
        for (var t = 0; t < classes; t++)
        {
            var row = rows[t] ?? throw new ArgumentException($"Row {t} is null.", nameof(rows));
            if (row.Count != classes)
            {
                throw new ArgumentException($"A confusion matrix is square; row {t} has {row.Count} counts for {classes} classes.", nameof(rows));
            }

            for (var p = 0; p < classes; p++)
            {
                if (row[p] < 0)
                {
                    throw new ArgumentException($"Counts are non-negative; [{t}, {p}] is {row[p]}.", nameof(rows));
                }

                counts[t * classes + p] = row[p];
            }
        }

        ClassCount = classes;
    }

    private ConfusionMatrix(long[] counts, int classes)
    {
        this.counts = counts;
        ClassCount = classes;
    }

    /// <summary>The number of classes (rows, and columns).</summary>
    public int ClassCount { get; }

    /// <summary>Images counted.</summary>
    public long Total => counts.Sum();

    /// <summary>Images predicted as their own class: the sum of the diagonal.</summary>
    public long Correct
    {
        get
        {
            long sum = 0;
            for (var c = 0; c < ClassCount; c++)
            {
                sum += this[c, c];
            }

            return sum;
        }
    }

    /// <summary>Images of class <paramref name="trueClass"/> predicted as <paramref name="predictedClass"/>.</summary>
    /// <param name="trueClass">The label, in [0, <see cref="ClassCount"/>).</param>
    /// <param name="predictedClass">The prediction, in [0, <see cref="ClassCount"/>).</param>
    /// <returns>The count.</returns>
    public long this[int trueClass, int predictedClass]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(trueClass);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(trueClass, ClassCount);
            ArgumentOutOfRangeException.ThrowIfNegative(predictedClass);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(predictedClass, ClassCount);
            return counts[trueClass * ClassCount + predictedClass];
        }
    }

    /// <summary>Images of class <paramref name="trueClass"/>: the sum of its row.</summary>
    /// <param name="trueClass">The label, in [0, <see cref="ClassCount"/>).</param>
    /// <returns>The count.</returns>
    public long RowTotal(int trueClass)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(trueClass);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(trueClass, ClassCount);
        long sum = 0;
        foreach (var count in counts.AsSpan(trueClass * ClassCount, ClassCount))
        {
            sum += count;
        }

        return sum;
    }

    /// <summary>A copy of the counts, one array per true class.</summary>
    /// <returns>The rows.</returns>
    public long[][] ToArray()
    {
        var rows = new long[ClassCount][];
        for (var t = 0; t < ClassCount; t++)
        {
            rows[t] = counts.AsSpan(t * ClassCount, ClassCount).ToArray();
        }

        return rows;
    }

    /// <summary>
    /// The counts divided by their row totals: <c>[t][p]</c> is the share of the images of class
    /// <c>t</c> that were predicted as <c>p</c>, so each row sums to 1 and the diagonal holds the
    /// per-class accuracy (recall). A class with no image has a row of NaN.
    /// </summary>
    /// <returns>One array of fractions in [0, 1] per true class.</returns>
    public double[][] ToRowFractions()
    {
        var rows = new double[ClassCount][];
        for (var t = 0; t < ClassCount; t++)
        {
            var total = RowTotal(t);
            rows[t] = new double[ClassCount];
            for (var p = 0; p < ClassCount; p++)
            {
                rows[t][p] = total == 0 ? double.NaN : (double)counts[t * ClassCount + p] / total;
            }
        }

        return rows;
    }

    /// <summary>
    /// The cell-by-cell sum of matrices of the same classes, e.g. the evaluations of several seeds of
    /// one model; its row fractions are then the pooled shares.
    /// </summary>
    /// <param name="matrices">At least one matrix, all with the same number of classes.</param>
    /// <returns>A new matrix holding the sums.</returns>
    /// <exception cref="ArgumentException">No matrix is given, or their class counts differ.</exception>
    public static ConfusionMatrix Sum(IEnumerable<ConfusionMatrix> matrices)
    {
        ArgumentNullException.ThrowIfNull(matrices);
        long[]? sums = null;
        var classes = 0;
        foreach (var matrix in matrices)
        {
            ArgumentNullException.ThrowIfNull(matrix, nameof(matrices));
            if (sums is null)
            {
                classes = matrix.ClassCount;
                sums = new long[classes * classes];
            }
            else if (matrix.ClassCount != classes)
            {
                throw new ArgumentException($"Only matrices of the same classes add up; got {classes} and {matrix.ClassCount} classes.", nameof(matrices));
            }

            for (var i = 0; i < sums.Length; i++)
            {
                sums[i] = checked(sums[i] + matrix.counts[i]);
            }
        }

        return sums is null
            ? throw new ArgumentException("Summing needs at least one confusion matrix.", nameof(matrices))
            : new ConfusionMatrix(sums, classes);
    }

    /// <summary>Wraps a flat row-major array of <paramref name="classes"/>² counts without copying it.</summary>
    internal static ConfusionMatrix FromFlat(long[] counts, int classes) => new(counts, classes);
}

/// <summary>Writes a <see cref="ConfusionMatrix"/> as an array of rows and reads it back.</summary>
internal sealed class ConfusionMatrixJsonConverter : JsonConverter<ConfusionMatrix>
{
    public override ConfusionMatrix? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        // Never null: a JSON null does not reach a converter that leaves HandleNull false (it reads as a null matrix).
        var rows = JsonSerializer.Deserialize<long[][]>(ref reader, options)!;
        try
        {
            return new ConfusionMatrix(rows);
        }
        catch (ArgumentException e)
        {
            throw new JsonException(e.Message, e);
        }
    }

    public override void Write(Utf8JsonWriter writer, ConfusionMatrix value, JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        for (var t = 0; t < value.ClassCount; t++)
        {
            writer.WriteStartArray();
            for (var p = 0; p < value.ClassCount; p++)
            {
                writer.WriteNumberValue(value[t, p]);
            }

            writer.WriteEndArray();
        }

        writer.WriteEndArray();
    }
}
