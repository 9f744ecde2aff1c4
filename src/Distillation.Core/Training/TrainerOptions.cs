using Distillation.Data;
using Distillation.Devices;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;

namespace Distillation.Training;

/// <summary>Settings of a <see cref="Trainer{TTeacher, TStudent}"/>. Defaults reproduce the notebook.</summary>
public sealed class TrainerOptions
{
    /// <summary>Passes over the training set. Default: 10.</summary>
    public int Epochs { get; set; } = 10;

    /// <summary>Images per training batch. Default: 128.</summary>
    public int BatchSize { get; set; } = 128;

    /// <summary>Images per evaluation batch (does not change results). Default: 256.</summary>
    public int EvaluationBatchSize { get; set; } = 256;

    /// <summary>The optimizer and its hyper-parameters, and gradient clipping. Default: Adam, learning rate 0.001, as the notebook.</summary>
    public OptimizationOptions Optimizer { get; set; } = new();

    /// <summary>The learning-rate schedule and warm-up, applied per epoch. Default: constant.</summary>
    public ScheduleOptions Schedule { get; set; } = new();

    /// <summary>
    /// Makes the optimizer from the parameters to train (the student's, then those of a loss that is
    /// a module), in place of the one <see cref="Optimizer"/> describes; the trainer disposes it after
    /// the call. <see cref="OptimizationOptions.GradientClipNorm"/> still applies, and <see cref="Schedule"/>
    /// starts from the optimizer's own learning rate. Default: null (use <see cref="Optimizer"/>).
    /// </summary>
    public Func<IReadOnlyList<Parameter>, torch.optim.Optimizer>? OptimizerFactory { get; set; }

    /// <summary>
    /// Makes a TorchSharp learning-rate scheduler for the optimizer, stepped once after every epoch,
    /// in place of <see cref="Schedule"/>. On resume it is stepped once per completed epoch, so it
    /// must depend on nothing but its step count. Default: null (use <see cref="Schedule"/>).
    /// </summary>
    public Func<torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler>? SchedulerFactory { get; set; }

    /// <summary>
    /// Batches whose gradients are averaged into one optimizer step, ≥ 1: a larger effective batch
    /// in the memory of one. Each batch's loss is divided by the number of batches in its group (the
    /// last group of an epoch may be shorter). Default: 1 (a step per batch).
    /// </summary>
    public int GradientAccumulationSteps { get; set; } = 1;

    /// <summary>Called at the end of every step and epoch, in order; see <see cref="ITrainingCallback"/>. Default: none.</summary>
    public IList<ITrainingCallback> Callbacks { get; } = new List<ITrainingCallback>();

    /// <summary>
    /// Training-batch augmentation (random crop from padding, horizontal flip), seeded from
    /// <see cref="Seed"/>; null for none. Default: null, so the notebook's runs stay reproducible.
    /// </summary>
    public AugmentationOptions? Augmentation { get; set; }

    /// <summary>
    /// The seed of the shuffling (and augmentation) generators. A trainer starts them from this seed
    /// when it is created, and each training call continues where the previous one stopped, as a
    /// PyTorch script's global generator does. Default: 42.
    /// </summary>
    public long Seed { get; set; } = 42;

    /// <summary>
    /// Whether to evaluate on the evaluation set after every epoch (else only after the last).
    /// Early stopping, and keeping the best checkpoint, evaluate every epoch regardless. Default: false.
    /// </summary>
    public bool EvaluateEveryEpoch { get; set; }

    /// <summary>Where to train. Default: <see cref="DeviceKind.Auto"/>.</summary>
    public DeviceOptions Device { get; set; } = new();

    /// <summary>Per-epoch checkpoints (last and best) and resuming; null for none. Default: null.</summary>
    public CheckpointOptions? Checkpoints { get; set; }

    /// <summary>Caching of the teacher's outputs in distillation. Default: cached when there is no augmentation.</summary>
    public TeacherOutputOptions TeacherOutputs { get; set; } = new();

    /// <summary>Early stopping on the evaluation set's accuracy; null to train every epoch. Default: null.</summary>
    public EarlyStoppingOptions? EarlyStopping { get; set; }

    /// <summary>
    /// Label smoothing of the cross-entropy of <c>TrainTeacher</c> and <c>TrainStudent</c>, in [0, 1):
    /// the target puts this mass uniformly over the classes (PyTorch's <c>label_smoothing</c>).
    /// Distillation's objectives are not affected. Default: 0 (a smoothed teacher distils worse:
    /// its softened outputs lose the similarity between classes, Müller et al. 2019).
    /// </summary>
    public double LabelSmoothing { get; set; }

    /// <summary>Lookahead weight averaging of the trained model (airbench's); null for none. Default: null.</summary>
    public LookaheadOptions? Lookahead { get; set; }

    /// <summary>
    /// Whether the trainer's evaluations (after epochs, <c>EvaluateStudent</c>) average each image's
    /// logits with those of its mirror image (flip test-time augmentation), as airbench reports its
    /// accuracy. Default: false.
    /// </summary>
    public bool FlipTestTimeAugmentation { get; set; }

    /// <summary>
    /// Whether a distillation run measures, at every evaluated epoch, how closely the student
    /// follows the teacher on the evaluation set: top-1 agreement, KL(teacher ‖ student) and the
    /// teacher's own accuracy with the same test-time augmentation (<see cref="EpochReport.Agreement"/>,
    /// <see cref="EpochReport.TeacherKLDivergence"/>, <see cref="EpochReport.TeacherAccuracy"/>).
    /// The teacher's evaluation logits are computed once, when the run starts, so the teacher must be
    /// able to run on the evaluation images (not logits precomputed for the training set). It changes
    /// no training step. Default: false.
    /// </summary>
    public bool TrackFidelity { get; set; }

    /// <summary>
    /// The number format of every training step (teacher training, student training and distillation
    /// alike); see <see cref="TrainingPrecision"/>. Evaluation and the teacher's forward are not
    /// affected (the teacher's is <see cref="TeacherOutputOptions.Precision"/>). Part of a checkpoint's
    /// identity. Default: <see cref="TrainingPrecision.Float32"/>, so runs reproduce to the bit.
    /// </summary>
    public TrainingPrecision Precision { get; set; } = TrainingPrecision.Float32;

    /// <summary>
    /// Whether the training batches enter the model in channels-last layout (NHWC strides, the same
    /// logical shape), once per batch; the activations then stay channels-last through the
    /// convolutions, BatchNorm and pooling, where oneDNN's kernels prefer it. The weights keep their
    /// layout: oneDNN reorders weights at every training step whatever it is, and the files that
    /// store weights and optimizer state read tensors in memory order. Null chooses by precision:
    /// on with <see cref="TrainingPrecision.BFloat16Mixed"/> (oneDNN's bfloat16 convolutions are fast
    /// in channels-last and slow in NCHW), off in float32 (where the gain is small and a run then
    /// reproduces to the bit). Part of a checkpoint's identity. Default: null.
    /// </summary>
    public bool? ChannelsLast { get; set; }

    /// <summary>The loss scale <see cref="TrainingPrecision.Float16Mixed"/> starts from (tests force overflows with a huge one).</summary>
    internal double InitialLossScale { get; set; } = DynamicLossScaler.DefaultInitialScale;

    /// <summary>Steps without an overflow after which the float16 loss scale doubles (tests shorten it).</summary>
    internal int LossScaleGrowthInterval { get; set; } = DynamicLossScaler.DefaultGrowthInterval;

    /// <summary>Stands in for the bfloat16 speed probe in tests of <see cref="TrainingPrecision.Auto"/>.</summary>
    internal Devices.IBFloat16Probe? Probe { get; set; }

    /// <summary>
    /// Checks every value, and those of the nested options, against what the trainer can represent
    /// and run (among them: BatchSize × GradientAccumulationSteps must fit an int).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the one-line message names the option and the value.</exception>
    public void Validate()
    {
        OptionChecks.IntegerIn(Epochs, nameof(Epochs), 1, int.MaxValue);
        OptionChecks.IntegerIn(BatchSize, nameof(BatchSize), 1, int.MaxValue);
        OptionChecks.IntegerIn(GradientAccumulationSteps, nameof(GradientAccumulationSteps), 1, int.MaxValue);

        // An optimizer step sees BatchSize · GradientAccumulationSteps images, counted in an int.
        if ((long)BatchSize * GradientAccumulationSteps > int.MaxValue)
        {
            throw OptionChecks.OutOfRange(nameof(GradientAccumulationSteps), GradientAccumulationSteps,
                $"at most {int.MaxValue / BatchSize} with a batch size of {BatchSize} (BatchSize × GradientAccumulationSteps, the images of one optimizer step, must fit an int)");
        }

        if (Callbacks.Any(c => c is null))
        {
            throw OptionChecks.OutOfRange(nameof(Callbacks), "null", "a list without null entries");
        }

        OptionChecks.IntegerIn(EvaluationBatchSize, nameof(EvaluationBatchSize), 1, int.MaxValue);
        ArgumentNullException.ThrowIfNull(Optimizer, nameof(Optimizer));
        ArgumentNullException.ThrowIfNull(Schedule, nameof(Schedule));
        Optimizer.Validate();
        Schedule.Validate(Optimizer.LearningRate, Epochs);
        Augmentation?.Validate();
        Checkpoints?.Validate();
        ArgumentNullException.ThrowIfNull(TeacherOutputs, nameof(TeacherOutputs));
        TeacherOutputs.Validate();
        EarlyStopping?.Validate();
        OptionChecks.FractionIn(LabelSmoothing, nameof(LabelSmoothing), 0, 1);
        Lookahead?.Validate();
        if (Lookahead is not null && Checkpoints is not null)
        {
            throw OptionChecks.OutOfRange(nameof(Lookahead), "on", "off when Checkpoints are on (the lookahead average is not saved in a checkpoint, so a resumed run could not continue it exactly)");
        }

        if (!Enum.IsDefined(Precision))
        {
            throw OptionChecks.OutOfRange(nameof(Precision), Precision, "one of Float32, BFloat16Mixed, Auto, Float16Mixed");
        }

        ArgumentNullException.ThrowIfNull(Device, nameof(Device));
        Device.Validate();
    }
}
