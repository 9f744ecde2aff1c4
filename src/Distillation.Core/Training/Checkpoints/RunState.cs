using Distillation.Evaluation;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>The bookkeeping of one training run: history, timings, the best epoch and early stopping.</summary>
internal sealed class RunState : IDisposable
{
    public List<EpochReport> History { get; } = [];

    public int CompletedEpochs { get; set; }

    public int ResumedAfterEpoch { get; private init; }

    public TimeSpan TrainingTime { get; set; }

    public EvaluationResult? LastEvaluation { get; set; }

    public EvaluationResult? BestEvaluation { get; set; }

    public int? BestEpoch { get; private set; }

    public double? BestScore { get; private set; }

    public int EpochsWithoutImprovement { get; private set; }

    public bool StoppedEarly { get; set; }

    /// <summary>A copy of the best epoch's weights, kept when early stopping restores them.</summary>
    public Dictionary<string, Tensor>? BestState { get; private set; }

    public static RunState From(RunProgress progress, RunIdentity identity, Dictionary<string, Tensor>? bestState)
    {
        var state = new RunState
        {
            CompletedEpochs = progress.CompletedEpochs,
            ResumedAfterEpoch = progress.CompletedEpochs,
            TrainingTime = TimeSpan.FromTicks(progress.TrainingTimeTicks),
            LastEvaluation = progress.LastEvaluation?.ToResult(),
            BestEvaluation = progress.BestEvaluation?.ToResult(),
            BestEpoch = progress.BestEpoch,
            BestScore = progress.BestScore,
            EpochsWithoutImprovement = progress.EpochsWithoutImprovement,
            StoppedEarly = progress.StoppedEarly,
            BestState = bestState,
        };
        state.History.AddRange(progress.History.Select(e => e.ToReport(identity.Phase, identity.Epochs)));
        return state;
    }

    /// <summary>Records an epoch's score (higher is better); true when it is the best so far by more than <paramref name="minDelta"/>.</summary>
    public bool Observe(int epoch, double score, double minDelta)
    {
        if (BestScore is { } best && score <= best + minDelta)
        {
            EpochsWithoutImprovement++;
            return false;
        }

        BestScore = score;
        BestEpoch = epoch;
        EpochsWithoutImprovement = 0;
        return true;
    }

    public void ReplaceBestState(Dictionary<string, Tensor> state)
    {
        DisposeBestState();
        BestState = state;
    }

    public RunProgress ToProgress(string shuffleState, string augmentationState, string globalRandomState) => new(
        CompletedEpochs,
        History.Select(SavedEpoch.From).ToArray(),
        BestEpoch,
        BestScore,
        EpochsWithoutImprovement,
        StoppedEarly,
        TrainingTime.Ticks,
        SavedEvaluation.From(LastEvaluation),
        SavedEvaluation.From(BestEvaluation),
        shuffleState,
        augmentationState,
        globalRandomState);

    public void Dispose() => DisposeBestState();

    private void DisposeBestState()
    {
        foreach (var tensor in BestState?.Values ?? Enumerable.Empty<Tensor>())
        {
            tensor.Dispose();
        }

        BestState = null;
    }
}
