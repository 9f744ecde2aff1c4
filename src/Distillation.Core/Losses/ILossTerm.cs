using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// One term of a <see cref="DistillationObjective"/>: a scalar computed from the batch's
/// <see cref="DistillationContext"/>, reported under <see cref="Name"/> before its weight is applied.
/// </summary>
public interface ILossTerm
{
    /// <summary>The term's name in reports (unique within an objective).</summary>
    string Name { get; }

    /// <summary>Whether the term reads the teacher's outputs.</summary>
    bool NeedsTeacher => true;

    /// <summary>Student module paths whose outputs the term reads.</summary>
    IReadOnlyList<string> StudentFeatureModules => [];

    /// <summary>Teacher module paths whose outputs the term reads.</summary>
    IReadOnlyList<string> TeacherFeatureModules => [];

    /// <summary>Parameters the term learns with the student (e.g. a regressor); not part of the student.</summary>
    IEnumerable<Parameter> TrainableParameters => [];

    /// <summary>Moves the term's own modules, if any, to <paramref name="device"/>.</summary>
    /// <param name="device">The training device.</param>
    void MoveTo(Device device)
    {
    }

    /// <summary>The term's scalar value for one batch.</summary>
    /// <param name="context">The batch.</param>
    /// <returns>A scalar tensor attached to the student's graph.</returns>
    Tensor Compute(DistillationContext context);
}

/// <summary>A term and the weight it enters the objective with.</summary>
/// <param name="Term">The term.</param>
/// <param name="Weight">Its weight, ≥ 0.</param>
public sealed record WeightedTerm(ILossTerm Term, double Weight);
