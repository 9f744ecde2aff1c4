using System.Diagnostics;
using System.Globalization;
using Distillation.Data;
using Distillation.Devices;
using Distillation.Evaluation;
using Distillation.Losses;
using Distillation.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// Trains a teacher and a student and distills the one into the other: cross-entropy training of
/// either model, distillation of the student from the frozen teacher with any
/// <see cref="IDistillationLoss"/>, and evaluation. Both models are moved to the device chosen by
/// <see cref="TrainerOptions.Device"/> when the trainer is created.
/// </summary>
/// <typeparam name="TTeacher">The teacher's type.</typeparam>
/// <typeparam name="TStudent">The student's type.</typeparam>
public sealed partial class Trainer<TTeacher, TStudent>
    where TTeacher : nn.Module<Tensor, Tensor>
    where TStudent : nn.Module<Tensor, Tensor>
{
    private readonly ILogger logger;
    private readonly RandomStreams streams;

    /// <summary>Creates a trainer and moves both models to the chosen device.</summary>
    /// <param name="teacher">The teacher.</param>
    /// <param name="student">The student.</param>
    /// <param name="options">Training settings; the notebook's when null.</param>
    /// <param name="logger">Receives the device, and one line per epoch; none when null.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="DeviceNotAvailableException">The requested device is not available.</exception>
    public Trainer(TTeacher teacher, TStudent student, TrainerOptions? options = null, ILogger<Trainer<TTeacher, TStudent>>? logger = null)
        : this(teacher, student, options ?? new TrainerOptions(), logger ?? (ILogger)NullLogger.Instance, device: null, streams: null)
    {
    }

    private Trainer(TTeacher teacher, TStudent student, TrainerOptions options, ILogger logger, Device? device, RandomStreams? streams)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        this.logger = logger;
        this.streams = streams ?? RandomStreams.FromSeed(options.Seed);

        Device = device ?? DeviceSelector.Resolve(Options.Device, this.logger);
        Teacher = teacher;
        Student = student;
        Teacher.to(Device);
        Student.to(Device);
    }

    /// <summary>
    /// A trainer for another student with the same teacher, device and logger: to distill a freshly
    /// initialised student (from scratch), or a copy of a trained one, without touching this trainer's.
    /// </summary>
    /// <remarks>
    /// When the new settings keep this trainer's <see cref="TrainerOptions.Seed"/> (always so when
    /// <paramref name="options"/> is null), the new trainer continues from a copy of this trainer's
    /// shuffling and augmentation streams: it draws the permutations this trainer would draw next,
    /// so two students continued from one trained model see the same batches as each other, and
    /// none the model has already seen in that order. With another seed its streams start afresh.
    /// </remarks>
    /// <param name="student">The other student; moved to this trainer's device.</param>
    /// <param name="options">Settings for the new trainer; this trainer's when null. Its device settings are ignored: the device stays.</param>
    /// <returns>The new trainer.</returns>
    public Trainer<TTeacher, TStudent> WithStudent(TStudent student, TrainerOptions? options = null)
    {
        var settings = options ?? Options;
        return new(Teacher, student, settings, logger, Device, settings.Seed == Options.Seed ? streams.Copy() : null);
    }

    /// <summary>The settings.</summary>
    public TrainerOptions Options { get; }

    /// <summary>The device both models live on.</summary>
    public Device Device { get; }

    /// <summary>The teacher.</summary>
    public TTeacher Teacher { get; }

    /// <summary>The student.</summary>
    public TStudent Student { get; }

    /// <summary>Trains the teacher with cross-entropy.</summary>
    /// <param name="train">The training set, shuffled each epoch.</param>
    /// <param name="evaluation">Evaluated after the last epoch (and every epoch if asked); none when null.</param>
    /// <param name="progress">Receives batch progress and epoch reports.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The history, final evaluation and timings.</returns>
    public TrainingResult TrainTeacher(ImageDataset train, ImageDataset? evaluation = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Run(TrainingPhase.Teacher, Teacher, null, new CrossEntropyLoss(), train, evaluation, progress, cancellationToken);

    /// <summary>Trains the student alone with cross-entropy: the baseline that distillation is measured against.</summary>
    /// <param name="train">The training set, shuffled each epoch.</param>
    /// <param name="evaluation">Evaluated after the last epoch (and every epoch if asked); none when null.</param>
    /// <param name="progress">Receives batch progress and epoch reports.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The history, final evaluation and timings.</returns>
    public TrainingResult TrainStudent(ImageDataset train, ImageDataset? evaluation = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Run(TrainingPhase.Student, Student, null, new CrossEntropyLoss(), train, evaluation, progress, cancellationToken);

    /// <summary>
    /// Distills the student from the teacher. The teacher stays in eval mode and runs without
    /// gradients; only the student's parameters are optimized. The student continues from its
    /// current weights, so pass a fresh student to distill from scratch.
    /// </summary>
    /// <param name="train">The training set, shuffled each epoch.</param>
    /// <param name="evaluation">Evaluated after the last epoch (and every epoch if asked); none when null.</param>
    /// <param name="loss">The objective; the notebook's <see cref="KLDivergenceLoss"/> (T = 10, CE + KD) when null.</param>
    /// <param name="progress">Receives batch progress and epoch reports.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The history, final evaluation and timings.</returns>
    public TrainingResult Distill(ImageDataset train, ImageDataset? evaluation = null, IDistillationLoss? loss = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Run(TrainingPhase.Distillation, Student, Teacher, loss ?? new KLDivergenceLoss(), train, evaluation, progress, cancellationToken);

    /// <summary>Top-1 accuracy of the teacher on <paramref name="data"/>.</summary>
    /// <param name="data">The labelled images.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The evaluation.</returns>
    public EvaluationResult EvaluateTeacher(ImageDataset data, CancellationToken cancellationToken = default) =>
        Evaluator.Evaluate(Teacher, data, Device, Options.EvaluationBatchSize, cancellationToken);

    /// <summary>Top-1 accuracy of the student on <paramref name="data"/>.</summary>
    /// <param name="data">The labelled images.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The evaluation.</returns>
    public EvaluationResult EvaluateStudent(ImageDataset data, CancellationToken cancellationToken = default) =>
        Evaluator.Evaluate(Student, data, Device, Options.EvaluationBatchSize, cancellationToken);

    private TrainingResult Run(
        TrainingPhase phase,
        nn.Module<Tensor, Tensor> model,
        nn.Module<Tensor, Tensor>? teacher,
        IDistillationLoss loss,
        ImageDataset train,
        ImageDataset? evaluation,
        IProgress<TrainingProgress>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (train.Count == 0)
        {
            throw new ArgumentException("The training set is empty.", nameof(train));
        }

        var runTeacher = teacher is not null && loss.NeedsTeacher;
        if (teacher is null && (loss.NeedsTeacher || loss.TeacherFeatureModules.Count > 0))
        {
            throw new ArgumentException($"The {loss.Name} loss needs a teacher; use Distill.", nameof(loss));
        }

        var totalTime = Stopwatch.StartNew();
        var parameters = model.parameters().Sum(p => p.numel());
        LogRunStarting(logger, phase, loss.Name, parameters, train.Count, Options.Epochs, Device);

        // Feature terms read hooked module outputs; a loss's own parameters (e.g. a hint regressor) train with the student.
        using var studentFeatures = new FeatureCapture(model, loss.StudentFeatureModules);
        using var teacherFeatures = runTeacher ? new FeatureCapture(teacher!, loss.TeacherFeatureModules) : null;
        loss.MoveTo(Device);
        var lossParameters = loss.TrainableParameters.ToArray();
        var trained = model.parameters().Concat(lossParameters).ToArray();
        using var optimizer = Optimization.CreateOptimizer(trained, Options.Optimizer);
        var schedule = new LearningRateSchedule(Options.Schedule, Options.Optimizer.LearningRate, Options.Epochs);
        var augmentation = Options.Augmentation is { } augmentationOptions ? new BatchAugmentation(augmentationOptions, train.Normalization) : null;
        var identity = new RunIdentity(phase, loss.Name, Options.Epochs, Options.BatchSize, Options.Seed, train.Count, parameters,
            TeacherWeights: runTeacher && Options.Checkpoints is not null ? ModuleFingerprint.Of(teacher!) : null);
        using var run = ResumeOrStart(identity, model, lossParameters, optimizer);
        var epochsLeft = run.CompletedEpochs < Options.Epochs && !run.StoppedEarly;
        using var teacherCache = runTeacher && epochsLeft ? PrepareTeacherCache(teacher!, teacherFeatures, train, augmented: augmentation is not null, cancellationToken) : null;

        // Early stopping and the best checkpoint need a score every epoch.
        var evaluateEveryEpoch = Options.EvaluateEveryEpoch || Options.EarlyStopping is not null || Options.Checkpoints is { KeepBest: true };
        var (shuffle, augmentationDraws) = streams.Open();
        using var disposeShuffle = shuffle;
        using var disposeAugmentationDraws = augmentationDraws;

        try
        {
            for (var epoch = run.CompletedEpochs + 1; epoch <= Options.Epochs && !run.StoppedEarly; epoch++)
            {
                model.train();
                teacher?.eval();
                var learningRate = schedule.Apply(optimizer, epoch);
                var epochClock = Stopwatch.StartNew();
                using var plan = train.PlanBatches(Options.BatchSize, shuffle);
                using var sums = new LossSums(Device);

                // The first step whose loss was not finite, tracked on the device: no host synchronisation per batch.
                using var firstBadStep = full(1, -1L, dtype: ScalarType.Int64, device: Device);

                for (var step = 0; step < plan.BatchCount; step++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    using (NewDisposeScope())
                    {
                        var batch = plan.GetBatch(step, Device);
                        var images = augmentation?.Apply(batch.Images, augmentationDraws) ?? batch.Images;
                        Tensor? teacherLogits = null;
                        IReadOnlyDictionary<string, Tensor>? cachedTeacherFeatures = null;
                        if (teacherCache is not null)
                        {
                            (teacherLogits, cachedTeacherFeatures) = teacherCache.Lookup(plan.GetIndices(step));
                        }
                        else if (runTeacher)
                        {
                            using var noGrad = no_grad();
                            teacherLogits = teacher!.call(images);
                        }

                        optimizer.zero_grad();
                        var studentLogits = model.call(images);
                        var result = loss.Compute(new DistillationContext(studentLogits, batch.Labels, teacherLogits)
                        {
                            StudentFeatures = studentFeatures.Outputs,
                            TeacherFeatures = cachedTeacherFeatures ?? teacherFeatures?.Outputs ?? DistillationContext.NoFeatures,
                            Epoch = epoch,
                            Epochs = Options.Epochs,
                            Step = step,
                        });
                        firstBadStep.masked_fill_(firstBadStep.lt(0).logical_and(result.Total.detach().isfinite().logical_not()), step);
                        result.Total.backward();
                        if (Options.Optimizer.GradientClipNorm is { } maxNorm)
                        {
                            Optimization.ClipGradients(trained, maxNorm);
                        }

                        optimizer.step();
                        sums.Add(result);
                        studentFeatures.Clear();
                        teacherFeatures?.Clear();
                    }

                    progress?.Report(new BatchProgress(phase, epoch, Options.Epochs, step + 1, plan.BatchCount, epochClock.Elapsed));
                }

                var epochTime = epochClock.Elapsed;
                run.TrainingTime += epochTime;
                var (meanLoss, parts) = sums.Means(plan.BatchCount);
                var badStep = firstBadStep.item<long>();
                if (badStep >= 0 || !double.IsFinite(meanLoss))
                {
                    var kept = Options.Checkpoints is null ? string.Empty
                        : run.CompletedEpochs > 0 ? $" The checkpoint of epoch {run.CompletedEpochs} is kept." : " No checkpoint was written.";
                    throw new TrainingDivergedException(phase, epoch, badStep >= 0 ? (int)badStep : null,
                        string.Create(CultureInfo.InvariantCulture, $"The {phase} loss ({loss.Name}) became {meanLoss} in epoch {epoch}, first at step {badStep} of {plan.BatchCount}; training stopped.{kept} Lower the learning rate or check the inputs."));
                }

                EvaluationResult? epochEvaluation = null;
                if (evaluation is not null && (evaluateEveryEpoch || epoch == Options.Epochs))
                {
                    epochEvaluation = Evaluator.Evaluate(model, evaluation, Device, Options.EvaluationBatchSize, cancellationToken);
                    run.LastEvaluation = epochEvaluation;
                }

                var report = new EpochReport(phase, epoch, Options.Epochs, meanLoss, parts, epochEvaluation?.Accuracy, train.Count, epochTime, learningRate);
                run.History.Add(report);
                var score = evaluation is null ? -meanLoss : epochEvaluation?.Accuracy;
                if (score is { } value && run.Observe(epoch, value, Options.EarlyStopping?.MinDelta ?? 0))
                {
                    run.BestEvaluation = epochEvaluation;
                    KeepBest(phase, model, run);
                }

                if (Options.EarlyStopping is { } stopping && run.EpochsWithoutImprovement >= stopping.Patience && epoch < Options.Epochs)
                {
                    run.StoppedEarly = true;
                    LogStoppedEarly(logger, phase, epoch, stopping.Patience, run.BestEpoch ?? 0);
                }

                run.CompletedEpochs = epoch;
                if (Options.Checkpoints is { } checkpoints)
                {
                    streams.Advance(shuffle, augmentationDraws);
                    WriteCheckpoint(checkpoints.LastCheckpointPath(phase), identity, run, model, lossParameters, optimizer);
                }

                LogEpoch(logger, phase, epoch, Options.Epochs, meanLoss, FormatParts(parts), report.ImagesPerSecond, epochEvaluation?.Accuracy);
                progress?.Report(report);
            }
        }
        finally
        {
            // Where the streams stand now is where the next training call (or a WithStudent copy) continues.
            streams.Advance(shuffle, augmentationDraws);
        }

        var finalEvaluation = run.LastEvaluation;
        if (Options.EarlyStopping is { RestoreBest: true } && run.BestState is { } best && run.BestEpoch != run.CompletedEpochs)
        {
            model.load_state_dict(best, strict: true);
            finalEvaluation = run.BestEvaluation ?? finalEvaluation;
        }

        model.eval();
        return new TrainingResult(phase, loss.Name, parameters, run.History, finalEvaluation, run.TrainingTime, totalTime.Elapsed)
        {
            BestEpoch = run.BestEpoch,
            StoppedEarly = run.StoppedEarly,
            ResumedAfterEpoch = run.ResumedAfterEpoch,
            TeacherOutputsCached = teacherCache is not null,
        };
    }

    /// <summary>
    /// The teacher's outputs over the training set, loaded or computed once, when caching is on and
    /// the inputs do not change between epochs (no augmentation); null to run the teacher live.
    /// </summary>
    private TeacherOutputCache? PrepareTeacherCache(nn.Module<Tensor, Tensor> teacher, FeatureCapture? capture, ImageDataset train, bool augmented, CancellationToken cancellationToken)
    {
        var settings = Options.TeacherOutputs;
        if (settings.Caching == TeacherOutputCaching.Never || augmented)
        {
            return null;
        }

        var clock = Stopwatch.StartNew();
        var featurePaths = capture?.Paths.ToArray() ?? [];
        var file = settings.Directory is { } directory ? TeacherOutputCache.FileFor(directory, teacher, train, featurePaths) : null;
        if (file is not null && TeacherOutputCache.TryLoad(file, train.Count, featurePaths, Device) is { } loaded)
        {
            LogTeacherCacheLoaded(logger, file, loaded.Bytes, clock.Elapsed.TotalSeconds);
            return loaded;
        }

        var bytes = TeacherOutputCache.EstimateBytes(teacher, capture, train, Device);
        if (bytes > settings.MaxBytes)
        {
            LogTeacherCacheTooLarge(logger, bytes, settings.MaxBytes);
            return null;
        }

        var cache = TeacherOutputCache.Build(teacher, capture, train, Device, Options.EvaluationBatchSize, cancellationToken);
        if (file is not null)
        {
            try
            {
                cache.Save(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                LogTeacherCacheNotSaved(logger, file, e.Message);
            }
        }

        LogTeacherCacheBuilt(logger, train.Count, cache.Bytes, clock.Elapsed.TotalSeconds);
        return cache;
    }

    /// <summary>Continues from the phase's last checkpoint when asked to and one exists; else a fresh run.</summary>
    private RunState ResumeOrStart(RunIdentity identity, nn.Module model, IReadOnlyList<Parameter> lossParameters, optim.Optimizer optimizer)
    {
        if (Options.Checkpoints is not { Resume: true } checkpoints || !File.Exists(checkpoints.LastCheckpointPath(identity.Phase)))
        {
            return new RunState();
        }

        var path = checkpoints.LastCheckpointPath(identity.Phase);
        var saved = RunCheckpoint.ReadHeader(path);
        if (saved.Identity != identity)
        {
            throw new CheckpointMismatchException(
                $"Checkpoint {path} belongs to another run ({saved.Identity}); this run is {identity}. Use another checkpoint folder, or turn Resume off to start afresh." +
                (saved.Identity.TeacherWeights != identity.TeacherWeights ? " The teacher's weights differ." : ""));
        }

        var bestState = RestoreOrRollBack(path, model, lossParameters, optimizer);
        var progress = saved.Progress;
        streams.Import(progress.ShuffleState, progress.AugmentationState);
        RandomStreams.ImportGlobal(progress.GlobalRandomState);
        LogResumed(logger, identity.Phase, progress.CompletedEpochs, identity.Epochs, path);
        return RunState.From(progress, identity, bestState);
    }

    /// <summary>Restores from the checkpoint; when it turns out damaged midway, puts the model and the loss's parameters back as they were.</summary>
    private static Dictionary<string, Tensor>? RestoreOrRollBack(string path, nn.Module model, IReadOnlyList<Parameter> lossParameters, optim.Optimizer optimizer)
    {
        using var scope = NewDisposeScope();
        var modelBefore = model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone(), StringComparer.Ordinal);
        var lossBefore = lossParameters.Select(p => p.detach().clone()).ToArray();
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
    }

    private void KeepBest(TrainingPhase phase, nn.Module model, RunState run)
    {
        if (Options.EarlyStopping is { RestoreBest: true })
        {
            run.ReplaceBestState(model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone().DetachFromDisposeScope(), StringComparer.Ordinal));
        }

        if (Options.Checkpoints is { KeepBest: true } checkpoints)
        {
            model.SaveWeights(checkpoints.BestWeightsPath(phase));
        }
    }

    private void WriteCheckpoint(string path, RunIdentity identity, RunState run, nn.Module model, IReadOnlyList<Parameter> lossParameters, optim.Optimizer optimizer)
    {
        var (shuffleState, augmentationState) = streams.Export();
        RunCheckpoint.Write(path, identity, run.ToProgress(shuffleState, augmentationState, RandomStreams.ExportGlobal()), model, lossParameters, optimizer, run.BestState);
        LogCheckpointWritten(logger, identity.Phase, run.CompletedEpochs, path);
    }

    private static string FormatParts(IReadOnlyDictionary<string, double> parts) =>
        string.Join(", ", parts.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {p.Value:F4}")));

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "{Phase}: {Loss}, {Parameters} parameters, {Images} images, {Epochs} epochs on {Device}")]
    private static partial void LogRunStarting(ILogger logger, TrainingPhase phase, string loss, long parameters, int images, int epochs, Device device);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "{Phase}: resumed after epoch {Epoch}/{Epochs} from {Path}")]
    private static partial void LogResumed(ILogger logger, TrainingPhase phase, int epoch, int epochs, string path);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "{Phase}: stopped early after epoch {Epoch}, no improvement for {Patience} epochs; the best was epoch {BestEpoch}")]
    private static partial void LogStoppedEarly(ILogger logger, TrainingPhase phase, int epoch, int patience, int bestEpoch);

    [LoggerMessage(EventId = 104, Level = LogLevel.Debug, Message = "{Phase}: checkpoint after epoch {Epoch} written to {Path}")]
    private static partial void LogCheckpointWritten(ILogger logger, TrainingPhase phase, int epoch, string path);

    [LoggerMessage(EventId = 105, Level = LogLevel.Information, Message = "Teacher outputs of {Images} images cached ({Bytes} bytes) in {Seconds:F1} s")]
    private static partial void LogTeacherCacheBuilt(ILogger logger, int images, long bytes, double seconds);

    [LoggerMessage(EventId = 106, Level = LogLevel.Information, Message = "Teacher outputs loaded from {Path} ({Bytes} bytes) in {Seconds:F1} s")]
    private static partial void LogTeacherCacheLoaded(ILogger logger, string path, long bytes, double seconds);

    [LoggerMessage(EventId = 107, Level = LogLevel.Warning, Message = "Teacher outputs not cached: {Bytes} bytes exceed the limit of {MaxBytes}; the teacher runs live")]
    private static partial void LogTeacherCacheTooLarge(ILogger logger, long bytes, long maxBytes);

    [LoggerMessage(EventId = 108, Level = LogLevel.Warning, Message = "Teacher outputs not saved to {Path}: {Reason}")]
    private static partial void LogTeacherCacheNotSaved(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "{Phase} epoch {Epoch}/{Epochs}: loss {Loss:F4} ({Parts}), {ImagesPerSecond:F0} images/s, accuracy {Accuracy:P2}")]
    private static partial void LogEpoch(ILogger logger, TrainingPhase phase, int epoch, int epochs, double loss, string parts, double imagesPerSecond, double? accuracy);

    /// <summary>
    /// Running sums of the loss and its parts, kept on the device so no batch forces a host
    /// synchronisation; read once per epoch.
    /// </summary>
    private sealed class LossSums(Device device) : IDisposable
    {
        private readonly Tensor total = zeros(1, ScalarType.Float64, device).DetachFromDisposeScope();
        private readonly Dictionary<string, Tensor> parts = new(StringComparer.Ordinal);

        public void Add(LossResult result)
        {
            total.add_(result.Total.detach());
            foreach (var part in result.Parts)
            {
                if (!parts.TryGetValue(part.Name, out var sum))
                {
                    sum = zeros(1, ScalarType.Float64, device).DetachFromDisposeScope();
                    parts.Add(part.Name, sum);
                }

                sum.add_(part.Value);
            }
        }

        public (double Mean, IReadOnlyDictionary<string, double> Parts) Means(int batches) => (
            total.item<double>() / batches,
            parts.ToDictionary(p => p.Key, p => p.Value.item<double>() / batches, StringComparer.Ordinal));

        public void Dispose()
        {
            total.Dispose();
            foreach (var sum in parts.Values)
            {
                sum.Dispose();
            }
        }
    }
}
