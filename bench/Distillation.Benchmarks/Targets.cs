namespace Distillation.Benchmarks;

/// <summary>The targets of issue 6 on the project's 2-core machine (2 threads, batch 128).</summary>
internal static class Targets
{
    public const double TeacherTraining = 250;
    public const double StudentTraining = 6000;
    public const double LiveDistillation = 620;

    /// <summary>Distillation from cached teacher outputs, as a fraction of the student-only rate.</summary>
    public const double CachedShareOfStudent = 0.80;

    public const double TeacherEvaluation = 700;

    /// <summary>The data path (slice, normalize, augment) as a fraction of a training step.</summary>
    public const double DataPathShare = 0.05;

    /// <summary>The library's overhead over a hand-written TorchSharp loop.</summary>
    public const double LibraryOverhead = 0.03;
}
