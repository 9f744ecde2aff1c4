using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// Everything a loss may look at for one batch: the student's and the teacher's outputs, the
/// labels, and where in training the batch falls. One object, so new terms need no new signature.
/// </summary>
public sealed class DistillationContext
{
    /// <summary>Creates a context.</summary>
    /// <param name="studentLogits">The student's logits [B, classes], attached to the graph.</param>
    /// <param name="labels">The int64 labels [B].</param>
    /// <param name="teacherLogits">The teacher's logits [B, classes], computed without gradients; null in plain training.</param>
    public DistillationContext(Tensor studentLogits, Tensor labels, Tensor? teacherLogits = null)
    {
        ArgumentNullException.ThrowIfNull(studentLogits);
        ArgumentNullException.ThrowIfNull(labels);
        StudentLogits = studentLogits;
        Labels = labels;
        TeacherLogits = teacherLogits;
    }

    /// <summary>The student's logits [B, classes], attached to the graph.</summary>
    public Tensor StudentLogits { get; }

    /// <summary>The teacher's logits [B, classes], without gradients; null in plain training.</summary>
    public Tensor? TeacherLogits { get; }

    /// <summary>The int64 labels [B].</summary>
    public Tensor Labels { get; }

    /// <summary>The epoch this batch belongs to, from 1.</summary>
    public int Epoch { get; init; } = 1;

    /// <summary>The step within the epoch, from 0.</summary>
    public int Step { get; init; }

    /// <summary>The teacher's logits, or an error saying the loss needs a teacher.</summary>
    /// <param name="lossName">The loss asking, for the message.</param>
    /// <returns>The teacher's logits.</returns>
    /// <exception cref="InvalidOperationException">There is no teacher output in this context.</exception>
    public Tensor RequireTeacherLogits(string lossName) =>
        TeacherLogits ?? throw new InvalidOperationException($"The {lossName} loss needs the teacher's logits, and this context has none (plain training?).");
}
