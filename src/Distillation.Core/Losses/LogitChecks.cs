using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// Argument checks shared by the losses. They read only shapes and types, never values, so no
/// batch waits for the device: non-finite values surface as a non-finite loss, which the trainer
/// reports with the phase, epoch and first bad step.
/// </summary>
internal static class LogitChecks
{
    public static void RequireLogits(Tensor logits, string paramName)
    {
        ArgumentNullException.ThrowIfNull(logits, paramName);
        if (logits.dim() != 2)
        {
            throw new ArgumentException($"{paramName} must be [batch, classes]; got [{string.Join(", ", logits.shape)}].", paramName);
        }

        if (logits.shape[0] == 0)
        {
            throw new ArgumentException($"{paramName} holds an empty batch: a loss over no images is undefined.", paramName);
        }
    }

    /// <summary>
    /// The teacher's logits of <paramref name="context"/>, after the checks every logit-matching loss
    /// makes: the teacher gave logits (else the loss <paramref name="lossName"/> is named), the
    /// student's are a non-empty batch of logits, and both have the same shape.
    /// </summary>
    public static Tensor RequireLogitPair(DistillationContext context, string lossName)
    {
        var teacher = context.RequireTeacherLogits(lossName);
        RequireLogits(context.StudentLogits, "studentLogits");
        RequireSameShape(context.StudentLogits, teacher);
        return teacher;
    }

    public static void RequireSameShape(Tensor studentLogits, Tensor teacherLogits)
    {
        if (!studentLogits.shape.SequenceEqual(teacherLogits.shape))
        {
            throw new LogitShapeMismatchException(studentLogits.shape, teacherLogits.shape, nameof(teacherLogits));
        }
    }

    public static void RequireLabels(Tensor labels, Tensor logits)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.dim() != 1 || labels.shape[0] != logits.shape[0])
        {
            throw new ArgumentException($"labels must be [{logits.shape[0]}] to match the logits; got [{string.Join(", ", labels.shape)}].", nameof(labels));
        }

        if (labels.dtype != ScalarType.Int64)
        {
            throw new ArgumentException($"labels must be int64 class indices; got {labels.dtype}.", nameof(labels));
        }
    }

    /// <summary>The largest weight of a term: a larger one only rescales the learning rate (set that instead) and, times a loss, nears float32's range.</summary>
    public const double MaxWeight = 1e6;

    /// <summary>
    /// The smallest temperature. Far below it logits / T overflow float32 (at T = 1e-40 any logit
    /// above 0.003 does) and the softmax is one-hot long before.
    /// </summary>
    public const double MinTemperature = 1e-4;

    /// <summary>
    /// The largest temperature. Above it the differences of logits / T near float32's precision
    /// (1.2e-7 relative), so the soft targets become rounding noise, and T² grows without bound.
    /// </summary>
    public const double MaxTemperature = 1e4;

    public static void RequireWeight(double weight, string paramName) =>
        OptionChecks.FloatIn(weight, paramName, 0, MaxWeight);

    public static void RequireTemperature(double temperature, string paramName) =>
        OptionChecks.FloatIn(temperature, paramName, MinTemperature, MaxTemperature);
}
