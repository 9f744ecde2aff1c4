using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// Aligns hidden representations by direction, as the PyTorch distillation tutorial's cosine
/// variant: both feature maps are flattened; when the teacher's is k times wider it is
/// average-pooled by k (2048 → 1024 for the seed's models); the term is
/// <c>CosineEmbeddingLoss(student, teacher, target = 1)</c> = mean over the batch of <c>1 − cos</c>.
/// </summary>
public sealed class CosineFeatureLoss : IDistillationLoss
{
    private readonly FeaturePair pair;

    /// <summary>Creates the loss.</summary>
    /// <param name="studentModule">The student module whose output is compared (default <c>features</c>).</param>
    /// <param name="teacherModule">The teacher module whose output is compared (default <c>features</c>).</param>
    /// <exception cref="ArgumentException">A module path is empty.</exception>
    public CosineFeatureLoss(string studentModule = "features", string teacherModule = "features") =>
        pair = new FeaturePair(studentModule, teacherModule);

    /// <inheritdoc />
    public string Name => "cosine";

    /// <inheritdoc />
    public bool NeedsTeacher => true;

    /// <inheritdoc />
    public IReadOnlyList<string> StudentFeatureModules => pair.StudentModules;

    /// <inheritdoc />
    public IReadOnlyList<string> TeacherFeatureModules => pair.TeacherModules;

    /// <inheritdoc />
    public LossResult Compute(DistillationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (studentFeature, teacherFeature) = pair.Read(context, Name);
        var student = studentFeature.flatten(1);
        var teacher = teacherFeature.flatten(1);
        var (studentWidth, teacherWidth) = (student.shape[1], teacher.shape[1]);
        if (teacherWidth != studentWidth)
        {
            if (teacherWidth % studentWidth != 0)
            {
                throw new InvalidOperationException(
                    $"The cosine term needs the teacher's flattened features ({teacherWidth}) to be a multiple of the student's ({studentWidth}) to pool them to the same width.");
            }

            var factor = teacherWidth / studentWidth;
            teacher = nn.functional.avg_pool1d(teacher.unsqueeze(1), factor).squeeze(1);
        }

        using var target = ones(student.shape[0], device: student.device);
        return LossResult.Single(Name, nn.functional.cosine_embedding_loss(student, teacher, target));
    }
}
