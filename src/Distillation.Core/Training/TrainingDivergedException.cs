namespace Distillation.Training;

/// <summary>The loss became NaN or infinite; training stopped.</summary>
public sealed class TrainingDivergedException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="phase">The run's phase.</param>
    /// <param name="epoch">The epoch, from 1.</param>
    /// <param name="message">What was seen.</param>
    public TrainingDivergedException(TrainingPhase phase, int epoch, string message)
        : this(phase, epoch, step: null, message)
    {
    }

    /// <summary>Creates the exception for a loss that became non-finite at a known step.</summary>
    /// <param name="phase">The run's phase.</param>
    /// <param name="epoch">The epoch, from 1.</param>
    /// <param name="step">The step within the epoch, from 0, as in <c>DistillationContext.Step</c>; null when unknown.</param>
    /// <param name="message">What was seen, naming the epoch and the step.</param>
    public TrainingDivergedException(TrainingPhase phase, int epoch, int? step, string message)
        : base(message)
    {
        Phase = phase;
        Epoch = epoch;
        Step = step;
    }

    /// <summary>The run's phase.</summary>
    public TrainingPhase Phase { get; }

    /// <summary>The epoch in which the loss diverged, from 1.</summary>
    public int Epoch { get; }

    /// <summary>The first step of <see cref="Epoch"/> whose loss was not finite, from 0; null when only the epoch is known.</summary>
    public int? Step { get; }
}
