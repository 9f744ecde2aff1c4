using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>Argument checks shared by the losses: shapes that agree and values that are finite.</summary>
internal static class LogitChecks
{
    public static void RequireLogits(Tensor logits, string paramName)
    {
        if (logits.dim() != 2)
        {
            throw new ArgumentException($"{paramName} must be [batch, classes]; got [{string.Join(", ", logits.shape)}].", paramName);
        }

        if (!logits.isfinite().all().item<bool>())
        {
            throw new ArgumentException($"{paramName} holds NaN or infinite values.", paramName);
        }
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
        if (labels.dim() != 1 || labels.shape[0] != logits.shape[0])
        {
            throw new ArgumentException($"labels must be [{logits.shape[0]}] to match the logits; got [{string.Join(", ", labels.shape)}].", nameof(labels));
        }
    }

    public static void RequireWeight(double weight, string paramName)
    {
        if (!double.IsFinite(weight) || weight < 0)
        {
            throw new ArgumentOutOfRangeException(paramName, weight, $"{paramName} must be a finite number ≥ 0.");
        }
    }

    public static void RequireTemperature(double temperature, string paramName)
    {
        if (!double.IsFinite(temperature) || temperature <= 0)
        {
            throw new ArgumentOutOfRangeException(paramName, temperature, $"{paramName} must be a finite number > 0.");
        }
    }
}
