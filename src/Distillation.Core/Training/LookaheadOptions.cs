namespace Distillation.Training;

/// <summary>
/// Lookahead weight averaging as airbench uses it: every <see cref="EverySteps"/> optimizer steps,
/// an exponential moving average of the model's floating-point state (weights and BatchNorm
/// statistics) moves towards the current state, and the model is set to the average. The average's
/// decay grows as <c>FinalDecay · (s / S)^Power</c> with <c>s</c> the steps taken and <c>S</c> the run's
/// steps, so early training is untouched and the last epochs are smoothed; after the run's last
/// step the model keeps the average.
/// </summary>
/// <remarks>
/// The average is not saved in checkpoints: a trainer refuses lookahead together with
/// <see cref="TrainerOptions.Checkpoints"/>, since a resumed run could not continue it exactly.
/// </remarks>
public sealed class LookaheadOptions
{
    /// <summary>Optimizer steps between two updates of the average, ≥ 1. Default: 5 (airbench's).</summary>
    public int EverySteps { get; set; } = 5;

    /// <summary>The average's decay at the end of the run, in [0, 1). Default: 0.95⁵ ≈ 0.774 (airbench's).</summary>
    public double FinalDecay { get; set; } = Math.Pow(0.95, 5);

    /// <summary>How late in the run the decay grows: the exponent of the run's progress, ≥ 0. Default: 3 (airbench's).</summary>
    public double Power { get; set; } = 3;

    /// <summary>Checks every value.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the one-line message names it.</exception>
    public void Validate()
    {
        OptionChecks.IntegerIn(EverySteps, nameof(EverySteps), 1, int.MaxValue);
        OptionChecks.FractionIn(FinalDecay, nameof(FinalDecay), 0, 1);
        OptionChecks.FloatIn(Power, nameof(Power), 0, 64);
    }
}
