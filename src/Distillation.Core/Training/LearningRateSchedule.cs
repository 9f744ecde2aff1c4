using TorchSharp;

namespace Distillation.Training;

/// <summary>
/// The learning rate of every epoch (or step) of a run, as a pure function of the epoch and step
/// (see <see cref="ScheduleOptions"/> for the formulas). The only state is each parameter group's
/// ratio to the first, read from the optimizer as created: resuming at epoch k gives the same rates
/// as an uninterrupted run.
/// </summary>
internal sealed class LearningRateSchedule
{
    private double[]? groupScales;

    /// <summary>Creates the schedule of one run.</summary>
    /// <param name="options">The schedule.</param>
    /// <param name="baseLearningRate">The optimizer's learning rate (<see cref="OptimizationOptions.LearningRate"/>).</param>
    /// <param name="totalEpochs">The run's epochs.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range, or the options do not fit the run (warm-up too long, minimum above the base rate).</exception>
    public LearningRateSchedule(ScheduleOptions options, double baseLearningRate, int totalEpochs)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(baseLearningRate, totalEpochs);
        // A copy, so later changes to the caller's settings do not reach a running schedule.
        Options = new ScheduleOptions
        {
            Kind = options.Kind,
            StepSize = options.StepSize,
            Milestones = options.Milestones.ToArray(),
            Gamma = options.Gamma,
            MinLearningRate = options.MinLearningRate,
            WarmupEpochs = options.WarmupEpochs,
            StartFactor = options.StartFactor,
            PeakFraction = options.PeakFraction,
            EndFactor = options.EndFactor,
        };
        BaseLearningRate = baseLearningRate;
        TotalEpochs = totalEpochs;
    }

    /// <summary>The schedule's settings (a private copy of the milestones).</summary>
    public ScheduleOptions Options { get; }

    /// <summary>The rate the schedule starts from after warm-up.</summary>
    public double BaseLearningRate { get; }

    /// <summary>The run's epochs.</summary>
    public int TotalEpochs { get; }

    /// <summary>Whether the rate changes before every optimizer step (<see cref="ScheduleKind.Triangle"/>) rather than once per epoch.</summary>
    public bool SetsEveryStep => Options.Kind == ScheduleKind.Triangle;

    /// <summary>The learning rate of one epoch (for <see cref="ScheduleKind.Triangle"/>, as if every epoch were one step).</summary>
    /// <param name="epoch">The epoch, from 1 to <see cref="TotalEpochs"/>.</param>
    /// <returns>The rate.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The epoch is outside the run.</exception>
    public double LearningRateAt(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(epoch, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(epoch, TotalEpochs);
        var warmup = Options.WarmupEpochs;
        if (epoch <= warmup)
        {
            return BaseLearningRate * epoch / (warmup + 1);
        }

        var completed = epoch - 1;
        return Options.Kind switch
        {
            ScheduleKind.Constant => BaseLearningRate,
            ScheduleKind.Step => BaseLearningRate * Math.Pow(Options.Gamma, completed / Options.StepSize),
            ScheduleKind.MultiStep => BaseLearningRate * Math.Pow(Options.Gamma, Options.Milestones.Count(m => m <= completed)),
            ScheduleKind.Cosine => Cosine(completed - warmup, TotalEpochs - warmup),
            ScheduleKind.Triangle => Triangle(completed, TotalEpochs),
            _ => throw new InvalidOperationException($"Unknown schedule kind {Options.Kind}."),
        };
    }

    /// <summary>
    /// The learning rate of one optimizer step: the epoch's rate, or for <see cref="ScheduleKind.Triangle"/>
    /// the rate at that step of the run.
    /// </summary>
    /// <param name="epoch">The epoch, from 1 to <see cref="TotalEpochs"/>.</param>
    /// <param name="step">The step within the epoch, from 0.</param>
    /// <param name="stepsPerEpoch">The optimizer steps of every epoch, ≥ 1.</param>
    /// <returns>The rate.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The epoch or step is outside the run.</exception>
    public double LearningRateAt(int epoch, int step, int stepsPerEpoch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stepsPerEpoch, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(step, stepsPerEpoch);
        if (!SetsEveryStep)
        {
            return LearningRateAt(epoch);
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(epoch, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(epoch, TotalEpochs);
        return Triangle(((long)(epoch - 1) * stepsPerEpoch) + step, (long)TotalEpochs * stepsPerEpoch);
    }

    /// <summary>
    /// Sets the rate of <paramref name="epoch"/> (and <paramref name="step"/>) on every parameter group
    /// of <paramref name="optimizer"/>, each scaled by its initial rate over the first group's (so a
    /// group created at a multiple of the base rate, such as BatchNorm biases, keeps that multiple).
    /// </summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="epoch">The epoch, from 1 to <see cref="TotalEpochs"/>.</param>
    /// <param name="step">The step within the epoch, from 0.</param>
    /// <param name="stepsPerEpoch">The optimizer steps of every epoch, ≥ 1.</param>
    /// <returns>The rate set on the first group.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The epoch or step is outside the run.</exception>
    public double Apply(torch.optim.Optimizer optimizer, int epoch, int step = 0, int stepsPerEpoch = 1)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        var rate = LearningRateAt(epoch, step, stepsPerEpoch);
        var groups = optimizer.ParamGroups.ToArray();

        // The groups' ratios as the optimizer was created, read before the schedule first changes them.
        groupScales ??= groups.Select(g => groups.Length == 1 || groups[0].LearningRate == 0 ? 1.0 : g.LearningRate / groups[0].LearningRate).ToArray();
        for (var i = 0; i < groups.Length; i++)
        {
            groups[i].LearningRate = i < groupScales.Length ? rate * groupScales[i] : rate;
        }

        return rate;
    }

    private double Triangle(long step, long steps)
    {
        var peak = (long)(Options.PeakFraction * steps);
        if (peak > 0 && step <= peak)
        {
            return BaseLearningRate * (Options.StartFactor + ((1 - Options.StartFactor) * step / peak));
        }

        return BaseLearningRate * (1 + ((Options.EndFactor - 1) * (step - peak) / Math.Max(1, steps - peak)));
    }

    private double Cosine(int t, int period)
    {
        var min = Options.MinLearningRate;
        return min + (BaseLearningRate - min) * (1 + Math.Cos(Math.PI * t / period)) / 2;
    }
}
