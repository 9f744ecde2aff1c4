using TorchSharp;
using static TorchSharp.torch;
using Distillation.Evaluation;
using Distillation.Losses;

namespace Distillation.Training;

/// <summary>
/// Code that runs inside a training call, at its start, at the end of every step and of every
/// epoch, and at its end, to read metrics, log them elsewhere, or stop training. Register it in
/// <see cref="TrainerOptions.Callbacks"/>; implement only the methods you need. The trainer's own
/// checkpointing, best-epoch tracking and early stopping are built-in callbacks of this kind, which
/// the options switch on (as Keras's <c>BackupAndRestore</c> and <c>EarlyStopping</c>).
/// </summary>
public interface ITrainingCallback
{
    /// <summary>Called once the run is set up (and resumed from its checkpoint, if asked), before its first epoch.</summary>
    /// <param name="context">The phase, the epochs, and where a resumed run continues.</param>
    void OnRunStart(RunStartContext context)
    {
    }

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

    /// <summary>Called when the last epoch has ended (or the run stopped early), before the result is built; not when the run throws.</summary>
    /// <param name="context">The phase and the epochs completed.</param>
    void OnRunEnd(RunEndContext context)
    {
    }
}

/// <summary>What a callback learns when a run starts.</summary>
public sealed class RunStartContext
{
    internal RunStartContext(RunSession session) =>
        (Session, Phase, Epochs, ResumedAfterEpoch) = (session, session.Phase, session.Options.Epochs, session.Run.ResumedAfterEpoch);

    /// <summary>The phase that trains.</summary>
    public TrainingPhase Phase { get; }

    /// <summary>The epochs the run has in all.</summary>
    public int Epochs { get; }

    /// <summary>The epochs a resumed run had already completed; 0 for a fresh run.</summary>
    public int ResumedAfterEpoch { get; }

    /// <summary>The run, for the built-in callbacks.</summary>
    internal RunSession Session { get; }
}

/// <summary>What a callback learns when a run ends.</summary>
public sealed class RunEndContext
{
    internal RunEndContext(RunSession session) =>
        (Session, Phase, CompletedEpochs, StoppedEarly) = (session, session.Phase, session.Run.CompletedEpochs, session.Run.StoppedEarly);

    /// <summary>The phase that trained.</summary>
    public TrainingPhase Phase { get; }

    /// <summary>The epochs completed.</summary>
    public int CompletedEpochs { get; }

    /// <summary>Whether the run stopped before its last epoch.</summary>
    public bool StoppedEarly { get; }

    /// <summary>The run, for the built-in callbacks.</summary>
    internal RunSession Session { get; }
}

/// <summary>The end of one training step.</summary>
public sealed class StepEndContext
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

    /// <summary>Whether a callback asked to stop.</summary>
    public bool StopRequested { get; private set; }

    /// <summary>
    /// Asks the trainer to stop after this step: the epoch ends early (it is reported over the steps
    /// done, evaluated and checkpointed) and no further epoch starts. The result then has
    /// <see cref="TrainingResult.StoppedEarly"/> set, and resuming from its checkpoint returns it
    /// without training on.
    /// </summary>
    public void StopTraining() => StopRequested = true;
}

/// <summary>The end of one epoch.</summary>
public sealed class EpochEndContext
{
    internal EpochEndContext(EpochReport report, RunSession? session = null, EvaluationResult? evaluation = null) =>
        (Report, Session, Evaluation) = (report, session, evaluation);

    /// <summary>The run, for the built-in callbacks.</summary>
    internal RunSession? Session { get; }

    /// <summary>The epoch's evaluation, when there was one.</summary>
    internal EvaluationResult? Evaluation { get; }

    /// <summary>The epoch's mean loss, parts, accuracy (when evaluated), timing and learning rate.</summary>
    public EpochReport Report { get; }

    /// <summary>
    /// The model this run trains (the teacher in a teacher run, else the student), with the
    /// epoch's weights; for reading or saving them (<see cref="SnapshotCallback"/>). Changing
    /// them changes the run.
    /// </summary>
    public nn.Module<Tensor, Tensor> Model => Session?.Model ?? throw new InvalidOperationException("This context belongs to no run.");

    /// <summary>Whether a callback asked to stop.</summary>
    public bool StopRequested { get; private set; }

    /// <summary>
    /// Asks the trainer to stop: no further epoch starts (this one is already reported, evaluated
    /// and checkpointed). The result then has
    /// <see cref="TrainingResult.StoppedEarly"/> set, and resuming from its checkpoint returns it
    /// without training on.
    /// </summary>
    public void StopTraining() => StopRequested = true;
}
