using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// A training objective over one <see cref="DistillationContext"/>: plain cross-entropy, the
/// KL-temperature distillation loss, a weighted <see cref="DistillationObjective"/> of several
/// terms, or anything user-defined.
/// </summary>
public interface IDistillationLoss
{
    /// <summary>A short name for logs and reports.</summary>
    string Name { get; }

    /// <summary>Whether the loss reads the teacher's logits or features, so the trainer must run the teacher.</summary>
    bool NeedsTeacher { get; }

    /// <summary>Module paths of the student whose outputs the loss reads from <see cref="DistillationContext.StudentFeatures"/>.</summary>
    IReadOnlyList<string> StudentFeatureModules => [];

    /// <summary>Module paths of the teacher whose outputs the loss reads from <see cref="DistillationContext.TeacherFeatures"/>.</summary>
    IReadOnlyList<string> TeacherFeatureModules => [];

    /// <summary>Parameters the loss itself learns (e.g. a FitNets regressor); the trainer optimizes them with the student.</summary>
    IEnumerable<Parameter> TrainableParameters => [];

    /// <summary>Moves the loss's own modules, if any, to <paramref name="device"/>.</summary>
    /// <param name="device">The training device.</param>
    void MoveTo(Device device)
    {
    }

    /// <summary>Computes the loss for one batch.</summary>
    /// <param name="context">The batch's outputs, features and labels.</param>
    /// <returns>The scalar total and its named parts; the tensors join the caller's dispose scope.</returns>
    LossResult Compute(DistillationContext context);
}
