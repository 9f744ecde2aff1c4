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
/// <see cref="IDistillationLoss"/>, and evaluation. The teacher is any <see cref="ITeacher"/> (a live
/// module, ONNX model, logits file, ensemble, or a pipeline of them), or a TorchSharp module, which
/// becomes a live teacher; the trainer knows it only through <see cref="ITeacher.Prepare"/> and
/// <see cref="ITeacher.Forward"/>. The student, and the teacher's module if it has one, are moved to
/// the device chosen by <see cref="TrainerOptions.Device"/> when the trainer is created.
/// </summary>
/// <typeparam name="TTeacher">The teacher's type: an <see cref="ITeacher"/>, or a module mapping images to logits.</typeparam>
/// <typeparam name="TStudent">The student's type.</typeparam>
public sealed partial class Trainer<TTeacher, TStudent>
    where TTeacher : class
    where TStudent : nn.Module<Tensor, Tensor>
{
    private readonly ILogger logger;
    private readonly RandomStreams streams;

    // The teacher as the loop sees it: the given ITeacher, or the given module as a live teacher.
    private readonly ITeacher teacher;

    // 1 while a training call runs: the streams, the models and the checkpoints are not safe to share between two calls.
    private int busy;

    /// <summary>Creates a trainer and moves both models to the chosen device.</summary>
    /// <param name="teacher">The teacher.</param>
    /// <param name="student">The student.</param>
    /// <param name="options">Training settings; the notebook's when null.</param>
    /// <param name="logger">Receives the device, and one line per epoch; none when null.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="ArgumentException"><paramref name="teacher"/> is neither an <see cref="ITeacher"/> nor a module mapping a tensor to a tensor.</exception>
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

        this.teacher = Training.Teacher.Adapt(teacher, nameof(teacher));
        Device = device ?? DeviceSelector.Resolve(Options.Device, this.logger, probe: null);
        Teacher = teacher;
        Student = student;
        this.teacher.GetModule()?.to(Device);
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

    /// <summary>Trains the teacher's module with cross-entropy.</summary>
    /// <param name="train">The training set, shuffled each epoch.</param>
    /// <param name="evaluation">Evaluated after the last epoch (and every epoch if asked); none when null.</param>
    /// <param name="progress">Receives batch progress and epoch reports.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The history, final evaluation and timings.</returns>
    /// <exception cref="InvalidOperationException">The teacher holds no TorchSharp module (an ONNX model, a logits file, an ensemble): it can be distilled from, not trained; or <see cref="TrainerOptions.Precision"/> asks for mixed precision where it cannot run (a model that is not float32, a device or platform without autocast).</exception>
    public TrainingResult TrainTeacher(IBatchSource train, IBatchSource? evaluation = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var module = teacher.GetModule()
            ?? throw new InvalidOperationException($"The teacher {typeof(TTeacher).Name} is not a TorchSharp model: it cannot be trained here, only distilled from.");
        return Run(new RunRequest(TrainingPhase.Teacher, module, null, new LabelCrossEntropyLoss(Options.LabelSmoothing), train, evaluation, progress, cancellationToken));
    }

    /// <summary>Trains the student alone with cross-entropy: the baseline that distillation is measured against.</summary>
    /// <param name="train">The training set, shuffled each epoch.</param>
    /// <param name="evaluation">Evaluated after the last epoch (and every epoch if asked); none when null.</param>
    /// <param name="progress">Receives batch progress and epoch reports.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The history, final evaluation and timings.</returns>
    /// <exception cref="InvalidOperationException"><see cref="TrainerOptions.Precision"/> asks for mixed precision where it cannot run (a model that is not float32, a device or platform without autocast).</exception>
    public TrainingResult TrainStudent(IBatchSource train, IBatchSource? evaluation = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Run(new RunRequest(TrainingPhase.StudentAlone, Student, null, new LabelCrossEntropyLoss(Options.LabelSmoothing), train, evaluation, progress, cancellationToken));

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
    /// <exception cref="ArgumentException">The teacher cannot give what the loss reads (features from a teacher of logits only, or in bfloat16), the teacher's logits do not cover the data, or another check of the call fails.</exception>
    /// <exception cref="InvalidOperationException">The teacher refuses the run's settings (augmentation with precomputed logits; a teacher that is not float32 in bfloat16), another training call of this trainer is running, or <see cref="TrainerOptions.Precision"/> asks for mixed precision where it cannot run (a model that is not float32, a device or platform without autocast).</exception>
    /// <exception cref="NotSupportedException"><see cref="TrainerOptions.TrackFidelity"/> is on with an evaluation set, and the teacher cannot run on its images (logits precomputed for the training set).</exception>
    public TrainingResult Distill(IBatchSource train, IBatchSource? evaluation = null, IDistillationLoss? loss = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (loss is not null)
        {
            return Run(new RunRequest(TrainingPhase.Distillation, Student, teacher, loss, train, evaluation, progress, cancellationToken));
        }

        using var notebook = DistillationObjective.Notebook();
        return Run(new RunRequest(TrainingPhase.Distillation, Student, teacher, notebook, train, evaluation, progress, cancellationToken));
    }

    /// <summary>
    /// Checks, before anything is trained, converted or cached, what <see cref="Distill"/> (or, with a
    /// loss that needs no teacher, <see cref="TrainStudent"/>) would refuse for these arguments:
    /// an empty training set, mixed precision where it cannot run, a loss that needs a teacher,
    /// student or teacher feature paths that do not exist, and every rule of the teacher's kind (features from a teacher of logits only or in
    /// bfloat16, augmentation with precomputed logits, logits that do not cover the data). Throws
    /// the same one-line messages as the training call.
    /// </summary>
    /// <param name="train">The training set the call will get.</param>
    /// <param name="loss">The objective; <see cref="DistillationObjective.Notebook"/> when null.</param>
    /// <exception cref="ArgumentException">The call would be refused; the message says why.</exception>
    /// <exception cref="InvalidOperationException">The teacher refuses the run's settings, or <see cref="TrainerOptions.Precision"/> asks for mixed precision where it cannot run.</exception>
    public void Check(IBatchSource train, IDistillationLoss? loss = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (train.Count == 0)
        {
            throw new ArgumentException("The training set is empty.", nameof(train));
        }

        MixedPrecision.Check(Options.Precision, Student, Device);
        using var notebook = loss is null ? DistillationObjective.Notebook() : null;
        var objective = loss ?? notebook!;
        using var studentFeatures = new FeatureCapture(Student, objective.StudentFeatureModules);
        if (!objective.NeedsTeacher)
        {
            return;
        }

        using var check = PrepareTeacher(teacher, objective, train, augmented: Options.Augmentation is not null, checkOnly: true, CancellationToken.None).Preparation;
    }

    /// <summary>
    /// The options' pipeline over <paramref name="given"/> for a run with <paramref name="loss"/>,
    /// prepared for <paramref name="train"/> (or only checked): the one place a training call and the
    /// preflight ask the teacher for what the run needs.
    /// </summary>
    private (ITeacher Teacher, TeacherPrecision Precision, TeacherPreparation Preparation) PrepareTeacher(
        ITeacher given, IDistillationLoss loss, IBatchSource train, bool augmented, bool checkOnly, CancellationToken cancellationToken)
    {
        var (pipeline, precision) = Options.TeacherOutputs.Apply(given, augmented, loss.TeacherFeatureModules, Device, logger, checkOnly);
        var preparation = pipeline.Prepare(new TeacherRequest(train, Device)
        {
            FeaturePaths = loss.TeacherFeatureModules,
            RequestedBy = loss.Description,
            Augmented = augmented,
            Augmentation = augmented ? Options.Augmentation : null,
            CheckOnly = checkOnly,
            BatchSize = Options.EvaluationBatchSize,
            Logger = logger,
            CancellationToken = cancellationToken,
        });
        return (pipeline, precision, preparation);
    }

    /// <summary>Top-1 accuracy of the teacher on <paramref name="data"/>.</summary>
    /// <param name="data">The labelled images.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The evaluation.</returns>
    /// <exception cref="NotSupportedException">The teacher cannot run on images (logits precomputed for the training set).</exception>
    public EvaluationResult EvaluateTeacher(IBatchSource data, CancellationToken cancellationToken = default) =>
        EvaluateTeacherInDetail(data, cancellationToken).ToEvaluationResult();

    /// <summary>Top-1 and top-5 accuracy, accuracy per class and the confusion matrix of the teacher on <paramref name="data"/>.</summary>
    /// <param name="data">The labelled images.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The evaluation.</returns>
    /// <exception cref="NotSupportedException">The teacher cannot run on images (logits precomputed for the training set).</exception>
    public DetailedEvaluation EvaluateTeacherInDetail(IBatchSource data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        using var preparation = teacher.Prepare(new TeacherRequest(data, Device)
        {
            ForEvaluation = true,
            RequestedBy = "evaluation",
            BatchSize = Options.EvaluationBatchSize,
            Logger = logger,
            CancellationToken = cancellationToken,
        });
        return Evaluator.EvaluateDetailed((batch, indices) => teacher.Forward(new TeacherBatch(batch.Images, indices)).Logits, data, Device, Options.EvaluationBatchSize, cancellationToken);
    }

    /// <summary>Top-1 accuracy of the student on <paramref name="data"/>.</summary>
    /// <param name="data">The labelled images.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The evaluation.</returns>
    public EvaluationResult EvaluateStudent(IBatchSource data, CancellationToken cancellationToken = default) =>
        Evaluate(Student, data, cancellationToken).ToEvaluationResult();

    /// <summary>Evaluates a trained model, averaging the logits of each image and its mirror when <see cref="TrainerOptions.FlipTestTimeAugmentation"/> asks.</summary>
    private DetailedEvaluation Evaluate(nn.Module<Tensor, Tensor> model, IBatchSource data, CancellationToken cancellationToken, FidelityTracker? fidelity = null)
    {
        if (!Options.FlipTestTimeAugmentation && fidelity is null)
        {
            return Evaluator.EvaluateDetailed(model, data, Device, Options.EvaluationBatchSize, cancellationToken);
        }

        var wasTraining = model.training;
        model.eval();
        try
        {
            return Evaluator.EvaluateDetailed(
                (batch, indices) =>
                {
                    var logits = model.call(batch.Images);
                    if (Options.FlipTestTimeAugmentation)
                    {
                        using var plain = logits;
                        using var mirrored = batch.Images.flip(3);
                        using var mirroredLogits = model.call(mirrored);
                        logits = plain.add(mirroredLogits).div_(2);
                    }

                    fidelity?.Observe(logits, indices);
                    return logits;
                },
                data,
                Device,
                Options.EvaluationBatchSize,
                cancellationToken,
                nameof(model));
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>Optimizer steps of one epoch over <paramref name="images"/> images: batches, in groups of <see cref="TrainerOptions.GradientAccumulationSteps"/>.</summary>
    private int OptimizerStepsPerEpoch(int images)
    {
        var batches = (images + (long)Options.BatchSize - 1) / Options.BatchSize;
        return (int)((batches + Options.GradientAccumulationSteps - 1) / Options.GradientAccumulationSteps);
    }

    // The checks name the public methods' parameters, which Run receives in one request.
#pragma warning disable CA2208
    private TrainingResult Run(RunRequest request)
    {
        var (phase, _, teacher, loss, train, evaluation, _, _) = request;
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

#pragma warning restore CA2208
        if (Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            throw new InvalidOperationException(
                "This trainer is already running a training call, and one trainer runs one call at a time; wait for it, or use WithStudent for another student.");
        }

        try
        {
            using var session = SetUp(new RunSession(request, Options, streams, logger));
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

    /// <summary>Prepares the teacher, the optimizer, schedule and feature hooks, and resumes from a checkpoint when asked to; disposes the session when that fails.</summary>
    private RunSession SetUp(RunSession session)
    {
        try
        {
            var (model, loss, train) = (session.Model, session.Loss, session.Train);
            var phase = session.Phase;
            LogRunStarting(logger, phase, loss.Description, session.Parameters, train.Count, Options.Epochs, Device);

            // Before the teacher is prepared: a refusal here touches nothing.
            session.Precision = MixedPrecision.Resolve(Options.Precision, model, Device, logger, Options.Probe);
            session.ChannelsLast = Options.ChannelsLast ?? session.Precision == TrainingPrecision.BFloat16Mixed;
            session.LossScaler = session.Precision == TrainingPrecision.Float16Mixed ? new DynamicLossScaler(Options.InitialLossScale, Options.LossScaleGrowthInterval) : null;

            // Feature terms read hooked module outputs; a loss that is a module (e.g. a hint regressor) trains with the student.
            session.StudentFeatures = new FeatureCapture(model, loss.StudentFeatureModules);
            session.Augmentation = Options.Augmentation is { } augmentation ? new BatchAugmentation(augmentation, train.Normalization) : null;
            if (session.Teacher is { } given)
            {
                if (Options.TrackFidelity && session.Evaluation is { } evaluationSet)
                {
                    // Before the training pipeline holds the teacher: the frozen teacher's evaluation logits, once.
                    session.Fidelity = FidelityTracker.Measure(given, evaluationSet, Device, Options.EvaluationBatchSize, Options.FlipTestTimeAugmentation, logger, session.CancellationToken);
                }

                // The teacher refuses here, before any weight is touched, what it cannot do for this run.
                (session.Teacher, session.TeacherPrecision, session.TeacherPreparation) =
                    PrepareTeacher(given, loss, train, augmented: session.Augmentation is not null, checkOnly: false, session.CancellationToken);
            }

            if (loss is nn.Module lossModule)
            {
                lossModule.to(Device);
                session.LossParameters = lossModule.parameters().ToArray();
            }

            // Frozen parameters (requires_grad off, such as a fixed whitening layer) are not the optimizer's.
            session.Trained = model.parameters().Where(p => p.requires_grad).Concat(session.LossParameters).ToArray();
            session.Optimizer = Options.OptimizerFactory is { } factory
                ? factory(session.Trained) ?? throw new InvalidOperationException("TrainerOptions.OptimizerFactory returned null.")
                : Optimization.CreateOptimizer(session.Trained, Options.Optimizer, Optimization.NormBiases(model));
            session.Schedule = Options.SchedulerFactory is null
                ? new LearningRateSchedule(Options.Schedule, Options.OptimizerFactory is null ? Options.Optimizer.LearningRate : session.Optimizer.ParamGroups.First().LearningRate, Options.Epochs)
                : null;
            session.Scheduler = Options.SchedulerFactory?.Invoke(session.Optimizer);
            session.StepsPerEpoch = OptimizerStepsPerEpoch(train.Count);
            session.Lookahead = Options.Lookahead is { } lookahead ? new LookaheadAveraging(model, lookahead, (long)session.StepsPerEpoch * Options.Epochs) : null;
            session.Identity = new RunIdentity(phase, loss.Description, Options.Epochs, Options.BatchSize, Options.Seed, train.Count, session.Parameters,
                TeacherWeights: session.Teacher is { } fingerprinted && Options.Checkpoints is not null ? fingerprinted.Fingerprint : null,
                GradientAccumulationSteps: Options.GradientAccumulationSteps,
                TeacherPrecision: session.Teacher is null ? TeacherPrecision.Float32 : session.TeacherPrecision,
                LearningRate: Options.OptimizerFactory is null ? Options.Optimizer.LearningRate : session.Optimizer.ParamGroups.First().LearningRate,
                WeightDecay: Options.OptimizerFactory is null ? Options.Optimizer.WeightDecay : null,
                Optimizer: Options.OptimizerFactory is null ? Options.Optimizer.Kind.ToString() : session.Optimizer.GetType().Name,
                Schedule: Options.SchedulerFactory is null ? Options.Schedule.Kind.ToString() : session.Scheduler!.GetType().Name,
                Augmentation: Options.Augmentation?.Identity ?? "none",
                Precision: session.ChannelsLast ? $"{session.Precision} channels-last" : session.Precision.ToString());

            // Built-in callbacks, which the options switch on: the best epoch (always), early stopping, checkpoints.
            session.Run = new RunState();
            session.BuiltInCallbacks = Options.EarlyStopping is { } stopping ? [new BestEpochCallback(), new EarlyStoppingCallback(stopping)] : [new BestEpochCallback()];
            session.CheckpointCallback = Options.Checkpoints is { } checkpoints ? new CheckpointCallback(checkpoints) : null;
            session.CheckpointCallback?.OnRunStart(new RunStartContext(session));
            for (var epoch = 0; epoch < session.Run.CompletedEpochs && session.Scheduler is not null; epoch++)
            {
                // A user's scheduler has no saved state: replaying its steps puts it where the checkpoint left off.
                session.Scheduler.step();
            }

            // Early stopping and the best checkpoint need a score every epoch.
            session.EvaluateEveryEpoch = Options.EvaluateEveryEpoch || Options.EarlyStopping is not null || Options.Checkpoints is { KeepBest: true };
            (session.Shuffle, session.AugmentationDraws) = streams.Open();
            if (Options.Callbacks.Count > 0)
            {
                var started = new RunStartContext(session);
                foreach (var callback in Options.Callbacks)
                {
                    callback.OnRunStart(started);
                }
            }

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
        var learningRate = session.Schedule?.Apply(session.Optimizer, epoch, 0, session.StepsPerEpoch) ?? session.Optimizer.ParamGroups.First().LearningRate;
        var epochClock = Stopwatch.StartNew();
        // A source that can crop while it decodes (a streamed folder) does it on its decode threads.
        using var plan = (session.Augmentation is { } augmentation ? session.Train.PlanAugmentedBatches(Options.BatchSize, session.Shuffle, augmentation.Options, session.AugmentationDraws) : null)
            ?? session.Train.PlanBatches(Options.BatchSize, session.Shuffle);
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
                if (step == groupStart && session.Schedule is { SetsEveryStep: true } schedule)
                {
                    schedule.Apply(session.Optimizer, epoch, step / accumulation, session.StepsPerEpoch);
                }

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
        var (images, views) = session.Augmentation is { } augmentation && !plan.AugmentedBySource ? augmentation.ApplyWithViews(batch.Images, session.AugmentationDraws) : (batch.Images, null);

        // Mixed after crop and flip and before the teacher call, so the teacher labels the image the student sees; a mixed image is no view of one image.
        var mix = session.Augmentation?.Mix(images, batch.Labels, session.AugmentationDraws);
        images = mix?.Images ?? images;
        var teacherOutput = session.Teacher?.Forward(new TeacherBatch(images, plan.GetIndices(step)) { Views = mix is null ? views : null });

        if (zeroGradients)
        {
            session.Optimizer.zero_grad();
        }

        // Channels-last once per batch: the activations keep the layout through the network.
        var studentInput = session.ChannelsLast && images.dim() == 4 ? images.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2) : images;
        var studentLogits = MixedPrecision.Forward(session.Model, studentInput, session.Precision);
        var result = session.Loss.Compute(new DistillationContext(studentLogits, batch.Labels, teacherOutput?.Logits)
        {
            StudentFeatures = MixedPrecision.InFloat32(session.StudentFeatures!.Outputs),
            TeacherFeatures = teacherOutput?.Features ?? DistillationContext.NoFeatures,
            Epoch = epoch,
            Epochs = Options.Epochs,
            Step = step,
            PartnerLabels = mix?.PartnerLabels,
            MixWeight = mix?.Weight ?? 1,
        });

        // Scaled so an accumulated step follows the mean gradient of its batches; not at all without accumulation, so results stay bit-exact.
        var objective = groupSize == 1 ? result.Total : result.Total.div(groupSize);
        (session.LossScaler is { } lossScaler ? objective.mul(lossScaler.Scale) : objective).backward();
        if (takeStep)
        {
            // float16: the gradients are unscaled before clipping; a step whose gradients overflowed is skipped.
            if (session.LossScaler is { } scaler && scaler.UnscaleAndCheck(session.Trained))
            {
                scaler.Update(overflowed: true);
                LogOverflowSkipped(logger, session.Phase, epoch, step, scaler.Scale);
            }
            else
            {
                if (Options.Optimizer.GradientClipNorm is { } maxNorm)
                {
                    Optimization.ClipGradients(session.Trained, maxNorm);
                }

                session.Optimizer.step();
                session.LossScaler?.Update(overflowed: false);
                session.Lookahead?.AfterStep(((long)(epoch - 1) * session.StepsPerEpoch) + (step / Options.GradientAccumulationSteps) + 1);
            }
        }

        session.StudentFeatures.Clear();
        return result;
    }

    /// <summary>
    /// Evaluates and records the epoch, then calls the epoch's parts in order: the built-in best-epoch
    /// tracking and early stopping, the user's callbacks (which may stop the run), and last the
    /// checkpoint, which saves the epoch with any stop marked.
    /// </summary>
    private void EndEpoch(RunSession session, EpochReport report, bool partial, bool stopRequested)
    {
        var run = session.Run;
        var epoch = report.Epoch;
        EvaluationResult? epochEvaluation = null;
        if (session.Evaluation is { } evaluation && (session.EvaluateEveryEpoch || epoch == Options.Epochs || stopRequested))
        {
            session.Fidelity?.Reset();
            epochEvaluation = Evaluate(session.Model, evaluation, session.CancellationToken, session.Fidelity).ToEvaluationResult();
            run.LastEvaluation = epochEvaluation;
            if (session.Fidelity is { } fidelity)
            {
                var (epochAgreement, epochDivergence) = fidelity.Read();
                report = report with { Agreement = epochAgreement, TeacherKLDivergence = epochDivergence, TeacherAccuracy = fidelity.TeacherAccuracy };
            }
        }

        report = report with { Accuracy = epochEvaluation?.Accuracy };
        run.History.Add(report);
        var context = new EpochEndContext(report, session, epochEvaluation);
        foreach (var builtIn in session.BuiltInCallbacks)
        {
            builtIn.OnEpochEnd(context);
        }

        foreach (var callback in Options.Callbacks)
        {
            callback.OnEpochEnd(context);
        }

        if ((context.StopRequested || stopRequested) && (epoch < Options.Epochs || partial))
        {
            // Marked like early stopping, so a resumed run returns this result instead of training on.
            run.StoppedEarly = true;
            LogStoppedByCallback(logger, session.Phase, epoch);
        }

        run.CompletedEpochs = epoch;
        session.CheckpointCallback?.OnEpochEnd(context);
        LogEpoch(logger, session.Phase, epoch, Options.Epochs, report.MeanLoss, FormatParts(report.LossParts), report.ImagesPerSecond, epochEvaluation?.Accuracy);
        if (report is { Agreement: { } agreement, TeacherKLDivergence: { } divergence, TeacherAccuracy: { } teacherAccuracy })
        {
            LogFidelity(logger, session.Phase, epoch, agreement, divergence, teacherAccuracy);
        }

        session.Progress?.Report(report);
    }

    /// <summary>Calls the run's end parts (the best weights put back when early stopping asks), then builds the result.</summary>
    private TrainingResult Finish(RunSession session)
    {
        var run = session.Run;
        session.FinalEvaluation = run.LastEvaluation;
        var ended = new RunEndContext(session);
        foreach (var callback in session.BuiltInCallbacks.Concat(Options.Callbacks))
        {
            callback.OnRunEnd(ended);
        }

        session.Model.eval();
        return new TrainingResult(session.Phase, session.Loss.Description, session.Parameters, run.History, session.FinalEvaluation, run.TrainingTime, session.TotalTime.Elapsed)
        {
            BestEpoch = run.BestEpoch,
            StoppedEarly = run.StoppedEarly,
            ResumedAfterEpoch = run.ResumedAfterEpoch,
            TeacherOutputsCached = session.TeacherPreparation?.OutputsCached ?? false,
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

    private static string FormatParts(IReadOnlyDictionary<string, double> parts) =>
        string.Join(", ", parts.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {p.Value:F4}")));

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "{Phase}: {Loss}, {Parameters} parameters, {Images} images, {Epochs} epochs on {Device}")]
    private static partial void LogRunStarting(ILogger logger, TrainingPhase phase, string loss, long parameters, int images, int epochs, Device device);

    [LoggerMessage(EventId = 111, Level = LogLevel.Debug, Message = "{Phase} epoch {Epoch}, step {Step}: float16 gradients overflowed; the step was skipped and the loss scale halved to {Scale}")]
    private static partial void LogOverflowSkipped(ILogger logger, TrainingPhase phase, int epoch, int step, double scale);

    [LoggerMessage(EventId = 109, Level = LogLevel.Information, Message = "{Phase}: a callback stopped training after epoch {Epoch}")]
    private static partial void LogStoppedByCallback(ILogger logger, TrainingPhase phase, int epoch);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "{Phase} epoch {Epoch}/{Epochs}: loss {Loss:F4} ({Parts}), {ImagesPerSecond:F0} images/s, accuracy {Accuracy:P2}")]
    private static partial void LogEpoch(ILogger logger, TrainingPhase phase, int epoch, int epochs, double loss, string parts, double imagesPerSecond, double? accuracy);

    [LoggerMessage(EventId = 110, Level = LogLevel.Information, Message = "{Phase} epoch {Epoch} fidelity: top-1 agreement with the teacher {Agreement:P2}, KL(teacher || student) {Divergence:F4}, teacher accuracy {TeacherAccuracy:P2}")]
    private static partial void LogFidelity(ILogger logger, TrainingPhase phase, int epoch, double agreement, double divergence, double teacherAccuracy);
}
