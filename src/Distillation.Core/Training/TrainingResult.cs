using Distillation.Evaluation;

namespace Distillation.Training;

/// <summary>What a training run did: every epoch's report, the final evaluation and the timings.</summary>
/// <param name="Phase">The run's phase.</param>
/// <param name="LossName">The objective's name.</param>
/// <param name="Parameters">Trainable parameters of the trained model.</param>
/// <param name="History">One report per epoch, in order.</param>
/// <param name="FinalEvaluation">The evaluation of the model as returned: after the last epoch, or of the best epoch when early stopping restored it; null when no evaluation set was given.</param>
/// <param name="TrainingTime">Wall time of all training steps (evaluation excluded).</param>
/// <param name="TotalTime">Wall time of the whole call.</param>
public sealed partial record TrainingResult(
    TrainingPhase Phase,
    string LossName,
    long Parameters,
    IReadOnlyList<EpochReport> History,
    EvaluationResult? FinalEvaluation,
    TimeSpan TrainingTime,
    TimeSpan TotalTime)
{
    /// <summary>
    /// The epoch with the best score: the highest evaluation accuracy among the evaluated epochs, or
    /// the lowest training loss when no evaluation set was given; null when no epoch was scored.
    /// </summary>
    public int? BestEpoch { get; init; }

    /// <summary>Whether early stopping ended the run before its last planned epoch.</summary>
    public bool StoppedEarly { get; init; }

    /// <summary>The epoch after which the run was resumed from a checkpoint; 0 for a run from the start.</summary>
    public int ResumedAfterEpoch { get; init; }

    /// <summary>Whether the teacher's outputs were computed once and reused every epoch rather than run live.</summary>
    public bool TeacherOutputsCached { get; init; }

    /// <summary>The epochs trained (fewer than planned after early stopping).</summary>
    public int EpochsTrained => History.Count;

    /// <summary>The mean loss of the last epoch.</summary>
    public double LastEpochLoss => History[^1].MeanLoss;

    /// <summary>Top-1 accuracy after the last epoch, or null without an evaluation set.</summary>
    public double? FinalAccuracy => FinalEvaluation?.Accuracy;
}
