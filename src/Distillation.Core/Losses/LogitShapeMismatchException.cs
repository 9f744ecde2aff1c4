namespace Distillation.Losses;

/// <summary>
/// The student's and the teacher's logits differ in shape, typically because the two models predict
/// a different number of classes (10 against 100). The message names both shapes. Raised by the
/// losses on the first batch, before any backward pass or optimizer step, so the student is unchanged.
/// </summary>
/// <remarks>An <see cref="ArgumentException"/>, as before this type existed.</remarks>
internal sealed class LogitShapeMismatchException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="studentShape">The shape of the student's logits.</param>
    /// <param name="teacherShape">The shape of the teacher's logits.</param>
    /// <param name="paramName">The argument at fault.</param>
    public LogitShapeMismatchException(IReadOnlyList<long> studentShape, IReadOnlyList<long> teacherShape, string? paramName = null)
        : base(
            $"Student and teacher logits differ in shape: student [{string.Join(", ", studentShape)}], teacher [{string.Join(", ", teacherShape)}]. " +
            "Both models must predict the same classes.",
            paramName)
    {
        StudentShape = studentShape;
        TeacherShape = teacherShape;
    }

    /// <summary>The shape of the student's logits.</summary>
    public IReadOnlyList<long> StudentShape { get; }

    /// <summary>The shape of the teacher's logits.</summary>
    public IReadOnlyList<long> TeacherShape { get; }
}
