namespace Distillation.Training;

/// <summary>Which model a training run trains, and how.</summary>
public enum TrainingPhase
{
    /// <summary>The teacher, with cross-entropy.</summary>
    Teacher,

    /// <summary>The student alone, with cross-entropy and no teacher (the baseline, or a recipe's control).</summary>
    StudentAlone,

    /// <summary>The student, distilled from the frozen teacher.</summary>
    Distillation,
}

/// <summary>A progress report of a training run: a <see cref="BatchProgress"/> or an <see cref="EpochReport"/>.</summary>
/// <param name="Phase">The run's phase.</param>
/// <param name="Epoch">The epoch, from 1.</param>
/// <param name="Epochs">Epochs in the run.</param>
public abstract record TrainingProgress(TrainingPhase Phase, int Epoch, int Epochs);

/// <summary>Sent after every training batch; carries no loss, so reporting costs no device synchronisation.</summary>
/// <param name="Phase">The run's phase.</param>
/// <param name="Epoch">The epoch, from 1.</param>
/// <param name="Epochs">Epochs in the run.</param>
/// <param name="Batch">Batches done in this epoch, from 1.</param>
/// <param name="BatchCount">Batches in the epoch.</param>
/// <param name="EpochElapsed">Wall time since the epoch began.</param>
public sealed record BatchProgress(TrainingPhase Phase, int Epoch, int Epochs, int Batch, int BatchCount, TimeSpan EpochElapsed)
    : TrainingProgress(Phase, Epoch, Epochs);

/// <summary>Sent after every epoch.</summary>
/// <param name="Phase">The run's phase.</param>
/// <param name="Epoch">The epoch, from 1.</param>
/// <param name="Epochs">Epochs in the run.</param>
/// <param name="MeanLoss">The mean over the epoch's batches of the total loss, as the notebook prints it.</param>
/// <param name="LossParts">The mean of each named, unweighted part of the loss (e.g. <c>ce</c>, <c>kd</c>).</param>
/// <param name="Accuracy">Top-1 accuracy on the evaluation set when it was evaluated this epoch, else null.</param>
/// <param name="Images">Training images seen in the epoch.</param>
/// <param name="TrainingTime">Wall time of the epoch's training steps (evaluation excluded).</param>
/// <param name="LearningRate">The learning rate of the epoch, after schedule and warm-up.</param>
public sealed record EpochReport(
    TrainingPhase Phase,
    int Epoch,
    int Epochs,
    double MeanLoss,
    IReadOnlyDictionary<string, double> LossParts,
    double? Accuracy,
    long Images,
    TimeSpan TrainingTime,
    double LearningRate = double.NaN)
    : TrainingProgress(Phase, Epoch, Epochs)
{
    /// <summary>Training throughput of the epoch.</summary>
    public double ImagesPerSecond => TrainingTime > TimeSpan.Zero ? Images / TrainingTime.TotalSeconds : 0;

    /// <summary>
    /// With <see cref="TrainerOptions.TrackFidelity"/>, in a distillation epoch that was evaluated:
    /// the fraction of evaluation images on which the student's top-1 class is the teacher's; else null.
    /// </summary>
    public double? Agreement { get; init; }

    /// <summary>
    /// With <see cref="TrainerOptions.TrackFidelity"/>, in a distillation epoch that was evaluated:
    /// the mean over the evaluation images of KL(teacher ‖ student) between the two softmax
    /// distributions at temperature 1, in nats (0 when the student matches the teacher); else null.
    /// </summary>
    public double? TeacherKLDivergence { get; init; }

    /// <summary>
    /// With <see cref="TrainerOptions.TrackFidelity"/>, in a distillation epoch that was evaluated:
    /// the teacher's top-1 accuracy on the same evaluation images, with the same test-time
    /// augmentation as the student's (the same every epoch: the teacher is frozen); else null.
    /// </summary>
    public double? TeacherAccuracy { get; init; }
}
