using System.Globalization;
using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>Settings of <see cref="KLDivergenceLoss"/>.</summary>
/// <param name="Temperature">The softening temperature T; must be &gt; 0.</param>
/// <param name="HardWeight">The weight of cross-entropy against the labels; ≥ 0.</param>
/// <param name="SoftWeight">The weight of the distillation term; ≥ 0.</param>
public sealed record KLDivergenceLossOptions(double Temperature = 10.0, double HardWeight = 1.0, double SoftWeight = 1.0)
{
    /// <summary>The notebook's loss: T = 10, 1·CE + 1·KD.</summary>
    public static KLDivergenceLossOptions Notebook { get; } = new(10.0, 1.0, 1.0);

    /// <summary>The PyTorch knowledge-distillation tutorial's loss: T = 2, 0.75·CE + 0.25·KD.</summary>
    public static KLDivergenceLossOptions PyTorchTutorial { get; } = new(2.0, 0.75, 0.25);

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        LogitChecks.RequireTemperature(Temperature, nameof(Temperature));
        LogitChecks.RequireWeight(HardWeight, nameof(HardWeight));
        LogitChecks.RequireWeight(SoftWeight, nameof(SoftWeight));
    }
}

/// <summary>
/// Hinton et al.'s distillation loss: <c>HardWeight·CE(student, labels) + SoftWeight·KD</c> with
/// <c>KD = T² · KL(softmax(teacher/T) ‖ softmax(student/T))</c> averaged over the batch
/// (PyTorch's <c>kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean") * T * T</c>).
/// The T² keeps the soft term's gradients on the scale of the hard term's as T grows.
/// </summary>
public sealed class KLDivergenceLoss : IDistillationLoss
{
    /// <summary>The name of the distillation part in reports.</summary>
    public const string PartName = "kd";

    /// <summary>Creates the loss.</summary>
    /// <param name="options">Temperature and weights; <see cref="KLDivergenceLossOptions.Notebook"/> when null.</param>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public KLDivergenceLoss(KLDivergenceLossOptions? options = null)
    {
        Options = options ?? KLDivergenceLossOptions.Notebook;
        Options.Validate();
    }

    /// <summary>The temperature and weights.</summary>
    public KLDivergenceLossOptions Options { get; }

    /// <inheritdoc />
    public string Name => string.Create(CultureInfo.InvariantCulture,
        $"kl-divergence (T={Options.Temperature}, {Options.HardWeight}·ce + {Options.SoftWeight}·kd)");

    /// <inheritdoc />
    public bool NeedsTeacher => true;

    /// <inheritdoc />
    public LossResult Compute(DistillationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var student = context.StudentLogits;
        var teacher = context.RequireTeacherLogits(Name);
        LogitChecks.RequireLogits(student, "studentLogits");
        LogitChecks.RequireLogits(teacher, "teacherLogits");
        LogitChecks.RequireSameShape(student, teacher);
        LogitChecks.RequireLabels(context.Labels, student);

        var ce = nn.functional.cross_entropy(student, context.Labels);
        var kd = SoftTargetTerm(student, teacher, Options.Temperature);
        var total = ce.mul(Options.HardWeight).add_(kd.mul(Options.SoftWeight));
        return new LossResult(total, [
            new LossPart(CrossEntropyLoss.PartName, ce.detach(), Options.HardWeight),
            new LossPart(PartName, kd.detach(), Options.SoftWeight),
        ]);
    }

    /// <summary>
    /// <c>T² · KL(softmax(teacher/T) ‖ softmax(student/T))</c>, summed over classes and averaged
    /// over the batch. Inputs are not checked.
    /// </summary>
    /// <param name="studentLogits">Student logits [B, classes].</param>
    /// <param name="teacherLogits">Teacher logits [B, classes].</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <returns>A scalar tensor.</returns>
    public static Tensor SoftTargetTerm(Tensor studentLogits, Tensor teacherLogits, double temperature)
    {
        ArgumentNullException.ThrowIfNull(studentLogits);
        ArgumentNullException.ThrowIfNull(teacherLogits);
        using var studentLogProbabilities = nn.functional.log_softmax(studentLogits.div(temperature), 1);
        using var teacherLogProbabilities = nn.functional.log_softmax(teacherLogits.div(temperature), 1);

        // TorchSharp's kl_div defaults to log_target: true and has no "batchmean": sum, then divide by the batch.
        using var sum = nn.functional.kl_div(studentLogProbabilities, teacherLogProbabilities, log_target: true, reduction: nn.Reduction.Sum);
        return sum.mul(temperature * temperature / studentLogits.shape[0]);
    }
}
