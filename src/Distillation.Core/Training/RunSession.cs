using System.Diagnostics;
using Distillation.Data;
using Distillation.Evaluation;
using Distillation.Losses;
using Microsoft.Extensions.Logging;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>One training call: the phase, the model it trains, the teacher (in distillation), the loss, the data and the caller's progress and cancellation.</summary>
internal sealed record RunRequest(
    TrainingPhase Phase,
    nn.Module<Tensor, Tensor> Model,
    ITeacher? Teacher,
    IDistillationLoss Loss,
    IBatchSource Train,
    IBatchSource? Evaluation,
    IProgress<TrainingProgress>? Progress,
    CancellationToken CancellationToken);

/// <summary>Everything one training call sets up and its parts share; disposes what the call created.</summary>
internal sealed class RunSession(RunRequest request, TrainerOptions options, RandomStreams streams, ILogger logger) : IDisposable
{
    public TrainingPhase Phase { get; } = request.Phase;

    public TrainerOptions Options { get; } = options;

    /// <summary>The trainer's shuffling and augmentation streams: a checkpoint saves and a resume restores where they stand.</summary>
    public RandomStreams Streams { get; } = streams;

    public ILogger Logger { get; } = logger;

    /// <summary>The evaluation the result reports: the last epoch's, or the best epoch's when its weights were restored.</summary>
    public EvaluationResult? FinalEvaluation { get; set; }

    public nn.Module<Tensor, Tensor> Model { get; } = request.Model;

    /// <summary>The teacher when the loss reads it, as the run uses it (with the default pipeline applied); null otherwise.</summary>
    public ITeacher? Teacher { get; set; } = request.Loss.NeedsTeacher ? request.Teacher : null;

    /// <summary>The teacher's preparation for this call; disposing it releases what the teacher holds for the run.</summary>
    public TeacherPreparation? TeacherPreparation { get; set; }

    /// <summary>The precision the teacher runs in, resolved from TeacherOutputs.Precision (never Auto): the checkpoint records it.</summary>
    public TeacherPrecision TeacherPrecision { get; set; }

    /// <summary>The precision the training steps run in, resolved from TrainerOptions.Precision (never Auto): the checkpoint records it.</summary>
    public TrainingPrecision Precision { get; set; }

    /// <summary>The loss scaling of <see cref="TrainingPrecision.Float16Mixed"/>; null in other precisions.</summary>
    public DynamicLossScaler? LossScaler { get; set; }

    /// <summary>Whether training batches enter the model channels-last, resolved from TrainerOptions.ChannelsLast and the precision.</summary>
    public bool ChannelsLast { get; set; }

    public IDistillationLoss Loss { get; } = request.Loss;

    public IBatchSource Train { get; } = request.Train;

    public IBatchSource? Evaluation { get; } = request.Evaluation;

    public IProgress<TrainingProgress>? Progress { get; } = request.Progress;

    public CancellationToken CancellationToken { get; } = request.CancellationToken;

    public Stopwatch TotalTime { get; } = Stopwatch.StartNew();

    public long Parameters { get; } = request.Model.parameters().Sum(p => p.numel());

    public FeatureCapture? StudentFeatures { get; set; }

    public Parameter[] LossParameters { get; set; } = [];

    /// <summary>The student's parameters and the loss's own.</summary>
    public Parameter[] Trained { get; set; } = [];

    public optim.Optimizer Optimizer { get; set; } = null!;

    /// <summary>The built-in schedule; null when the user's scheduler sets the rate.</summary>
    public LearningRateSchedule? Schedule { get; set; }

    public optim.lr_scheduler.LRScheduler? Scheduler { get; set; }

    /// <summary>Optimizer steps of every epoch (the batches, in accumulation groups).</summary>
    public int StepsPerEpoch { get; set; } = 1;

    /// <summary>The lookahead average of the trained model; null when it is off.</summary>
    public LookaheadAveraging? Lookahead { get; set; }

    public BatchAugmentation? Augmentation { get; set; }

    public RunIdentity Identity { get; set; } = null!;

    public RunState Run { get; set; } = null!;

    /// <summary>The built-in callbacks called before the user's at each epoch's end: the best epoch, and early stopping when it is on.</summary>
    public IReadOnlyList<ITrainingCallback> BuiltInCallbacks { get; set; } = [];

    /// <summary>The built-in checkpoint callback, called after the user's (it saves any stop they asked for); null without checkpoints.</summary>
    public ITrainingCallback? CheckpointCallback { get; set; }

    public bool EvaluateEveryEpoch { get; set; }

    /// <summary>The teacher's evaluation logits and the student's agreement with them; null unless <see cref="TrainerOptions.TrackFidelity"/> asks in a distillation run with an evaluation set.</summary>
    public FidelityTracker? Fidelity { get; set; }

    public Generator Shuffle { get; set; } = null!;

    public Generator AugmentationDraws { get; set; } = null!;

    public void Dispose()
    {
        TeacherPreparation?.Dispose();
        Fidelity?.Dispose();
        StudentFeatures?.Dispose();
        Run?.Dispose();
        Optimizer?.Dispose();
        Lookahead?.Dispose();
        Shuffle?.Dispose();
        AugmentationDraws?.Dispose();
    }
}

/// <summary>
/// Running sums of the loss and its parts, kept on the device so no batch forces a host
/// synchronisation; read once per epoch.
/// </summary>
internal sealed class LossSums(Device device) : IDisposable
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
