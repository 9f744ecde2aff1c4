using Distillation.IO;
using Distillation.Serialization;
using Microsoft.Extensions.Logging;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// A built-in part of the loop, on with <see cref="TrainerOptions.Checkpoints"/> (as Keras's
/// <c>BackupAndRestore</c>): at the start of a run it resumes from the phase's last checkpoint when
/// <see cref="CheckpointOptions.Resume"/> asks and one exists (refusing one of another run), and
/// after every epoch it writes the run's whole state (weights, optimizer, history, best epoch,
/// random streams) atomically, so a resumed run continues bit for bit.
/// </summary>
internal sealed partial class CheckpointCallback(CheckpointOptions options) : ITrainingCallback
{
    /// <summary>Continues from the phase's last checkpoint when asked to and one exists.</summary>
    public void OnRunStart(RunStartContext context)
    {
        var session = context.Session!;
        var identity = session.Identity;
        var path = options.LastCheckpointPath(identity.Phase);
        if (!options.Resume || !File.Exists(path))
        {
            return;
        }

        var saved = RunCheckpoint.ReadHeader(path);
        if (Differences(saved.Identity, identity) is { Length: > 0 } differences)
        {
            throw new CheckpointMismatchException(
                $"Checkpoint {path} belongs to another run: {differences}. Use another checkpoint folder, or turn Resume off to start afresh." +
                (saved.Identity.TeacherWeights != identity.TeacherWeights ? " The teacher's weights differ." : ""));
        }

        var bestState = RestoreOrRollBack(path, session.Model, session.LossParameters, session.Optimizer);
        var progress = saved.Progress;
        session.Streams.Import(progress.ShuffleState, progress.AugmentationState);
        RandomStreams.ImportGlobal(progress.GlobalRandomState);
        if (progress.LossScale is { } scale)
        {
            session.LossScaler?.Restore(scale, progress.LossScaleGoodSteps);
        }

        LogResumed(session.Logger, identity.Phase, progress.CompletedEpochs, identity.Epochs, path);
        session.Run.Dispose();
        session.Run = RunState.From(progress, identity, bestState);
    }

    /// <summary>Writes the state after the epoch; the trainer calls it last, once the epoch is complete and any stop is marked.</summary>
    public void OnEpochEnd(EpochEndContext context)
    {
        var session = context.Session!;
        var run = session.Run;
        var path = options.LastCheckpointPath(session.Phase);
        session.Streams.Advance(session.Shuffle, session.AugmentationDraws);
        var (shuffleState, augmentationState) = session.Streams.Export();
        var progress = run.ToProgress(shuffleState, augmentationState, RandomStreams.ExportGlobal()) with { LossScale = session.LossScaler?.Scale, LossScaleGoodSteps = session.LossScaler?.GoodSteps ?? 0 };
        RunCheckpoint.Write(path, session.Identity, progress, session.Model, session.LossParameters, session.Optimizer, run.BestState);
        LogCheckpointWritten(session.Logger, session.Phase, run.CompletedEpochs, path);
    }

    /// <summary>
    /// The settings that differ, each as the checkpoint has it and as this run has it (the teacher's
    /// digest is named, not printed); empty when the checkpoint belongs to this run. A setting the
    /// checkpoint does not record (written before it was part of the identity) is not compared.
    /// </summary>
    internal static string Differences(RunIdentity saved, RunIdentity current)
    {
        var differences = typeof(RunIdentity).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
            .Where(p => p.Name != "EqualityContract" && p.Name != nameof(RunIdentity.TeacherWeights))
            .Where(p => !(RunIdentity.Recorded.Contains(p.Name) && p.GetValue(saved) is null))
            .Where(p => !Equals(p.GetValue(saved), p.GetValue(current)))
            .Select(p => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{p.Name} = {Printable(p.GetValue(saved))} in the checkpoint, {p.Name} = {Printable(p.GetValue(current))} in this run"))
            .ToList();
        if (saved.TeacherWeights != current.TeacherWeights)
        {
            differences.Add("the teacher");
        }

        return string.Join("; ", differences);
    }

    // A checkpoint's strings come from a file: printed, they must not move the cursor or ring.
    private static string Printable(object? value) => PrintableText.Of(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{value}"));

    /// <summary>Restores from the checkpoint; when it turns out damaged midway, puts the model and the loss's parameters back as they were.</summary>
    private static Dictionary<string, Tensor>? RestoreOrRollBack(string path, nn.Module model, IReadOnlyList<Parameter> lossParameters, optim.Optimizer optimizer)
    {
        // The copies live outside any dispose scope around Restore: a scope there would also dispose
        // the optimizer state that loading creates (SGD's momentum buffers, absent before the first step).
        Dictionary<string, Tensor> modelBefore;
        Tensor[] lossBefore;
        using (NewDisposeScope())
        {
            modelBefore = model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone().DetachFromDisposeScope(), StringComparer.Ordinal);
            lossBefore = lossParameters.Select(p => p.detach().clone().DetachFromDisposeScope()).ToArray();
        }

        try
        {
            return RunCheckpoint.Restore(path, model, lossParameters, optimizer);
        }
        catch (InvalidDataException)
        {
            model.load_state_dict(modelBefore, strict: true);
            using (no_grad())
            {
                foreach (var (parameter, before) in lossParameters.Zip(lossBefore))
                {
                    parameter.copy_(before);
                }
            }

            throw;
        }
        finally
        {
            foreach (var tensor in modelBefore.Values.Concat(lossBefore))
            {
                tensor.Dispose();
            }
        }
    }

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "{Phase}: resumed after epoch {Epoch}/{Epochs} from {Path}")]
    private static partial void LogResumed(ILogger logger, TrainingPhase phase, int epoch, int epochs, string path);

    [LoggerMessage(EventId = 104, Level = LogLevel.Debug, Message = "{Phase}: checkpoint after epoch {Epoch} written to {Path}")]
    private static partial void LogCheckpointWritten(ILogger logger, TrainingPhase phase, int epoch, string path);
}
