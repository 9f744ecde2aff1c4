namespace Distillation.Training;

/// <summary>The loss became NaN or infinite; training stopped.</summary>
public sealed class TrainingDivergedException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="phase">The run's phase.</param>
    /// <param name="epoch">The epoch, from 1.</param>
    /// <param name="message">What was seen.</param>
    public TrainingDivergedException(TrainingPhase phase, int epoch, string message)
        : base(message)
    {
        Phase = phase;
        Epoch = epoch;
    }

    /// <summary>The run's phase.</summary>
    public TrainingPhase Phase { get; }

    /// <summary>The epoch in which the loss diverged, from 1.</summary>
    public int Epoch { get; }
}
