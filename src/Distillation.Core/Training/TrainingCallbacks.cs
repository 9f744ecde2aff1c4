using Distillation.Losses;

namespace Distillation.Training;

/// <summary>
/// Code that runs inside a training call, at the end of every step and of every epoch, to read
/// metrics, log them elsewhere, or stop training. Register it in <see cref="TrainerOptions.Callbacks"/>;
/// implement only the method you need.
/// </summary>
public interface ITrainingCallback
{
    /// <summary>Called after each optimizer step's batch, inside the step's dispose scope.</summary>
    /// <param name="context">The step, its loss, and the way to stop.</param>
    void OnStepEnd(StepEndContext context)
    {
    }

    /// <summary>Called after each epoch has been evaluated and recorded, before its checkpoint is written.</summary>
    /// <param name="context">The epoch's report, and the way to stop.</param>
    void OnEpochEnd(EpochEndContext context)
    {
    }
}

/// <summary>What a callback may do besides reading: ask the trainer to stop.</summary>
public abstract class TrainingCallbackContext
{
    private protected TrainingCallbackContext()
    {
    }

    /// <summary>Whether a callback asked to stop.</summary>
    public bool StopRequested { get; private set; }

    /// <summary>
    /// Asks the trainer to stop: after this step, the epoch ends early (it is reported over the steps
    /// done, evaluated and checkpointed); after an epoch, no further epoch starts. The result then has
    /// <see cref="TrainingResult.StoppedEarly"/> set, and resuming from its checkpoint returns it
    /// without training on.
    /// </summary>
    public void StopTraining() => StopRequested = true;
}

/// <summary>The end of one training step.</summary>
public sealed class StepEndContext : TrainingCallbackContext
{
    internal StepEndContext(TrainingPhase phase, int epoch, int epochs, int step, int stepCount, LossResult loss) =>
        (Phase, Epoch, Epochs, Step, StepCount, Loss) = (phase, epoch, epochs, step, stepCount, loss);

    /// <summary>The run's phase.</summary>
    public TrainingPhase Phase { get; }

    /// <summary>The epoch, from 1.</summary>
    public int Epoch { get; }

    /// <summary>Epochs in the run.</summary>
    public int Epochs { get; }

    /// <summary>The step within the epoch, from 0.</summary>
    public int Step { get; }

    /// <summary>Steps in the epoch.</summary>
    public int StepCount { get; }

    /// <summary>
    /// The step's loss and its named parts, on the training device. The tensors live until the
    /// callback returns; reading a value (<c>.item&lt;float&gt;()</c>) waits for the device, so a
    /// callback that reads every step slows training on an accelerator.
    /// </summary>
    public LossResult Loss { get; }
}

/// <summary>The end of one epoch.</summary>
public sealed class EpochEndContext : TrainingCallbackContext
{
    internal EpochEndContext(EpochReport report) => Report = report;

    /// <summary>The epoch's mean loss, parts, accuracy (when evaluated), timing and learning rate.</summary>
    public EpochReport Report { get; }
}
