using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Distillation.Evaluation;
using Distillation.IO;
using Distillation.Serialization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// The whole state of a training run after an epoch, in one file: a JSON header (what run it
/// belongs to, the history, the best epoch, the random streams), then the model's state dict, the
/// loss's own parameters, the optimizer's state and, with early stopping, the best weights; last
/// the SHA-256 of everything before it (format 2), checked before anything is read past the version.
/// </summary>
internal sealed class RunCheckpoint
{
    /// <summary>The first string of every checkpoint; <see cref="Distillation.Serialization.ModuleWeights"/> recognises it to say that a checkpoint is not a weights file.</summary>
    internal const string Magic = FileSignatures.Checkpoint;

    private const int FormatVersion = 2;

    /// <summary>Whether the file opens with <see cref="Magic"/>, written as a length-prefixed string.</summary>
    public static bool HasSignature(string path)
    {
        using var stream = File.OpenRead(path);
        return FileSignatures.OpensWith(stream, Magic);
    }

    // A renamed field is an error rather than a default value that fails later.
    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    private static readonly NullabilityInfoContext Nullability = new();

    /// <summary>Bytes of a CPU generator's state: what every saved random stream must decode to.</summary>
    private static readonly Lazy<long> GeneratorStateBytes = new(() =>
    {
        using var generator = new Generator();
        using var state = generator.get_state();
        return state.numel();
    });

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
            using var hashing = new PayloadChecksum.HashingStream(stream);
            using var writer = new BinaryWriter(hashing, System.Text.Encoding.UTF8, leaveOpen: true);
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

            writer.Flush();
            stream.Write(hashing.Hash());
        });
    }

    /// <summary>Checks the checksum, then reads the header: enough to check that the checkpoint belongs to the run.</summary>
    /// <exception cref="InvalidDataException">
    /// The file is not a checkpoint, is of an older format (without a checksum), is damaged (checksum
    /// mismatch), or its header is malformed (a field missing, renamed, null or of the wrong type, or out of range).
    /// </exception>
    public static RunCheckpoint ReadHeader(string path)
    {
        using var stream = File.OpenRead(path);
        using var reader = new BinaryReader(stream);
        var header = ReadHeader(reader, path);
        return new RunCheckpoint { Identity = header.Identity, Progress = header.Progress };
    }

    /// <summary>Restores model, loss parameters and optimizer from the file; returns the best weights when saved.</summary>
    /// <remarks>The checksum is checked before anything is copied, so a damaged file leaves everything as it was.</remarks>
    /// <exception cref="InvalidDataException">The file is damaged, malformed or does not fit the model, loss or optimizer.</exception>
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

            if (stream.Position != stream.Length - PayloadChecksum.Length)
            {
                throw new InvalidDataException($"Checkpoint {path} has {stream.Length - PayloadChecksum.Length - stream.Position:N0} bytes after its last entry; it does not fit this run.");
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
        string json;
        try
        {
            if (reader.ReadString() != Magic)
            {
                throw new InvalidDataException($"{path} is not a training checkpoint.");
            }

            var version = reader.ReadInt32();
            if (version == 1)
            {
                throw new InvalidDataException(
                    $"Checkpoint {path} predates checksums (format 1), so damage in it cannot be detected; it is not used. Delete it to train that run afresh.");
            }

            if (version != FormatVersion)
            {
                throw new InvalidDataException($"Checkpoint {path} has format version {version}; this library reads version {FormatVersion}.");
            }

            CheckChecksum(reader.BaseStream, path);
            reader.BaseStream.Position = Magic.Length + 1 + sizeof(int);
            json = reader.ReadString();
        }
        catch (Exception e) when (e is EndOfStreamException or IOException and not FileNotFoundException)
        {
            throw new InvalidDataException($"{path} is not a readable training checkpoint: {e.Message}", e);
        }

        Header header;
        try
        {
            using (var document = JsonDocument.Parse(json))
            {
                CheckShape(document.RootElement, typeof(Header), "header");
            }

            header = JsonSerializer.Deserialize<Header>(json, Json)!;
        }
        catch (JsonException e)
        {
            throw Malformed(path, e.Message, e);
        }

        CheckValues(header, path);
        return header;
    }

    /// <summary>Compares the SHA-256 stored at the end with that of everything before it.</summary>
    private static void CheckChecksum(Stream stream, string path)
    {
        var payloadLength = stream.Length - PayloadChecksum.Length;
        if (payloadLength < stream.Position)
        {
            throw new InvalidDataException($"Checkpoint {path} is cut short: it ends before its checksum; it is not used.");
        }

        Span<byte> stored = stackalloc byte[PayloadChecksum.Length];
        stream.Position = payloadLength;
        stream.ReadExactly(stored);
        if (!PayloadChecksum.Matches(stream, payloadLength, stored))
        {
            throw new InvalidDataException(
                $"Checkpoint {path} is damaged: its content does not match its SHA-256 checksum (a changed or missing byte); it is not used and nothing was loaded.");
        }
    }

    /// <summary>
    /// Every constructor parameter of the header's records is present (unless it has a default) and
    /// non-null (unless nullable): the deserializer would otherwise fill a missing field with null
    /// or zero and the run would fail later, far from the cause.
    /// </summary>
    private static void CheckShape(JsonElement element, Type type, string where)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException($"{where} is {element.ValueKind}, not an object.");
        }

        var constructor = type.GetConstructors().Single(c => c.GetParameters().Length > 0 && c.GetParameters()[0].ParameterType != type);
        foreach (var parameter in constructor.GetParameters())
        {
            var name = $"{where}.{parameter.Name}";
            if (!element.TryGetProperty(parameter.Name!, out var value))
            {
                if (parameter.HasDefaultValue)
                {
                    continue;
                }

                throw new JsonException($"{name} is missing.");
            }

            if (value.ValueKind == JsonValueKind.Null)
            {
                if (Nullability.Create(parameter).ReadState == NullabilityState.Nullable)
                {
                    continue;
                }

                throw new JsonException($"{name} is null.");
            }

            var valueType = Nullable.GetUnderlyingType(parameter.ParameterType) ?? parameter.ParameterType;
            if (IsHeaderRecord(valueType))
            {
                CheckShape(value, valueType, name);
            }
            else if (valueType.IsGenericType && valueType.GetGenericTypeDefinition() == typeof(IReadOnlyList<>)
                && IsHeaderRecord(valueType.GetGenericArguments()[0]) && value.ValueKind == JsonValueKind.Array)
            {
                var index = 0;
                foreach (var item in value.EnumerateArray())
                {
                    CheckShape(item, valueType.GetGenericArguments()[0], $"{name}[{index++}]");
                }
            }
        }
    }

    private static bool IsHeaderRecord(Type type) => type.IsClass && type.Namespace == typeof(RunCheckpoint).Namespace;

    /// <summary>The values that the run relies on without checking again.</summary>
    private static void CheckValues(Header header, string path)
    {
        var (identity, progress) = (header.Identity, header.Progress);
        string? problem =
            // The identity is printed when it does not match: it must not carry terminal control characters.
            PrintableText.Of(identity.LossName, 200) != identity.LossName || PrintableText.Of(identity.TeacherWeights, 200) != (identity.TeacherWeights ?? "")
                || PrintableText.Of(identity.Optimizer, 200) != (identity.Optimizer ?? "") || PrintableText.Of(identity.Schedule, 200) != (identity.Schedule ?? "")
                ? "the run's loss name, teacher fingerprint, optimizer or schedule is not printable text"
            : identity.Epochs < 1 || identity.BatchSize < 1 || identity.TrainCount < 0 || identity.ModelParameters < 0 ? $"the run's identity is out of range ({identity})"
            : header.LossParameterCount < 0 ? $"LossParameterCount is {header.LossParameterCount}"
            : progress.CompletedEpochs < 0 || progress.CompletedEpochs > identity.Epochs ? $"CompletedEpochs is {progress.CompletedEpochs} of {identity.Epochs}"
            : progress.History.Count != progress.CompletedEpochs ? $"the history has {progress.History.Count} epochs, CompletedEpochs is {progress.CompletedEpochs}"
            : progress.History.Select((e, i) => e.Epoch != i + 1 || e.Images < 0 || e.TrainingTimeTicks < 0 || e.LossParts is null).Any(bad => bad) ? "an epoch of the history is out of range"
            : progress.BestEpoch is { } best && (best < 1 || best > progress.CompletedEpochs) ? $"BestEpoch is {best} of {progress.CompletedEpochs}"
            : progress.EpochsWithoutImprovement < 0 || progress.TrainingTimeTicks < 0 ? "a counter is negative"
            : !Plausible(progress.LastEvaluation) || !Plausible(progress.BestEvaluation) ? "an evaluation is out of range"
            : !IsGeneratorState(progress.ShuffleState) || !IsGeneratorState(progress.AugmentationState) || !IsGeneratorState(progress.GlobalRandomState)
                ? "a random stream's state is not one of a generator"
            : null;
        if (problem is not null)
        {
            throw Malformed(path, problem + ".", null);
        }
    }

    private static bool Plausible(SavedEvaluation? evaluation) =>
        evaluation is null || (evaluation.Total >= 0 && evaluation.Correct >= 0 && evaluation.Correct <= evaluation.Total && evaluation.ElapsedTicks >= 0);

    private static bool IsGeneratorState(string base64)
    {
        var bytes = new byte[(base64.Length * 3 / 4) + 3];
        return Convert.TryFromBase64String(base64, bytes, out var written) && written == GeneratorStateBytes.Value;
    }

    private static InvalidDataException Malformed(string path, string problem, Exception? inner) =>
        new($"Checkpoint {path} has a malformed header: {PrintableText.Of(problem, 200)} It is not used; delete it to train that run afresh.", inner);

    private static OptimizerHelper AsHelper(optim.Optimizer optimizer) =>
        optimizer as OptimizerHelper ?? throw new NotSupportedException($"The optimizer {optimizer.GetType().Name} cannot save its state.");

    private sealed record Header(RunIdentity Identity, RunProgress Progress, int LossParameterCount);
}

/// <summary>
/// What identifies a run for resuming. <see cref="TeacherPrecision"/> is the precision the teacher
/// ran in, never Auto: a run resumed where Auto chooses the other precision is refused. The
/// optimizer, its learning rate and weight decay and the schedule's kind are part of it as well: a
/// resume with another learning rate would train its remaining epochs at it on an optimizer state
/// of the old one (and a finished run would train nothing at it), so it is refused naming the setting;
/// so is the augmentation (crop, flip, mixing: "none" when off), whose draws a resume replays.
/// </summary>
internal sealed record RunIdentity(TrainingPhase Phase, string LossName, int Epochs, int BatchSize, long Seed, int TrainCount, long ModelParameters, string? TeacherWeights, int GradientAccumulationSteps = 1, TeacherPrecision TeacherPrecision = TeacherPrecision.Float32,
    double? LearningRate = null, double? WeightDecay = null, string? Optimizer = null, string? Schedule = null, string? Augmentation = null,
    string? Precision = null)
{
    /// <summary>The settings a checkpoint records only since they became part of the identity: one that lacks them is compared on the others.</summary>
    internal static readonly IReadOnlySet<string> Recorded = new HashSet<string>(StringComparer.Ordinal) { nameof(LearningRate), nameof(WeightDecay), nameof(Optimizer), nameof(Schedule), nameof(Augmentation), nameof(Precision) };
}

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
    bool HasBestState = false,
    double? LossScale = null,
    int LossScaleGoodSteps = 0);

/// <summary>An epoch report as stored in a checkpoint.</summary>
internal sealed record SavedEpoch(int Epoch, double MeanLoss, Dictionary<string, double> LossParts, double? Accuracy, long Images, long TrainingTimeTicks, double LearningRate,
    double? Agreement = null, double? TeacherKLDivergence = null, double? TeacherAccuracy = null)
{
    public static SavedEpoch From(EpochReport report) => new(report.Epoch, report.MeanLoss, report.LossParts.ToDictionary(StringComparer.Ordinal), report.Accuracy, report.Images, report.TrainingTime.Ticks, report.LearningRate,
        report.Agreement, report.TeacherKLDivergence, report.TeacherAccuracy);

    public EpochReport ToReport(TrainingPhase phase, int epochs) => new(phase, Epoch, epochs, MeanLoss, LossParts, Accuracy, Images, TimeSpan.FromTicks(TrainingTimeTicks), LearningRate)
    {
        Agreement = Agreement,
        TeacherKLDivergence = TeacherKLDivergence,
        TeacherAccuracy = TeacherAccuracy,
    };
}

/// <summary>An evaluation result as stored in a checkpoint.</summary>
internal sealed record SavedEvaluation(long Correct, long Total, long ElapsedTicks)
{
    public static SavedEvaluation? From(EvaluationResult? result) => result is null ? null : new(result.Correct, result.Total, result.Elapsed.Ticks);

    public EvaluationResult ToResult() => new(Correct, Total, TimeSpan.FromTicks(ElapsedTicks));
}
