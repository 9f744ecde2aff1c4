using System.Globalization;
using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// Decoupled knowledge distillation (Zhao et al., CVPR 2022): the KL term split into the target
/// class part (TCKD: the binary distribution target vs. the rest) and the non-target part (NCKD:
/// the distribution over the other classes), recombined as <c>α·TCKD + β·NCKD</c>, each with
/// T² and the batch mean, and ramped in linearly over the first <c>WarmupEpochs</c> epochs
/// (factor <c>min(epoch / warm-up, 1)</c>, the factor of <see cref="WeightSchedule.WarmUp"/>). mdistiller's
/// CIFAR defaults: α 1, β 8, T 4, 20 warm-up epochs.
/// </summary>
public sealed class DecoupledKDLoss : IDistillationLoss
{
    /// <summary>Creates the loss.</summary>
    /// <param name="alpha">Weight of TCKD, from 0 to 1,000,000 and 0 or ≥ 1.2e-38.</param>
    /// <param name="beta">Weight of NCKD, from 0 to 1,000,000 and 0 or ≥ 1.2e-38.</param>
    /// <param name="temperature">T, from 0.0001 to 10,000 (beyond, logits / T or T² leave what float32 represents usefully).</param>
    /// <param name="warmupEpochs">Epochs of linear ramp-in; 0 for none.</param>
    /// <exception cref="ArgumentOutOfRangeException">A weight or T is out of its range, or the warm-up is negative; the one-line message names it.</exception>
    public DecoupledKDLoss(double alpha = 1.0, double beta = 8.0, double temperature = 4.0, int warmupEpochs = 20)
    {
        LogitChecks.RequireWeight(alpha, nameof(alpha));
        LogitChecks.RequireWeight(beta, nameof(beta));
        LogitChecks.RequireTemperature(temperature, nameof(temperature));
        OptionChecks.IntegerIn(warmupEpochs, nameof(warmupEpochs), 0, int.MaxValue);
        (Alpha, Beta, Temperature, WarmupEpochs) = (alpha, beta, temperature, warmupEpochs);
    }

    /// <summary>Weight of the target-class part.</summary>
    public double Alpha { get; }

    /// <summary>Weight of the non-target part.</summary>
    public double Beta { get; }

    /// <summary>The temperature T.</summary>
    public double Temperature { get; }

    /// <summary>Epochs of linear ramp-in.</summary>
    public int WarmupEpochs { get; }

    /// <inheritdoc />
    public string Name => "dkd";

    /// <inheritdoc />
    public string Description => string.Create(CultureInfo.InvariantCulture, $"dkd(α={Alpha}, β={Beta}, T={Temperature}, warm-up {WarmupEpochs})");

    /// <inheritdoc />
    public bool NeedsTeacher => true;

    /// <inheritdoc />
    public LossResult Compute(DistillationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var teacher = LogitChecks.RequireLogitPair(context, Name);
        LogitChecks.RequireLabels(context.Labels, context.StudentLogits);
        if (context.PartnerLabels is not null)
        {
            throw new InvalidOperationException($"The {Name} loss splits the logits at the image's label, and a mixed image has two labels: set AugmentationOptions.MixupAlpha and CutMixAlpha to 0, or distil mixed batches with KL or DIST.");
        }

        var (tckd, nckd) = Parts(context.StudentLogits, teacher, context.Labels, Temperature);
        var ramp = WarmupEpochs == 0 ? 1.0 : WeightSchedule.WarmupFactor(context.Epoch, WarmupEpochs);
        return LossResult.Single(Name, tckd.mul(Alpha).add(nckd.mul(Beta)).mul(ramp));
    }

    /// <summary>TCKD and NCKD, each <c>T² · KL / B</c>, without weights or warm-up.</summary>
    internal static (Tensor Tckd, Tensor Nckd) Parts(Tensor studentLogits, Tensor teacherLogits, Tensor labels, double temperature)
    {
        var batch = studentLogits.shape[0];
        var scale = temperature * temperature / batch;
        var targetMask = nn.functional.one_hot(labels, studentLogits.shape[1]).to_type(studentLogits.dtype);
        var studentScaled = studentLogits.div(temperature);
        var teacherScaled = teacherLogits.div(temperature);

        // TCKD: KL between the binary distributions (p_target, 1 − p_target).
        var studentProbabilities = nn.functional.softmax(studentScaled, 1);
        var teacherProbabilities = nn.functional.softmax(teacherScaled, 1);
        var studentBinary = Binary(studentProbabilities, targetMask);
        var teacherBinary = Binary(teacherProbabilities, targetMask);
        var tckd = nn.functional.kl_div(studentBinary.log(), teacherBinary, log_target: false, reduction: nn.Reduction.Sum).mul(scale);

        // NCKD: KL over the non-target classes; the target logit is pushed to −∞ in effect (−1000, as the reference code).
        var studentOthers = nn.functional.log_softmax(studentScaled.sub(targetMask.mul(1000.0)), 1);
        var teacherOthers = nn.functional.softmax(teacherScaled.sub(targetMask.mul(1000.0)), 1);
        var nckd = nn.functional.kl_div(studentOthers, teacherOthers, log_target: false, reduction: nn.Reduction.Sum).mul(scale);
        return (tckd, nckd);
    }

    private static Tensor Binary(Tensor probabilities, Tensor targetMask)
    {
        var target = probabilities.mul(targetMask).sum(1, keepdim: true);
        var others = probabilities.mul(targetMask.neg().add(1.0)).sum(1, keepdim: true);
        return cat([target, others], 1);
    }
}
