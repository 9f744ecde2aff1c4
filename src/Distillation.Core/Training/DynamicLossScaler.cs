using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// The loss scaling of <see cref="TrainingPrecision.Float16Mixed"/>, as PyTorch's <c>GradScaler</c>
/// does it: the loss is multiplied by a scale before the backward pass, so that small float16
/// gradients do not flush to zero; the gradients are divided by it again in float32 before
/// clipping and the optimizer step; a step whose gradients hold an infinity or a NaN (the scale
/// was too large) is skipped and the scale halved; after <see cref="GrowthInterval"/> steps in a
/// row without one the scale doubles. PyTorch's defaults: 2¹⁶, ×2, ×½, 2,000 steps.
/// </summary>
internal sealed class DynamicLossScaler(double initialScale = DynamicLossScaler.DefaultInitialScale, int growthInterval = DynamicLossScaler.DefaultGrowthInterval)
{
    public const double DefaultInitialScale = 65536;

    public const int DefaultGrowthInterval = 2000;

    /// <summary>The factor the loss is multiplied by now.</summary>
    public double Scale { get; private set; } = initialScale;

    /// <summary>Steps since the last skipped step or growth of the scale.</summary>
    public int GoodSteps { get; private set; }

    /// <summary>Steps skipped in this process (not restored from a checkpoint: it is a count for the log).</summary>
    public int SkippedSteps { get; private set; }

    public int GrowthInterval { get; } = growthInterval;

    /// <summary>Divides every gradient of <paramref name="parameters"/> by the scale, in place; true when any gradient holds an infinity or a NaN.</summary>
    public bool UnscaleAndCheck(IEnumerable<Parameter> parameters)
    {
        using var scope = NewDisposeScope();
        var inverse = 1.0 / Scale;
        Tensor? nonFinite = null;
        foreach (var gradient in parameters.Select(p => p.grad).OfType<Tensor>())
        {
            gradient.mul_(inverse);
            var bad = gradient.isfinite().logical_not().any();
            nonFinite = nonFinite is null ? bad : nonFinite.logical_or_(bad);
        }

        // One host synchronisation per optimizer step, as GradScaler's found_inf check needs.
        return nonFinite?.item<bool>() ?? false;
    }

    /// <summary>After an optimizer step: halves the scale when the step overflowed (and was skipped), else counts it and doubles the scale every <see cref="GrowthInterval"/> steps.</summary>
    public void Update(bool overflowed)
    {
        if (overflowed)
        {
            Scale *= 0.5;
            GoodSteps = 0;
            SkippedSteps++;
            return;
        }

        if (++GoodSteps == GrowthInterval)
        {
            Scale *= 2;
            GoodSteps = 0;
        }
    }

    /// <summary>Puts back the state a checkpoint saved.</summary>
    public void Restore(double scale, int goodSteps)
    {
        Scale = scale;
        GoodSteps = goodSteps;
    }
}
