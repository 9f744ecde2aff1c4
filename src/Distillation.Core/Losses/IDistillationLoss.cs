namespace Distillation.Losses;

/// <summary>
/// A training objective over one <see cref="DistillationContext"/>: plain cross-entropy, the
/// KL-temperature distillation loss, or any user-defined combination.
/// </summary>
public interface IDistillationLoss
{
    /// <summary>A short name for logs and reports.</summary>
    string Name { get; }

    /// <summary>Whether the loss reads the teacher's logits, so the trainer must run the teacher.</summary>
    bool NeedsTeacher { get; }

    /// <summary>Computes the loss for one batch.</summary>
    /// <param name="context">The batch's outputs and labels.</param>
    /// <returns>The scalar total and its named parts; the tensors join the caller's dispose scope.</returns>
    LossResult Compute(DistillationContext context);
}
