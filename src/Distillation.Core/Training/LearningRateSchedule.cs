using TorchSharp;

namespace Distillation.Training;

/// <summary>
/// The learning rate of every epoch of a run, as a pure function of the epoch (see
/// <see cref="ScheduleOptions"/> for the formulas). There is no state: resuming at epoch k
/// gives the same rates as an uninterrupted run.
/// </summary>
internal sealed class LearningRateSchedule
{
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

    /// <summary>The learning rate of one epoch.</summary>
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
            _ => throw new InvalidOperationException($"Unknown schedule kind {Options.Kind}."),
        };
    }

    /// <summary>Sets every parameter group of <paramref name="optimizer"/> to the rate of <paramref name="epoch"/>; call it before the epoch's first step.</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="epoch">The epoch about to start, from 1 to <see cref="TotalEpochs"/>.</param>
    /// <returns>The rate set.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The epoch is outside the run.</exception>
    public double Apply(torch.optim.Optimizer optimizer, int epoch)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        var rate = LearningRateAt(epoch);
        foreach (var group in optimizer.ParamGroups)
        {
            group.LearningRate = rate;
        }

        return rate;
    }

    private double Cosine(int t, int period)
    {
        var min = Options.MinLearningRate;
        return min + (BaseLearningRate - min) * (1 + Math.Cos(Math.PI * t / period)) / 2;
    }
}
