using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>Plain cross-entropy against the hard labels, batch mean: training without a teacher.</summary>
public sealed class CrossEntropyLoss : IDistillationLoss
{
    /// <summary>The name of the cross-entropy part in reports.</summary>
    public const string PartName = "ce";

    /// <inheritdoc />
    public string Name => "cross-entropy";

    /// <inheritdoc />
    public bool NeedsTeacher => false;

    /// <inheritdoc />
    public LossResult Compute(DistillationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        LogitChecks.RequireLogits(context.StudentLogits, nameof(context.StudentLogits));
        LogitChecks.RequireLabels(context.Labels, context.StudentLogits);
        var ce = nn.functional.cross_entropy(context.StudentLogits, context.Labels);
        return new LossResult(ce, [new LossPart(PartName, ce.detach(), 1.0)]);
    }
}
