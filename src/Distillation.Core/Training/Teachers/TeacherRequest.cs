using Distillation.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>What a run needs from its teacher, told to <see cref="ITeacher.Prepare"/>.</summary>
public sealed class TeacherRequest
{
    /// <summary>Creates a request.</summary>
    /// <param name="data">The images the teacher will see; <see cref="TeacherBatch.Indices"/> are positions in it.</param>
    /// <param name="device">Where the batches and the outputs live.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public TeacherRequest(IBatchSource data, Device device)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(device);
        Data = data;
        Device = device;
    }

    /// <summary>The images the teacher will see, in stored order.</summary>
    public IBatchSource Data { get; }

    /// <summary>Where the batches and the outputs live.</summary>
    public Device Device { get; }

    /// <summary>Module paths whose outputs the loss reads; empty for logits only.</summary>
    public IReadOnlyList<string> FeaturePaths { get; init; } = [];

    /// <summary>What asks, for messages: the loss's description, or "evaluation".</summary>
    public string RequestedBy { get; init; } = "distillation";

    /// <summary>True when the batches are augmented, so one image looks different every epoch.</summary>
    public bool Augmented { get; init; }

    /// <summary>
    /// The augmentation's settings when <see cref="Augmented"/> (the trainer sets them); null when the
    /// batches are not augmented or the caller does not say how. A teacher of per-view logits reads
    /// the crop-and-flip layout of <see cref="TeacherBatch.Views"/> from them.
    /// </summary>
    public AugmentationOptions? Augmentation { get; init; }

    /// <summary>
    /// True to check the request only (a preflight): the teacher refuses what it cannot do, as
    /// <see cref="ITeacher.Prepare"/> would, and does no work (no cache, no conversion, no copy).
    /// </summary>
    public bool CheckOnly { get; init; }

    /// <summary>True to evaluate the teacher on <see cref="Data"/> rather than to distil from it.</summary>
    public bool ForEvaluation { get; init; }

    /// <summary>Images per forward pass when a teacher runs over the whole data at once (building a cache).</summary>
    public int BatchSize { get; init; } = 256;

    /// <summary>Receives what a teacher decides (a cache built, loaded or skipped).</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;

    /// <summary>Checked between batches of long preparations.</summary>
    public CancellationToken CancellationToken { get; init; }

    /// <summary>The refusal of a teacher kind that gives logits only, in its <see cref="ITeacher.Prepare"/>: throws when the loss reads features.</summary>
    /// <param name="teacherName">The teacher, as the message names it.</param>
    /// <exception cref="ArgumentException"><see cref="FeaturePaths"/> is not empty; the message names the loss, the paths and the teacher.</exception>
    public void ThrowIfFeaturesRequested(string teacherName)
    {
        if (FeaturePaths.Count > 0)
        {
            throw new ArgumentException(
                $"The {RequestedBy} loss reads the teacher's features ({string.Join(", ", FeaturePaths)}), but the teacher {teacherName} supplies logits only: it has no modules to hook. Use logit terms only.");
        }
    }
}

/// <summary>One batch given to <see cref="ITeacher.Forward"/>.</summary>
/// <param name="Images">The normalized (and augmented) images the student sees, on the run's device.</param>
/// <param name="Indices">The images' positions in <see cref="TeacherRequest.Data"/>, int64 on the CPU.</param>
public sealed record TeacherBatch(Tensor Images, Tensor Indices)
{
    /// <summary>
    /// Which crop-and-flip view of its stored image each image is, [batch] int64 on the CPU, for a
    /// pad-and-crop augmentation with padding P (<see cref="TeacherRequest.Augmentation"/>): view
    /// v = (dy·(2P + 1) + dx)·F + flipped, where (dy, dx) in 0..2P is the crop's offset in the padded
    /// image, flipped is 1 for a mirrored crop, and F is 2 with <see cref="AugmentationOptions.HorizontalFlip"/>
    /// and 1 without. Null when the batch is not augmented, or its images are not such views
    /// (random-resized crop, or a batch mixed by mixup or CutMix).
    /// </summary>
    public Tensor? Views { get; init; }
}

/// <summary>What <see cref="ITeacher.Forward"/> returns.</summary>
/// <param name="Logits">Float32 logits [batch, classes].</param>
/// <param name="Features">Outputs of the requested module paths; empty when none were requested.</param>
public sealed record TeacherOutput(Tensor Logits, IReadOnlyDictionary<string, Tensor> Features);

/// <summary>
/// A teacher's preparation for one run, returned by <see cref="ITeacher.Prepare"/>: disposing it
/// releases what the run held (hooks, a bfloat16 conversion, cached outputs) and the preparations of
/// the teachers it decorates.
/// </summary>
public sealed class TeacherPreparation : IDisposable
{
    private Action? release;

    /// <summary>A preparation that holds nothing: the teacher runs live.</summary>
    public TeacherPreparation()
        : this(null, outputsCached: false)
    {
    }

    /// <summary>Creates a preparation.</summary>
    /// <param name="release">What to undo when the run ends; null for nothing.</param>
    /// <param name="outputsCached">True when <see cref="ITeacher.Forward"/> looks the outputs up instead of running a model.</param>
    public TeacherPreparation(Action? release, bool outputsCached)
    {
        this.release = release;
        OutputsCached = outputsCached;
    }

    /// <summary>Wraps an inner teacher's preparation, for a decorator: disposing runs <paramref name="release"/>, then disposes <paramref name="inner"/>.</summary>
    /// <param name="inner">The decorated teacher's preparation; its <see cref="OutputsCached"/> carries over.</param>
    /// <param name="release">What the decorator undoes first.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public TeacherPreparation(TeacherPreparation inner, Action release)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(release);
        this.release = () =>
        {
            try
            {
                release();
            }
            finally
            {
                inner.Dispose();
            }
        };
        OutputsCached = inner.OutputsCached;
    }

    /// <summary>True when the outputs are looked up (cached or precomputed) rather than computed per batch.</summary>
    public bool OutputsCached { get; }

    /// <summary>Undoes the preparation; a second call does nothing.</summary>
    public void Dispose()
    {
        var undo = release;
        release = null;
        undo?.Invoke();
    }
}
