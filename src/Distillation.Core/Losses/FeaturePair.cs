using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// What the feature losses share: one student module path and one teacher module path, checked
/// when the loss is made, and the two recorded outputs read from the step's context by name.
/// </summary>
internal sealed class FeaturePair
{
    /// <summary>Checks and keeps the two module paths.</summary>
    /// <exception cref="ArgumentException">A module path is empty.</exception>
    public FeaturePair(string studentModule, string teacherModule)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(studentModule);
        ArgumentException.ThrowIfNullOrWhiteSpace(teacherModule);
        StudentModules = [studentModule];
        TeacherModules = [teacherModule];
    }

    /// <summary>The student's module path, as the loss's <see cref="IDistillationLoss.StudentFeatureModules"/>.</summary>
    public IReadOnlyList<string> StudentModules { get; }

    /// <summary>The teacher's module path, as the loss's <see cref="IDistillationLoss.TeacherFeatureModules"/>.</summary>
    public IReadOnlyList<string> TeacherModules { get; }

    /// <summary>The student's and the teacher's recorded outputs; a missing one is named with the loss that needs it.</summary>
    public (Tensor Student, Tensor Teacher) Read(DistillationContext context, string lossName) =>
        (context.RequireStudentFeature(StudentModules[0], lossName), context.RequireTeacherFeature(TeacherModules[0], lossName));
}
