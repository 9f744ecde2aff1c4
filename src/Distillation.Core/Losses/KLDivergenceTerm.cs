using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// Hinton's soft-target term, <c>T² · KL(softmax(t/T) ‖ softmax(s/T))</c> averaged over the batch;
/// optionally with logit standardization (Sun et al., CVPR 2024): each row of logits is z-scored
/// (<c>(z − mean) / (std + 1e-7)</c>, unbiased std over the classes) before the division by T, so
/// the student matches the teacher's logit relations rather than their magnitude.
/// </summary>
public sealed class KLDivergenceTerm : ILossTerm
{
    /// <summary>Creates the term.</summary>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="standardizeLogits">Whether to z-score each row of logits first.</param>
    /// <exception cref="ArgumentOutOfRangeException">T is not a finite number &gt; 0.</exception>
    public KLDivergenceTerm(double temperature = 4.0, bool standardizeLogits = false)
    {
        LogitChecks.RequireTemperature(temperature, nameof(temperature));
        Temperature = temperature;
        StandardizeLogits = standardizeLogits;
    }

    /// <summary>The temperature T.</summary>
    public double Temperature { get; }

    /// <summary>Whether rows are z-scored before softening.</summary>
    public bool StandardizeLogits { get; }

    /// <inheritdoc />
    public string Name => StandardizeLogits ? "kd-ls" : KLDivergenceLoss.PartName;

    /// <inheritdoc />
    public Tensor Compute(DistillationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var student = context.StudentLogits;
        var teacher = context.RequireTeacherLogits(Name);
        LogitChecks.RequireSameShape(student, teacher);
        if (StandardizeLogits)
        {
            student = Standardize(student);
            teacher = Standardize(teacher);
        }

        return KLDivergenceLoss.SoftTargetTerm(student, teacher, Temperature);
    }

    /// <summary>Z-scores each row: <c>(z − mean) / (std + 1e-7)</c> with the unbiased std over the last dimension.</summary>
    /// <param name="logits">Logits [B, classes].</param>
    /// <returns>The standardized logits.</returns>
    public static Tensor Standardize(Tensor logits)
    {
        ArgumentNullException.ThrowIfNull(logits);
        var mean = logits.mean([-1], keepdim: true);
        var std = logits.std(-1, unbiased: true, keepdim: true);
        return logits.sub(mean).div(std.add(1e-7));
    }
}
