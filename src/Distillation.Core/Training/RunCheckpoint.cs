using System.Text.Json;
using System.Text.Json.Serialization;
using Distillation.Evaluation;
using Distillation.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// The whole state of a training run after an epoch, in one file: a JSON header (what run it
/// belongs to, the history, the best epoch, the random streams), then the model's state dict, the
/// loss's own parameters, the optimizer's state and, with early stopping, the best weights.
/// </summary>
internal sealed class RunCheckpoint
{
    private const string Magic = "Distillation.Checkpoint";
    private const int FormatVersion = 1;

    private static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>What identifies the run; a checkpoint resumes only a run with the same identity.</summary>
    public required RunIdentity Identity { get; init; }

    /// <summary>The run's progress and bookkeeping.</summary>
    public required RunProgress Progress { get; init; }

    /// <summary>Writes the checkpoint atomically.</summary>
    public static void Write(
        string path,
        RunIdentity identity,
        RunProgress progress,
        nn.Module model,
        IReadOnlyList<Parameter> lossParameters,
        optim.Optimizer optimizer,
        IReadOnlyDictionary<string, Tensor>? bestState)
    {
        AtomicFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
            writer.Write(Magic);
            writer.Write(FormatVersion);
            writer.Write(JsonSerializer.Serialize(new Header(identity, progress with { HasBestState = bestState is not null }, lossParameters.Count), Json));
            model.save(writer);
            foreach (var parameter in lossParameters)
            {
                parameter.Save(writer);
            }

            AsHelper(optimizer).save_state_dict(writer);
            if (bestState is not null)
            {
                writer.Write(bestState.Count);
                foreach (var (name, tensor) in bestState)
                {
                    writer.Write(name);
                    tensor.Save(writer);
                }
            }
        });
    }

    /// <summary>Reads the header only: enough to check that the checkpoint belongs to the run.</summary>
    /// <exception cref="InvalidDataException">The file is not a checkpoint of this format.</exception>
    public static RunCheckpoint ReadHeader(string path)
    {
        using var stream = File.OpenRead(path);
        using var reader = new BinaryReader(stream);
        var header = ReadHeader(reader, path);
        return new RunCheckpoint { Identity = header.Identity, Progress = header.Progress };
    }

    /// <summary>Restores model, loss parameters and optimizer from the file; returns the best weights when saved.</summary>
    /// <exception cref="InvalidDataException">The file is damaged or does not fit the model, loss or optimizer.</exception>
    public static Dictionary<string, Tensor>? Restore(string path, nn.Module model, IReadOnlyList<Parameter> lossParameters, optim.Optimizer optimizer)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using var reader = new BinaryReader(stream);
            var header = ReadHeader(reader, path);
            if (header.LossParameterCount != lossParameters.Count)
            {
                throw new InvalidDataException($"Checkpoint {path} holds {header.LossParameterCount} loss parameters; the loss has {lossParameters.Count}.");
            }

            model.load(reader, strict: true);
            using (no_grad())
            {
                foreach (var parameter in lossParameters)
                {
                    using var saved = TensorExtensionMethods.Load(reader);
                    parameter.copy_(saved);
                }
            }

            AsHelper(optimizer).load_state_dict(reader);
            if (!header.Progress.HasBestState)
            {
                return null;
            }

            var count = reader.ReadInt32();
            var best = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            for (var i = 0; i < count; i++)
            {
                var name = reader.ReadString();
                best[name] = TensorExtensionMethods.Load(reader).DetachFromDisposeScope();
            }

            return best;
        }
        catch (Exception e) when (e is EndOfStreamException or ArgumentException or InvalidOperationException or IOException and not FileNotFoundException)
        {
            throw new InvalidDataException($"Checkpoint {path} is damaged or does not fit this run: {e.Message}", e);
        }
    }

    private static Header ReadHeader(BinaryReader reader, string path)
    {
        try
        {
            if (reader.ReadString() != Magic)
            {
                throw new InvalidDataException($"{path} is not a training checkpoint.");
            }

            var version = reader.ReadInt32();
            if (version != FormatVersion)
            {
                throw new InvalidDataException($"Checkpoint {path} has format version {version}; this library reads version {FormatVersion}.");
            }

            return JsonSerializer.Deserialize<Header>(reader.ReadString(), Json)
                ?? throw new InvalidDataException($"Checkpoint {path} has an empty header.");
        }
        catch (Exception e) when (e is EndOfStreamException or JsonException or IOException)
        {
            throw new InvalidDataException($"{path} is not a readable training checkpoint: {e.Message}", e);
        }
    }

    private static OptimizerHelper AsHelper(optim.Optimizer optimizer) =>
        optimizer as OptimizerHelper ?? throw new NotSupportedException($"The optimizer {optimizer.GetType().Name} cannot save its state.");

    private sealed record Header(RunIdentity Identity, RunProgress Progress, int LossParameterCount);
}

/// <summary>What identifies a run for resuming.</summary>
internal sealed record RunIdentity(TrainingPhase Phase, string LossName, int Epochs, int BatchSize, long Seed, int TrainCount, long ModelParameters, string? TeacherWeights, int GradientAccumulationSteps = 1);

/// <summary>A run's state after <see cref="CompletedEpochs"/> epochs, besides tensors.</summary>
internal sealed record RunProgress(
    int CompletedEpochs,
    IReadOnlyList<SavedEpoch> History,
    int? BestEpoch,
    double? BestScore,
    int EpochsWithoutImprovement,
    bool StoppedEarly,
    long TrainingTimeTicks,
    SavedEvaluation? LastEvaluation,
    SavedEvaluation? BestEvaluation,
    string ShuffleState,
    string AugmentationState,
    string GlobalRandomState,
    bool HasBestState = false);

/// <summary>An epoch report as stored in a checkpoint.</summary>
internal sealed record SavedEpoch(int Epoch, double MeanLoss, Dictionary<string, double> LossParts, double? Accuracy, long Images, long TrainingTimeTicks, double LearningRate)
{
    public static SavedEpoch From(EpochReport report) => new(report.Epoch, report.MeanLoss, report.LossParts.ToDictionary(StringComparer.Ordinal), report.Accuracy, report.Images, report.TrainingTime.Ticks, report.LearningRate);

    public EpochReport ToReport(TrainingPhase phase, int epochs) => new(phase, Epoch, epochs, MeanLoss, LossParts, Accuracy, Images, TimeSpan.FromTicks(TrainingTimeTicks), LearningRate);
}

/// <summary>An evaluation result as stored in a checkpoint.</summary>
internal sealed record SavedEvaluation(long Correct, long Total, long ElapsedTicks)
{
    public static SavedEvaluation? From(EvaluationResult? result) => result is null ? null : new(result.Correct, result.Total, result.Elapsed.Ticks);

    public EvaluationResult ToResult() => new(Correct, Total, TimeSpan.FromTicks(ElapsedTicks));
}
