using System.Globalization;
using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// Hinton et al.'s soft-target term, <c>KD = T² · KL(softmax(teacher/T) ‖ softmax(student/T))</c>
/// averaged over the batch (PyTorch's <c>kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean") * T * T</c>).
/// The T² keeps the soft term's gradients on the scale of the hard term's as T grows. Combine it
/// with cross-entropy in a <see cref="DistillationObjective"/>; <see cref="DistillationObjective.Notebook"/>
/// and <see cref="DistillationObjective.PyTorchTutorial"/> are the usual pairs.
/// </summary>
/// <remarks>
/// With <c>standardizeLogits</c> (Sun et al., CVPR 2024, "logit standardization") each row of logits
/// is z-scored, <c>(z − mean) / (std + 1e-7)</c> with the unbiased std over the classes, before the
/// division by T, so the student matches the teacher's logit relations rather than their magnitude.
/// </remarks>
public sealed class KLDivergenceLoss : IDistillationLoss
{
    /// <summary>The name of the plain distillation part in reports.</summary>
    public const string PartName = "kd";

    /// <summary>The name of the part with logit standardization.</summary>
    public const string StandardizedPartName = "kd-ls";

    /// <summary>The default temperature: 4, as mdistiller's and torchdistill's CIFAR recipes use.</summary>
    public const double DefaultTemperature = 4.0;

    /// <summary>Creates the term.</summary>
    /// <param name="temperature">T, from 0.0001 to 10,000 (beyond, logits / T or T² leave what float32 represents usefully). Default: <see cref="DefaultTemperature"/>.</param>
    /// <param name="standardizeLogits">Whether to z-score each row of logits first. Default: false.</param>
    /// <exception cref="ArgumentOutOfRangeException">T is out of that range; the one-line message names it.</exception>
    public KLDivergenceLoss(double temperature = DefaultTemperature, bool standardizeLogits = false)
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
    public string Name => StandardizeLogits ? StandardizedPartName : PartName;

    /// <inheritdoc />
    public string Description => string.Create(CultureInfo.InvariantCulture, $"{Name}(T={Temperature})");

    /// <inheritdoc />
    public bool NeedsTeacher => true;

    /// <inheritdoc />
    public LossResult Compute(DistillationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var student = context.StudentLogits;
        var teacher = LogitChecks.RequireLogitPair(context, Name);
        if (StandardizeLogits)
        {
            student = Standardize(student);
            teacher = Standardize(teacher);
        }

        return LossResult.Single(Name, SoftTargetTerm(student, teacher, Temperature));
    }

    /// <summary>
    /// <c>T² · KL(softmax(teacher/T) ‖ softmax(student/T))</c>, summed over classes and averaged
    /// over the batch. Inputs are not checked.
    /// </summary>
    internal static Tensor SoftTargetTerm(Tensor studentLogits, Tensor teacherLogits, double temperature)
    {
        using var studentLogProbabilities = nn.functional.log_softmax(studentLogits.div(temperature), 1);
        using var teacherLogProbabilities = nn.functional.log_softmax(teacherLogits.div(temperature), 1);

        // TorchSharp's kl_div defaults to log_target: true and has no "batchmean": sum, then divide by the batch.
        using var sum = nn.functional.kl_div(studentLogProbabilities, teacherLogProbabilities, log_target: true, reduction: nn.Reduction.Sum);
        return sum.mul(temperature * temperature / studentLogits.shape[0]);
    }

    /// <summary>Z-scores each row: <c>(z − mean) / (std + 1e-7)</c> with the unbiased std over the last dimension.</summary>
    internal static Tensor Standardize(Tensor logits)
    {
        var mean = logits.mean([-1], keepdim: true);
        var std = logits.std(-1, unbiased: true, keepdim: true);
        return logits.sub(mean).div(std.add(1e-7));
    }
}
