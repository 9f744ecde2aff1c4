using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// A training objective, or one term of one, over a <see cref="DistillationContext"/>: cross-entropy
/// against the labels, the KL-temperature distillation term, feature terms, a weighted
/// <see cref="DistillationObjective"/> of several of them, or anything user-defined. This is the
/// library's one loss abstraction.
/// </summary>
/// <remarks>
/// A loss that learns (a FitNets regressor, say) is a TorchSharp <c>nn.Module</c> as well: the
/// trainer then moves it to the training device and optimizes its <c>parameters()</c> with the
/// student, and whoever created it disposes it.
/// </remarks>
public interface IDistillationLoss
{
    /// <summary>
    /// A short name (<c>ce</c>, <c>kd</c>, <c>dkd</c>, …): the key of the loss's value in
    /// <see cref="LossResult.Parts"/> and in epoch reports. Unique within an objective.
    /// </summary>
    string Name { get; }

    /// <summary>
    /// The name with every setting that changes the value, e.g. <c>kd(T=10)</c>. Two losses with
    /// equal descriptions compute the same values; checkpoints record it to recognise their run.
    /// </summary>
    string Description => Name;

    /// <summary>Whether the loss reads the teacher's logits or features, so the trainer must run the teacher.</summary>
    bool NeedsTeacher { get; }

    /// <summary>Module paths of the student whose outputs the loss reads from <see cref="DistillationContext.StudentFeatures"/>.</summary>
    IReadOnlyList<string> StudentFeatureModules => [];

    /// <summary>Module paths of the teacher whose outputs the loss reads from <see cref="DistillationContext.TeacherFeatures"/>.</summary>
    IReadOnlyList<string> TeacherFeatureModules => [];

    /// <summary>Computes the loss for one batch.</summary>
    /// <param name="context">The batch's outputs, features and labels.</param>
    /// <returns>The scalar total and its named parts; the tensors join the caller's dispose scope.</returns>
    /// <exception cref="ArgumentException">The logits or labels have the wrong shape or type, or the batch is empty.</exception>
    /// <exception cref="InvalidOperationException">The context lacks the teacher's outputs or a feature the loss needs.</exception>
    LossResult Compute(DistillationContext context);
}
