using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// Cross-entropy of the student's logits against the hard labels, batch mean (PyTorch's
/// <c>F.cross_entropy</c>): training without a teacher, and the label term of a
/// <see cref="DistillationObjective"/>. Reported as <c>ce</c>.
/// </summary>
public sealed class LabelCrossEntropyLoss : IDistillationLoss
{
    /// <summary>The name of the cross-entropy part in reports.</summary>
    public const string PartName = "ce";

    /// <inheritdoc />
    public string Name => PartName;

    /// <inheritdoc />
    public bool NeedsTeacher => false;

    /// <inheritdoc />
    public LossResult Compute(DistillationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return LossResult.Single(PartName, Of(context.StudentLogits, context.Labels));
    }

    /// <summary>The batch-mean cross-entropy, after shape and type checks that need no host synchronisation.</summary>
    internal static Tensor Of(Tensor logits, Tensor labels)
    {
        LogitChecks.RequireLogits(logits, "studentLogits");
        LogitChecks.RequireLabels(labels, logits);
        try
        {
            return nn.functional.cross_entropy(logits, labels);
        }
        catch (ExternalException e)
        {
            // libtorch checks the range itself; its message carries C++ frames, so keep only the first line.
            throw new ArgumentException(
                $"labels must lie in [0, {logits.shape[1]}) for {logits.shape[1]} classes: {e.Message.Split('\n')[0].Trim()}", nameof(labels), e);
        }
    }
}
