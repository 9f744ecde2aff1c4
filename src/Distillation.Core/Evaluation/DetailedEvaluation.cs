using System.Text.Json.Serialization;

namespace Distillation.Evaluation;

/// <summary>
/// How a classifier did on a labelled dataset, class by class: top-1 and top-5 accuracy, recall per
/// class and the confusion matrix. Everything is derived from the confusion matrix and the top-5
/// count, so the numbers cannot disagree.
/// </summary>
public sealed class DetailedEvaluation
{
    /// <summary>Creates an evaluation from its counts.</summary>
    /// <param name="classNames">The class names, indexed by label; as many as the matrix has classes.</param>
    /// <param name="confusion">Images by true and predicted class.</param>
    /// <param name="top5Correct">Images whose label is among the <paramref name="topK"/> highest logits (or is the top-1 prediction).</param>
    /// <param name="topK">The k of the top-5 accuracy: 5, or the number of classes when fewer.</param>
    /// <param name="elapsed">Wall time of the evaluation.</param>
    /// <exception cref="ArgumentException">The counts are inconsistent.</exception>
    [JsonConstructor]
    public DetailedEvaluation(IReadOnlyList<string> classNames, ConfusionMatrix confusion, long top5Correct, int topK, TimeSpan elapsed)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        ArgumentNullException.ThrowIfNull(confusion);
        if (classNames.Count != confusion.ClassCount)
        {
            throw new ArgumentException($"{classNames.Count} class names for a confusion matrix of {confusion.ClassCount} classes.", nameof(classNames));
        }

        if (topK != Math.Min(5, confusion.ClassCount))
        {
            throw new ArgumentOutOfRangeException(nameof(topK), topK, $"With {confusion.ClassCount} classes k is {Math.Min(5, confusion.ClassCount)}.");
        }

        var top1 = confusion.Correct;
        var total = confusion.Total;
        if (top5Correct < top1 || top5Correct > total)
        {
            throw new ArgumentOutOfRangeException(nameof(top5Correct), top5Correct, $"The top-5 count lies between the top-1 count ({top1}) and the total ({total}).");
        }

        ClassNames = classNames.ToArray();
        Confusion = confusion;
        Top5Correct = top5Correct;
        TopK = topK;
        Elapsed = elapsed;
        Total = total;
        Top1Correct = top1;
        PerClass = Enumerable.Range(0, confusion.ClassCount)
            .Select(c => new ClassAccuracy(c, ClassNames[c], confusion.RowTotal(c), confusion[c, c]))
            .ToArray();
    }

    /// <summary>Images evaluated.</summary>
    public long Total { get; }

    /// <summary>Images whose arg-max prediction equals the label.</summary>
    public long Top1Correct { get; }

    /// <summary>Top-1 accuracy in [0, 1]; NaN when no image was evaluated.</summary>
    public double Top1Accuracy => Ratio(Top1Correct, Total);

    /// <summary>
    /// Images whose label is among the <see cref="TopK"/> highest logits. An image right at top-1 always
    /// counts, even when ties among the logits would have left its label out of the top k.
    /// </summary>
    public long Top5Correct { get; }

    /// <summary>Top-5 accuracy in [0, 1], never below <see cref="Top1Accuracy"/>; NaN when no image was evaluated.</summary>
    public double Top5Accuracy => Ratio(Top5Correct, Total);

    /// <summary>The k of the top-5 accuracy: 5, or the number of classes when there are fewer (then every image counts).</summary>
    public int TopK { get; }

    /// <summary>The class names, indexed by label.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Accuracy (recall) of each class, indexed by label; NaN for a class with no image.</summary>
    public IReadOnlyList<ClassAccuracy> PerClass { get; }

    /// <summary>Images by true class (row) and predicted class (column).</summary>
    public ConfusionMatrix Confusion { get; }

    /// <summary>Wall time of the evaluation, data preparation included.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>The top-1 summary, as <see cref="Evaluator.Evaluate"/> returns it.</summary>
    /// <returns>Correct and total counts, and timing.</returns>
    public EvaluationResult ToEvaluationResult() => new(Top1Correct, Total, Elapsed);

    private static double Ratio(long part, long whole) => whole == 0 ? double.NaN : (double)part / whole;

    /// <summary>How one class did: the share of its images predicted as it (its recall).</summary>
    /// <param name="Index">The label.</param>
    /// <param name="Name">The class name.</param>
    /// <param name="Images">Images of the class in the dataset.</param>
    /// <param name="Correct">Of those, how many were predicted as the class.</param>
    public sealed record ClassAccuracy(int Index, string Name, long Images, long Correct)
    {
        /// <summary>Correct / Images, in [0, 1]; NaN when the dataset holds no image of the class.</summary>
        public double Accuracy => Images == 0 ? double.NaN : (double)Correct / Images;
    }
}
