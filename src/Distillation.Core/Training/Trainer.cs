using System.Diagnostics;
using System.Globalization;
using Distillation.Data;
using Distillation.Devices;
using Distillation.Evaluation;
using Distillation.Losses;
using Distillation.Serialization;
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

    // 1 while a training call runs: the streams, the models and the checkpoints are not safe to share between two calls.
    private int busy;

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
    public TrainingResult TrainTeacher(IBatchSource train, IBatchSource? evaluation = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Run(TrainingPhase.Teacher, Teacher, null, new LabelCrossEntropyLoss(), train, evaluation, progress, cancellationToken);

    /// <summary>Trains the student alone with cross-entropy: the baseline that distillation is measured against.</summary>
    /// <param name="train">The training set, shuffled each epoch.</param>
    /// <param name="evaluation">Evaluated after the last epoch (and every epoch if asked); none when null.</param>
    /// <param name="progress">Receives batch progress and epoch reports.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The history, final evaluation and timings.</returns>
    public TrainingResult TrainStudent(IBatchSource train, IBatchSource? evaluation = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Run(TrainingPhase.Student, Student, null, new LabelCrossEntropyLoss(), train, evaluation, progress, cancellationToken);

    /// <summary>
    /// Distills the student from the teacher. The teacher stays in eval mode and runs without
    /// gradients; only the student's parameters are optimized. The student continues from its
    /// current weights, so pass a fresh student to distill from scratch.
    /// </summary>
    /// <param name="train">The training set, shuffled each epoch.</param>
    /// <param name="evaluation">Evaluated after the last epoch (and every epoch if asked); none when null.</param>
    /// <param name="loss">The objective; <see cref="DistillationObjective.Notebook"/> (T = 10, 1·CE + 1·KD) when null. A loss that is a module is moved to the device and trained with the student; the caller keeps and disposes it.</param>
    /// <param name="progress">Receives batch progress and epoch reports.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The history, final evaluation and timings.</returns>
    /// <exception cref="ArgumentException">The loss reads the teacher's features while <see cref="TeacherOutputOptions.Precision"/> is <see cref="TeacherPrecision.BFloat16"/>, or another check of the call fails.</exception>
    /// <exception cref="InvalidOperationException">With <see cref="TeacherPrecision.BFloat16"/>, a floating-point parameter or buffer of the teacher is not float32; or another training call of this trainer is running.</exception>
    public TrainingResult Distill(IBatchSource train, IBatchSource? evaluation = null, IDistillationLoss? loss = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (loss is not null)
        {
            return Run(TrainingPhase.Distillation, Student, Teacher, loss, train, evaluation, progress, cancellationToken);
        }

        using var notebook = DistillationObjective.Notebook();
        return Run(TrainingPhase.Distillation, Student, Teacher, notebook, train, evaluation, progress, cancellationToken);
    }

    /// <summary>Top-1 accuracy of the teacher on <paramref name="data"/>.</summary>
    /// <param name="data">The labelled images.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The evaluation.</returns>
    public EvaluationResult EvaluateTeacher(IBatchSource data, CancellationToken cancellationToken = default) =>
        Evaluator.Evaluate(Teacher, data, Device, Options.EvaluationBatchSize, cancellationToken);

    /// <summary>Top-1 accuracy of the student on <paramref name="data"/>.</summary>
    /// <param name="data">The labelled images.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The evaluation.</returns>
    public EvaluationResult EvaluateStudent(IBatchSource data, CancellationToken cancellationToken = default) =>
        Evaluator.Evaluate(Student, data, Device, Options.EvaluationBatchSize, cancellationToken);

    private TrainingResult Run(
        TrainingPhase phase,
        nn.Module<Tensor, Tensor> model,
        nn.Module<Tensor, Tensor>? teacher,
        IDistillationLoss loss,
        IBatchSource train,
        IBatchSource? evaluation,
        IProgress<TrainingProgress>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(loss);
        if (train.Count == 0)
        {
            throw new ArgumentException("The training set is empty.", nameof(train));
        }

        if (evaluation is { Count: 0 })
        {
            throw new ArgumentException("The evaluation set is empty: an accuracy over no images is undefined. Pass null for no evaluation.", nameof(evaluation));
        }

        if (teacher is null && (loss.NeedsTeacher || loss.TeacherFeatureModules.Count > 0))
        {
            throw new ArgumentException($"The {loss.Description} loss needs a teacher; use Distill.", nameof(loss));
        }

        if (Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            throw new InvalidOperationException(
                "This trainer is already running a training call, and one trainer runs one call at a time; wait for it, or use WithStudent for another student.");
        }

        try
        {
            using var session = SetUp(new RunSession(phase, model, teacher, loss, train, evaluation, progress, cancellationToken));
            var run = session.Run;
            try
            {
                for (var epoch = run.CompletedEpochs + 1; epoch <= Options.Epochs && !run.StoppedEarly; epoch++)
                {
                    var (report, partial, stopRequested) = TrainEpoch(session, epoch);
                    EndEpoch(session, report, partial, stopRequested);
                }
            }
            finally
            {
                // Where the streams stand now is where the next training call (or a WithStudent copy) continues.
                streams.Advance(session.Shuffle, session.AugmentationDraws);
            }

            return Finish(session);
        }
        finally
        {
            Volatile.Write(ref busy, 0);
        }
    }

    /// <summary>Checks the call, prepares the optimizer, schedule, feature hooks and teacher cache, and resumes from a checkpoint when asked to; disposes the session when that fails.</summary>
    private RunSession SetUp(RunSession session)
    {
        try
        {
            var (model, loss, train) = (session.Model, session.Loss, session.Train);
            CheckTeacher(model, session.GivenTeacher, loss, train);
            var phase = session.Phase;
            var cancellationToken = session.CancellationToken;
            LogRunStarting(logger, phase, loss.Description, session.Parameters, train.Count, Options.Epochs, Device);

            // Feature terms read hooked module outputs; a loss that is a module (e.g. a hint regressor) trains with the student.
            session.StudentFeatures = new FeatureCapture(model, loss.StudentFeatureModules);
            session.TeacherFeatures = session.Teacher is { } liveTeacher ? new FeatureCapture(liveTeacher, loss.TeacherFeatureModules) : null;
            if (loss is nn.Module lossModule)
            {
                lossModule.to(Device);
                session.LossParameters = lossModule.parameters().ToArray();
            }

            session.Trained = model.parameters().Concat(session.LossParameters).ToArray();
            session.Optimizer = Options.OptimizerFactory is { } factory
                ? factory(session.Trained) ?? throw new InvalidOperationException("TrainerOptions.OptimizerFactory returned null.")
                : Optimization.CreateOptimizer(session.Trained, Options.Optimizer);
            session.Schedule = Options.SchedulerFactory is null
                ? new LearningRateSchedule(Options.Schedule, Options.OptimizerFactory is null ? Options.Optimizer.LearningRate : session.Optimizer.ParamGroups.First().LearningRate, Options.Epochs)
                : null;
            session.Scheduler = Options.SchedulerFactory?.Invoke(session.Optimizer);
            session.Augmentation = Options.Augmentation is { } augmentation ? new BatchAugmentation(augmentation, train.Normalization) : null;
            session.Identity = new RunIdentity(phase, loss.Description, Options.Epochs, Options.BatchSize, Options.Seed, train.Count, session.Parameters,
                TeacherWeights: session.Teacher is { } fingerprinted && Options.Checkpoints is not null ? ModuleFingerprint.Of(fingerprinted) : null,
                GradientAccumulationSteps: Options.GradientAccumulationSteps,
                TeacherPrecision: session.Teacher is null ? TeacherPrecision.Float32 : Options.TeacherOutputs.Precision);
            session.Run = ResumeOrStart(session.Identity, model, session.LossParameters, session.Optimizer);
            for (var epoch = 0; epoch < session.Run.CompletedEpochs && session.Scheduler is not null; epoch++)
            {
                // A user's scheduler has no saved state: replaying its steps puts it where the checkpoint left off.
                session.Scheduler.step();
            }

            var epochsLeft = session.Run.CompletedEpochs < Options.Epochs && !session.Run.StoppedEarly;
            session.TeacherCache = session.Teacher is { } cachedTeacher && epochsLeft
                ? PrepareTeacherCache(cachedTeacher, session.TeacherFeatures, train, augmented: session.Augmentation is not null, cancellationToken)
                : null;
            if (Options.TeacherOutputs.Precision == TeacherPrecision.BFloat16 && session.TeacherCache is null && epochsLeft
                && session.Teacher is { } liveInBFloat16 and not IExternalTeacher)
            {
                session.BFloat16Teacher = BFloat16Teacher.Convert(liveInBFloat16);
            }

            // Early stopping and the best checkpoint need a score every epoch.
            session.EvaluateEveryEpoch = Options.EvaluateEveryEpoch || Options.EarlyStopping is not null || Options.Checkpoints is { KeepBest: true };
            (session.Shuffle, session.AugmentationDraws) = streams.Open();
            return session;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>One pass over the training set; stops early after a step whose callback asks to.</summary>
    private (EpochReport Report, bool Partial, bool StopRequested) TrainEpoch(RunSession session, int epoch)
    {
        session.Model.train();
        session.Teacher?.eval();
        var learningRate = session.Schedule?.Apply(session.Optimizer, epoch) ?? session.Optimizer.ParamGroups.First().LearningRate;
        var epochClock = Stopwatch.StartNew();
        using var plan = session.Train.PlanBatches(Options.BatchSize, session.Shuffle);
        using var sums = new LossSums(Device);

        // The first step whose loss was not finite, tracked on the device: no host synchronisation per batch.
        using var firstBadStep = full(1, -1L, dtype: ScalarType.Int64, device: Device);
        var accumulation = Options.GradientAccumulationSteps;
        var stepsDone = 0;
        var images = 0L;
        var stopRequested = false;
        for (var step = 0; step < plan.BatchCount && !stopRequested; step++)
        {
            session.CancellationToken.ThrowIfCancellationRequested();
            using (NewDisposeScope())
            {
                // Each optimizer step averages the gradients of a group of up to N batches; the last group of an epoch may be shorter.
                var groupStart = step - step % accumulation;
                var groupSize = Math.Min(accumulation, plan.BatchCount - groupStart);
                var result = TrainStep(session, plan, epoch, step, zeroGradients: step == groupStart, takeStep: step == groupStart + groupSize - 1, groupSize);
                firstBadStep.masked_fill_(firstBadStep.lt(0).logical_and(result.Total.detach().isfinite().logical_not()), step);
                sums.Add(result);
                images += Math.Min(plan.BatchSize, plan.ImageCount - ((long)step * plan.BatchSize));
                stepsDone = step + 1;
                stopRequested = NotifyStepEnd(session, epoch, step, plan.BatchCount, result);
            }

            session.Progress?.Report(new BatchProgress(session.Phase, epoch, Options.Epochs, step + 1, plan.BatchCount, epochClock.Elapsed));
        }

        var epochTime = epochClock.Elapsed;
        session.Run.TrainingTime += epochTime;
        var (meanLoss, parts) = sums.Means(stepsDone);
        var badStep = firstBadStep.item<long>();
        if (badStep >= 0 || !double.IsFinite(meanLoss))
        {
            var kept = Options.Checkpoints is null ? string.Empty
                : session.Run.CompletedEpochs > 0 ? $" The checkpoint of epoch {session.Run.CompletedEpochs} is kept." : " No checkpoint was written.";
            throw new TrainingDivergedException(session.Phase, epoch, badStep >= 0 ? (int)badStep : null,
                string.Create(CultureInfo.InvariantCulture, $"The {session.Phase} loss ({session.Loss.Description}) became {meanLoss} in epoch {epoch}, first at step {badStep} of {plan.BatchCount}; training stopped.{kept} Lower the learning rate or check the inputs."));
        }

        session.Scheduler?.step();
        var report = new EpochReport(session.Phase, epoch, Options.Epochs, meanLoss, parts, Accuracy: null, images, epochTime, learningRate);
        return (report, stepsDone < plan.BatchCount, stopRequested);
    }

    /// <summary>One batch: the teacher's outputs (cached or live), the student's forward and backward pass, and the optimizer step at the end of each accumulation group.</summary>
    private LossResult TrainStep(RunSession session, BatchPlan plan, int epoch, int step, bool zeroGradients, bool takeStep, int groupSize)
    {
        var batch = plan.GetBatch(step, Device);
        var images = session.Augmentation?.Apply(batch.Images, session.AugmentationDraws) ?? batch.Images;
        Tensor? teacherLogits = null;
        IReadOnlyDictionary<string, Tensor>? cachedTeacherFeatures = null;
        if (session.TeacherCache is { } cache)
        {
            (teacherLogits, cachedTeacherFeatures) = cache.Lookup(plan.GetIndices(step));
        }
        else if (session.Teacher is { } teacher)
        {
            using var noGrad = no_grad();
            teacherLogits = session.BFloat16Teacher?.Forward(images) ?? teacher.call(images);
        }

        if (zeroGradients)
        {
            session.Optimizer.zero_grad();
        }

        var studentLogits = session.Model.call(images);
        var result = session.Loss.Compute(new DistillationContext(studentLogits, batch.Labels, teacherLogits)
        {
            StudentFeatures = session.StudentFeatures!.Outputs,
            TeacherFeatures = cachedTeacherFeatures ?? session.TeacherFeatures?.Outputs ?? DistillationContext.NoFeatures,
            Epoch = epoch,
            Epochs = Options.Epochs,
            Step = step,
        });

        // Scaled so an accumulated step follows the mean gradient of its batches; not at all without accumulation, so results stay bit-exact.
        (groupSize == 1 ? result.Total : result.Total.div(groupSize)).backward();
        if (takeStep)
        {
            if (Options.Optimizer.GradientClipNorm is { } maxNorm)
            {
                Optimization.ClipGradients(session.Trained, maxNorm);
            }

            session.Optimizer.step();
        }

        session.StudentFeatures.Clear();
        session.TeacherFeatures?.Clear();
        return result;
    }

    /// <summary>Evaluates, records the epoch, tracks the best epoch and early stopping, writes the checkpoint, and tells the callbacks.</summary>
    private void EndEpoch(RunSession session, EpochReport report, bool partial, bool stopRequested)
    {
        var run = session.Run;
        var epoch = report.Epoch;
        EvaluationResult? epochEvaluation = null;
        if (session.Evaluation is { } evaluation && (session.EvaluateEveryEpoch || epoch == Options.Epochs || stopRequested))
        {
            epochEvaluation = Evaluator.Evaluate(session.Model, evaluation, Device, Options.EvaluationBatchSize, session.CancellationToken);
            run.LastEvaluation = epochEvaluation;
        }

        report = report with { Accuracy = epochEvaluation?.Accuracy };
        run.History.Add(report);
        var score = session.Evaluation is null ? -report.MeanLoss : epochEvaluation?.Accuracy;
        if (score is { } value && run.Observe(epoch, value, Options.EarlyStopping?.MinDelta ?? 0))
        {
            run.BestEvaluation = epochEvaluation;
            KeepBest(session.Phase, session.Model, run);
        }

        if (Options.EarlyStopping is { } stopping && run.EpochsWithoutImprovement >= stopping.Patience && epoch < Options.Epochs)
        {
            run.StoppedEarly = true;
            LogStoppedEarly(logger, session.Phase, epoch, stopping.Patience, run.BestEpoch ?? 0);
        }

        if ((NotifyEpochEnd(report) || stopRequested) && (epoch < Options.Epochs || partial))
        {
            // Marked like early stopping, so a resumed run returns this result instead of training on.
            run.StoppedEarly = true;
            LogStoppedByCallback(logger, session.Phase, epoch);
        }

        run.CompletedEpochs = epoch;
        if (Options.Checkpoints is { } checkpoints)
        {
            streams.Advance(session.Shuffle, session.AugmentationDraws);
            WriteCheckpoint(checkpoints.LastCheckpointPath(session.Phase), session.Identity, run, session.Model, session.LossParameters, session.Optimizer);
        }

        LogEpoch(logger, session.Phase, epoch, Options.Epochs, report.MeanLoss, FormatParts(report.LossParts), report.ImagesPerSecond, epochEvaluation?.Accuracy);
        session.Progress?.Report(report);
    }

    /// <summary>Restores the best weights when early stopping asks to, and builds the result.</summary>
    private TrainingResult Finish(RunSession session)
    {
        var run = session.Run;
        var finalEvaluation = run.LastEvaluation;
        if (Options.EarlyStopping is { RestoreBest: true } && run.BestState is { } best && run.BestEpoch != run.CompletedEpochs)
        {
            session.Model.load_state_dict(best, strict: true);
            finalEvaluation = run.BestEvaluation ?? finalEvaluation;
        }

        session.Model.eval();
        return new TrainingResult(session.Phase, session.Loss.Description, session.Parameters, run.History, finalEvaluation, run.TrainingTime, session.TotalTime.Elapsed)
        {
            BestEpoch = run.BestEpoch,
            StoppedEarly = run.StoppedEarly,
            ResumedAfterEpoch = run.ResumedAfterEpoch,
            TeacherOutputsCached = session.TeacherCache is not null,
        };
    }

    private bool NotifyStepEnd(RunSession session, int epoch, int step, int batchCount, LossResult result)
    {
        if (Options.Callbacks.Count == 0)
        {
            return false;
        }

        var context = new StepEndContext(session.Phase, epoch, Options.Epochs, step, batchCount, result);
        foreach (var callback in Options.Callbacks)
        {
            callback.OnStepEnd(context);
        }

        return context.StopRequested;
    }

    private bool NotifyEpochEnd(EpochReport report)
    {
        if (Options.Callbacks.Count == 0)
        {
            return false;
        }

        var context = new EpochEndContext(report);
        foreach (var callback in Options.Callbacks)
        {
            callback.OnEpochEnd(context);
        }

        return context.StopRequested;
    }

    /// <summary>
    /// Refuses, before anything is set up, what the teacher cannot do: in bfloat16, supply features;
    /// as an <see cref="IExternalTeacher"/>, be trained, supply features to a feature term, or
    /// (precomputed logits) follow augmented inputs or a training set of another size.
    /// </summary>
    private void CheckTeacher(nn.Module<Tensor, Tensor> model, nn.Module<Tensor, Tensor>? teacher, IDistillationLoss loss, IBatchSource train)
    {
        if (teacher is not null && Options.TeacherOutputs.Precision == TeacherPrecision.BFloat16 && loss.TeacherFeatureModules.Count > 0)
        {
            throw new ArgumentException(
                $"TeacherOutputs.Precision BFloat16 runs the teacher for its logits only, but the {loss.Description} loss reads the teacher's features ({string.Join(", ", loss.TeacherFeatureModules)}); use TeacherPrecision.Float32.",
                nameof(loss));
        }

        if (model is IExternalTeacher)
        {
            throw new InvalidOperationException($"The teacher {model.GetType().Name} is not a TorchSharp model: it cannot be trained here, only distilled from.");
        }

        if (teacher is not IExternalTeacher)
        {
            return;
        }

        if (loss.TeacherFeatureModules.Count > 0)
        {
            throw new ArgumentException(
                $"The {loss.Description} loss reads the teacher's features ({string.Join(", ", loss.TeacherFeatureModules)}), but the teacher {teacher.GetType().Name} supplies logits only: it has no modules to hook. Use logit terms only.",
                nameof(loss));
        }

        if (teacher is PrecomputedTeacher precomputed && loss.NeedsTeacher)
        {
            if (Options.Augmentation is not null)
            {
                throw new InvalidOperationException($"The teacher logits in {precomputed.Path} belong to the un-augmented training images; set TrainerOptions.Augmentation to null to distill from them.");
            }

            precomputed.CheckCovers(train);
        }
    }

    /// <summary>
    /// The teacher's outputs over the training set, loaded or computed once, when caching is on and
    /// the inputs do not change between epochs (no augmentation); null to run the teacher live.
    /// </summary>
    private TeacherOutputCache? PrepareTeacherCache(nn.Module<Tensor, Tensor> teacher, FeatureCapture? capture, IBatchSource train, bool augmented, CancellationToken cancellationToken)
    {
        if (teacher is PrecomputedTeacher precomputed)
        {
            // There is no model to run: the file's rows are the cache, whatever the caching setting.
            return precomputed.CreateCache(train, Device);
        }

        var settings = Options.TeacherOutputs;
        if (settings.Caching == TeacherOutputCaching.Never || augmented)
        {
            return null;
        }

        var clock = Stopwatch.StartNew();
        var featurePaths = capture?.Paths.ToArray() ?? [];
        // Only resident images can be hashed into the file's key; a streamed source's cache lives in memory.
        var file = settings.Directory is { } directory && train is ImageDataset resident ? TeacherOutputCache.FileFor(directory, teacher, resident, featurePaths) : null;
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

    [LoggerMessage(EventId = 109, Level = LogLevel.Information, Message = "{Phase}: a callback stopped training after epoch {Epoch}")]
    private static partial void LogStoppedByCallback(ILogger logger, TrainingPhase phase, int epoch);

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

    /// <summary>Everything one training call sets up and its parts share; disposes what the call created.</summary>
    private sealed class RunSession(
        TrainingPhase phase,
        nn.Module<Tensor, Tensor> model,
        nn.Module<Tensor, Tensor>? teacher,
        IDistillationLoss loss,
        IBatchSource train,
        IBatchSource? evaluation,
        IProgress<TrainingProgress>? progress,
        CancellationToken cancellationToken) : IDisposable
    {
        public TrainingPhase Phase { get; } = phase;

        public nn.Module<Tensor, Tensor> Model { get; } = model;

        /// <summary>The teacher the call was given: the trainer's in distillation, null in plain training.</summary>
        public nn.Module<Tensor, Tensor>? GivenTeacher { get; } = teacher;

        /// <summary>The teacher when the loss reads it; null otherwise.</summary>
        public nn.Module<Tensor, Tensor>? Teacher { get; } = loss.NeedsTeacher ? teacher : null;

        public IDistillationLoss Loss { get; } = loss;

        public IBatchSource Train { get; } = train;

        public IBatchSource? Evaluation { get; } = evaluation;

        public IProgress<TrainingProgress>? Progress { get; } = progress;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        public Stopwatch TotalTime { get; } = Stopwatch.StartNew();

        public long Parameters { get; } = model.parameters().Sum(p => p.numel());

        public FeatureCapture? StudentFeatures { get; set; }

        public FeatureCapture? TeacherFeatures { get; set; }

        public Parameter[] LossParameters { get; set; } = [];

        /// <summary>The student's parameters and the loss's own.</summary>
        public Parameter[] Trained { get; set; } = [];

        public optim.Optimizer Optimizer { get; set; } = null!;

        /// <summary>The built-in schedule; null when the user's scheduler sets the rate.</summary>
        public LearningRateSchedule? Schedule { get; set; }

        public optim.lr_scheduler.LRScheduler? Scheduler { get; set; }

        public BatchAugmentation? Augmentation { get; set; }

        public RunIdentity Identity { get; set; } = null!;

        public RunState Run { get; set; } = null!;

        public TeacherOutputCache? TeacherCache { get; set; }

        /// <summary>The live teacher converted to bfloat16 for the call (TeacherOutputs.Precision); disposing it restores the teacher.</summary>
        public BFloat16Teacher? BFloat16Teacher { get; set; }

        public bool EvaluateEveryEpoch { get; set; }

        public Generator Shuffle { get; set; } = null!;

        public Generator AugmentationDraws { get; set; } = null!;

        public void Dispose()
        {
            BFloat16Teacher?.Dispose();
            StudentFeatures?.Dispose();
            TeacherFeatures?.Dispose();
            TeacherCache?.Dispose();
            Run?.Dispose();
            Optimizer?.Dispose();
            Shuffle?.Dispose();
            AugmentationDraws?.Dispose();
        }
    }

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
