namespace Distillation.Training;

/// <summary>How the learning rate changes from epoch to epoch (after any warm-up).</summary>
public enum ScheduleKind
{
    /// <summary>The base rate throughout.</summary>
    Constant,

    /// <summary>The base rate times <c>Gamma</c> once per <c>StepSize</c> completed epochs (PyTorch's <c>StepLR</c>).</summary>
    Step,

    /// <summary>The base rate times <c>Gamma</c> once per milestone passed (PyTorch's <c>MultiStepLR</c>).</summary>
    MultiStep,

    /// <summary>Cosine annealing from the base rate towards <c>MinLearningRate</c> over the epochs after warm-up (PyTorch's <c>CosineAnnealingLR</c>).</summary>
    Cosine,

    /// <summary>
    /// airbench's triangle, set before every optimizer step rather than once per epoch: linear from
    /// <c>StartFactor</c>·base to the base rate at <c>PeakFraction</c> of the run's steps, then linear
    /// to <c>EndFactor</c>·base at its end. It has its own ramp, so <c>WarmupEpochs</c> must be 0.
    /// </summary>
    Triangle,
}

/// <summary>
/// Settings of a <see cref="LearningRateSchedule"/>. The rate is set once per epoch; epochs are
/// numbered from 1, as in the trainer's reports. Default: a constant rate, no warm-up.
/// </summary>
/// <remarks>
/// With <c>e</c> the epoch (1-based), <c>E</c> the run's epochs, <c>W</c> = <see cref="WarmupEpochs"/>
/// and <c>base</c> the optimizer's learning rate:
/// <list type="bullet">
/// <item>warm-up, <c>e ≤ W</c>: <c>base · e / (W + 1)</c>, a linear ramp that reaches
/// <c>base</c> at epoch <c>W + 1</c>, where the schedule takes over;</item>
/// <item>Step: <c>base · Gamma^⌊(e − 1) / StepSize⌋</c>;</item>
/// <item>MultiStep: <c>base · Gamma^(number of milestones m with m ≤ e − 1)</c>;</item>
/// <item>Cosine: <c>min + (base − min) · (1 + cos(π · t / T)) / 2</c> with <c>t = e − 1 − W</c> and
/// <c>T = E − W</c>, so it starts at <c>base</c> right after warm-up and reaches about
/// <c>min</c> in the last epoch.</item>
/// <item>Triangle, per step: with <c>s</c> the steps taken before this one and <c>S</c> the run's
/// steps, <c>base · f(s)</c> where <c>f</c> is linear through (0, <c>StartFactor</c>),
/// (<c>⌊PeakFraction·S⌋</c>, 1) and (<c>S</c>, <c>EndFactor</c>).</item>
/// </list>
/// Step sizes and milestones count completed epochs from the start of the run, warm-up included, as
/// PyTorch's 0-based epoch counter does: milestone 30 lowers the rate from epoch 31 on.
/// </remarks>
public sealed class ScheduleOptions
{
    /// <summary>The schedule. Default: <see cref="ScheduleKind.Constant"/>.</summary>
    public ScheduleKind Kind { get; set; } = ScheduleKind.Constant;

    /// <summary>Completed epochs between two decays of <see cref="ScheduleKind.Step"/>; required (≥ 1) for it. Default: 0 (unset).</summary>
    public int StepSize { get; set; }

    /// <summary>
    /// Completed-epoch counts after which <see cref="ScheduleKind.MultiStep"/> multiplies the rate by
    /// <see cref="Gamma"/>, strictly increasing and ≥ 1; required (non-empty) for it. Default: empty.
    /// </summary>
    public IReadOnlyList<int> Milestones { get; set; } = [];

    /// <summary>The factor of each decay of Step and MultiStep, &gt; 0. Default: 0.1.</summary>
    public double Gamma { get; set; } = 0.1;

    /// <summary>The rate <see cref="ScheduleKind.Cosine"/> anneals towards, in [0, base rate]. Default: 0.</summary>
    public double MinLearningRate { get; set; }

    /// <summary>Epochs of linear warm-up at the start of the run, fewer than the run's epochs. Default: 0 (none).</summary>
    public int WarmupEpochs { get; set; }

    /// <summary><see cref="ScheduleKind.Triangle"/>'s first rate, as a fraction of the base rate, in [0, 1]. Default: 0.2 (airbench's).</summary>
    public double StartFactor { get; set; } = 0.2;

    /// <summary>Where <see cref="ScheduleKind.Triangle"/> peaks at the base rate, as a fraction of the run's steps, in (0, 1). Default: 0.23 (airbench's).</summary>
    public double PeakFraction { get; set; } = 0.23;

    /// <summary><see cref="ScheduleKind.Triangle"/>'s rate at the end of the run, as a fraction of the base rate, in [0, 1]. Default: 0.07 (airbench's).</summary>
    public double EndFactor { get; set; } = 0.07;

    /// <summary>Checks the values that do not depend on the run.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        if (!Enum.IsDefined(Kind))
        {
            throw OptionChecks.OutOfRange(nameof(Kind), Kind, "one of Constant, Step, MultiStep, Cosine, Triangle");
        }

        OptionChecks.IntegerIn(StepSize, nameof(StepSize), Kind == ScheduleKind.Step ? 1 : 0, int.MaxValue);
        if (Milestones is null)
        {
            throw OptionChecks.OutOfRange(nameof(Milestones), null, "a list (empty unless the schedule is MultiStep)");
        }

        if (Kind == ScheduleKind.MultiStep && Milestones.Count == 0)
        {
            throw OptionChecks.OutOfRange(nameof(Milestones), "[]", "at least one milestone for a MultiStep schedule");
        }

        for (var i = 0; i < Milestones.Count; i++)
        {
            if (Milestones[i] < 1 || (i > 0 && Milestones[i] <= Milestones[i - 1]))
            {
                throw OptionChecks.OutOfRange(nameof(Milestones), $"[{string.Join(", ", Milestones)}]", "epochs ≥ 1 in strictly increasing order");
            }
        }

        // Gamma and the floor scale the float32 learning rate.
        OptionChecks.FloatIn(Gamma, nameof(Gamma), 0, OptionChecks.FloatMax, minExclusive: true);
        OptionChecks.FloatIn(MinLearningRate, nameof(MinLearningRate), 0, OptionChecks.FloatMax);
        OptionChecks.IntegerIn(WarmupEpochs, nameof(WarmupEpochs), 0, int.MaxValue);
        OptionChecks.FloatIn(StartFactor, nameof(StartFactor), 0, 1);
        OptionChecks.FloatIn(EndFactor, nameof(EndFactor), 0, 1);
        OptionChecks.FractionIn(PeakFraction, nameof(PeakFraction), 0, 1, minExclusive: true);
        if (Kind == ScheduleKind.Triangle && WarmupEpochs != 0)
        {
            throw OptionChecks.OutOfRange(nameof(WarmupEpochs), WarmupEpochs, "0 with a Triangle schedule (its StartFactor and PeakFraction are its warm-up)");
        }
    }

    /// <summary>Checks every value, including those that depend on the run.</summary>
    /// <param name="baseLearningRate">The optimizer's learning rate, finite and &gt; 0.</param>
    /// <param name="totalEpochs">The run's epochs, ≥ 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it.</exception>
    public void Validate(double baseLearningRate, int totalEpochs)
    {
        Validate();
        OptionChecks.FloatIn(baseLearningRate, nameof(baseLearningRate), 0, OptionChecks.FloatMax, minExclusive: true);
        OptionChecks.IntegerIn(totalEpochs, nameof(totalEpochs), 1, int.MaxValue);
        if (WarmupEpochs >= totalEpochs)
        {
            throw OptionChecks.OutOfRange(nameof(WarmupEpochs), WarmupEpochs, $"smaller than the {totalEpochs} epochs of the run (warm-up must leave at least one epoch to the schedule)");
        }

        if (Kind == ScheduleKind.Cosine && MinLearningRate > baseLearningRate)
        {
            throw OptionChecks.OutOfRange(nameof(MinLearningRate), MinLearningRate, $"at most the base learning rate {OptionChecks.Format(baseLearningRate)}");
        }
    }
}
