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

    /// <summary>Creates the loss.</summary>
    /// <param name="labelSmoothing">The mass spread uniformly over the classes in the target, in [0, 1) (PyTorch's <c>label_smoothing</c>). Default: 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="labelSmoothing"/> is outside [0, 1).</exception>
    public LabelCrossEntropyLoss(double labelSmoothing = 0)
    {
        OptionChecks.FractionIn(labelSmoothing, nameof(labelSmoothing), 0, 1);
        LabelSmoothing = labelSmoothing;
    }

    /// <summary>The label smoothing, in [0, 1).</summary>
    public double LabelSmoothing { get; }

    /// <inheritdoc />
    public string Name => PartName;

    /// <inheritdoc />
    public string Description => LabelSmoothing == 0 ? PartName : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{PartName}(label smoothing {LabelSmoothing})");

    /// <inheritdoc />
    public bool NeedsTeacher => false;

    /// <inheritdoc />
    public LossResult Compute(DistillationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.PartnerLabels is not { } partners)
        {
            return LossResult.Single(PartName, Of(context.StudentLogits, context.Labels, LabelSmoothing));
        }

        // A mixed image's target is λ of its own label and 1 − λ of its partner's; cross-entropy is linear in the target.
        var own = Of(context.StudentLogits, context.Labels, LabelSmoothing);
        var partner = Of(context.StudentLogits, partners, LabelSmoothing);
        return LossResult.Single(PartName, own.mul(context.MixWeight).add_(partner, alpha: 1 - context.MixWeight));
    }

    /// <summary>The batch-mean cross-entropy, after shape and type checks that need no host synchronisation.</summary>
    internal static Tensor Of(Tensor logits, Tensor labels, double labelSmoothing = 0)
    {
        LogitChecks.RequireLogits(logits, "studentLogits");
        LogitChecks.RequireLabels(labels, logits);
        try
        {
            return labelSmoothing == 0 ? nn.functional.cross_entropy(logits, labels) : nn.functional.cross_entropy(logits, labels, label_smoothing: labelSmoothing);
        }
        catch (ExternalException e)
        {
            // libtorch checks the range itself; its message carries C++ frames, so keep only the first line.
            throw new ArgumentException(
                $"labels must lie in [0, {logits.shape[1]}) for {logits.shape[1]} classes: {e.Message.Split('\n')[0].Trim()}", nameof(labels), e);
        }
    }
}
