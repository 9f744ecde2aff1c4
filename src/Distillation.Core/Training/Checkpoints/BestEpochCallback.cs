using Distillation.Evaluation;
using Distillation.Serialization;
using Microsoft.Extensions.Logging;
using TorchSharp;

namespace Distillation.Training;

/// <summary>
/// A built-in part of the loop, always on: tracks the best epoch (accuracy on the evaluation set,
/// or the lowest loss without one), keeps its weights in memory when early stopping restores them
/// and on disk when <see cref="CheckpointOptions.KeepBest"/> asks, and at the end of the run puts the
/// best weights back when <see cref="EarlyStoppingOptions.RestoreBest"/> asks.
/// </summary>
internal sealed class BestEpochCallback : ITrainingCallback
{
    public void OnEpochEnd(EpochEndContext context)
    {
        var session = context.Session!;
        var (run, options, report) = (session.Run, session.Options, context.Report);
        var score = session.Evaluation is null ? -report.MeanLoss : context.Evaluation?.Accuracy;
        if (score is not { } value || !run.Observe(report.Epoch, value, options.EarlyStopping?.MinDelta ?? 0))
        {
            return;
        }

        run.BestEvaluation = context.Evaluation;
        if (options.EarlyStopping is { RestoreBest: true })
        {
            run.ReplaceBestState(session.Model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone().DetachFromDisposeScope(), StringComparer.Ordinal));
        }

        if (options.Checkpoints is { KeepBest: true } checkpoints)
        {
            session.Model.SaveWeights(checkpoints.BestWeightsPath(session.Phase));
        }
    }

    public void OnRunEnd(RunEndContext context)
    {
        var session = context.Session!;
        var run = session.Run;
        if (session.Options.EarlyStopping is { RestoreBest: true } && run.BestState is { } best && run.BestEpoch != run.CompletedEpochs)
        {
            session.Model.load_state_dict(best, strict: true);
            session.FinalEvaluation = run.BestEvaluation ?? session.FinalEvaluation;
        }
    }
}

/// <summary>
/// A built-in part of the loop, on with <see cref="TrainerOptions.EarlyStopping"/> (as Keras's
/// <c>EarlyStopping</c>): ends the run when the best epoch is <see cref="EarlyStoppingOptions.Patience"/>
/// epochs old. The run is marked as stopped, so a resume returns its result instead of training on.
/// </summary>
internal sealed partial class EarlyStoppingCallback(EarlyStoppingOptions options) : ITrainingCallback
{
    public void OnEpochEnd(EpochEndContext context)
    {
        var session = context.Session!;
        var run = session.Run;
        var epoch = context.Report.Epoch;
        if (run.EpochsWithoutImprovement >= options.Patience && epoch < session.Options.Epochs)
        {
            run.StoppedEarly = true;
            LogStoppedEarly(session.Logger, session.Phase, epoch, options.Patience, run.BestEpoch ?? 0);
        }
    }

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "{Phase}: stopped early after epoch {Epoch}, no improvement for {Patience} epochs; the best was epoch {BestEpoch}")]
    private static partial void LogStoppedEarly(ILogger logger, TrainingPhase phase, int epoch, int patience, int bestEpoch);
}
