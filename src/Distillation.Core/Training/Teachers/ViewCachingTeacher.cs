using System.Diagnostics;
using Distillation.Data;
using Distillation.Losses;
using Distillation.Serialization;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// The inner teacher's logits for every crop-and-flip view of every training image, computed once
/// and kept in a folder (<see cref="TeacherViewFile"/>, float16), so an augmented run looks each
/// batch up by image and view (<see cref="TeacherBatch.Views"/>) and never runs the teacher. Pad-4
/// crop and flip of CIFAR makes 162 views per image: building costs 162 passes of the teacher over
/// the data, paid once per teacher, training set and augmentation, whose digest names the file.
/// Where the batches are not such views (random-resized crop, mixup or CutMix), the loss reads
/// features, or the data is not resident (its images key the file), the inner teacher runs live,
/// with one logged line saying why. The logits differ from the live teacher's by float16 rounding
/// (relative 2⁻¹¹ at most), and so does the fingerprint.
/// </summary>
internal sealed partial class ViewCachingTeacher : DelegatingTeacher
{
    private readonly string directory;
    private Tensor? rows;
    private int viewCount;

    /// <summary>Wraps <paramref name="inner"/>, whose views are cached in <paramref name="directory"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is empty.</exception>
    public ViewCachingTeacher(ITeacher inner, string directory)
        : base(inner)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        this.directory = directory;
    }

    /// <summary>The inner teacher's fingerprint, marked: the cached logits are rounded to float16.</summary>
    public override string Fingerprint => Inner.Fingerprint + "+float16 views";

    /// <inheritdoc/>
    public override TeacherPreparation Prepare(TeacherRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (rows is not null)
        {
            throw new InvalidOperationException("The view-cached teacher is already prepared for another run; one run at a time uses it.");
        }

        // The inner teacher refuses what it cannot do first, even when a saved cache would serve.
        var inner = Inner.Prepare(request);
        if (request.CheckOnly || !request.Augmented || request.ForEvaluation || inner.OutputsCached)
        {
            return inner;
        }

        var augmentation = request.Augmentation;
        var reason = augmentation is null ? "the request does not say how the batches are augmented"
            : augmentation.RandomResizedCrop ? "a random-resized crop's images are not views of a fixed set"
            : augmentation.Mixes ? "mixup and CutMix batches are not views of one image"
            : request.FeaturePaths.Count > 0 ? $"the {request.RequestedBy} loss reads the teacher's features, and the view cache holds logits only"
            : request.Data is not ImageDataset ? $"its file is keyed by the images, which needs a resident ImageDataset, not {request.Data.GetType().Name}"
            : null;
        if (reason is not null)
        {
            LogNotUsed(request.Logger, reason);
            return inner;
        }

        try
        {
            var views = CropFlipViews.Of(augmentation!)!;
            var cached = LoadOrBuild(request, (ImageDataset)request.Data, augmentation!, views);
            viewCount = views.Count;
            rows = cached.reshape(cached.shape[0] * cached.shape[1], cached.shape[2]).DetachFromDisposeScope();
            cached.Dispose();
        }
        catch
        {
            inner.Dispose();
            throw;
        }

        // The inner teacher stays prepared: a batch without view indices still runs live.
        return new TeacherPreparation(
            () =>
            {
                try
                {
                    rows?.Dispose();
                    rows = null;
                }
                finally
                {
                    inner.Dispose();
                }
            },
            outputsCached: true);
    }

    /// <inheritdoc/>
    public override TeacherOutput Forward(TeacherBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (rows is null || batch.Views is null)
        {
            return Inner.Forward(batch);
        }

        var flat = batch.Indices.mul(viewCount).add(batch.Views).to(rows.device);
        return new TeacherOutput(rows.index_select(0, flat).to(ScalarType.Float32), DistillationContext.NoFeatures);
    }

    /// <summary>The logits [images, views, classes] (float16, on the run's device), from the file when it fits, else computed and saved.</summary>
    private Tensor LoadOrBuild(TeacherRequest request, ImageDataset data, AugmentationOptions augmentation, CropFlipViews views)
    {
        var clock = Stopwatch.StartNew();
        var logger = request.Logger;
        var (height, width) = (data.Images.shape[2], data.Images.shape[3]);
        var metadata = TeacherViewFile.Metadata(Inner.Fingerprint, TeacherViewFile.DataFingerprint(data), views, TeacherViewFile.SizeOf(height, width));
        var file = TeacherViewFile.FileFor(directory, metadata);
        if (File.Exists(file))
        {
            string? mismatch;
            try
            {
                mismatch = TeacherViewFile.Mismatch(Safetensors.ReadHeader(file), metadata, data.Count, views.Count);
                if (mismatch is null)
                {
                    using var content = Safetensors.Read(file);
                    var stored = content.Tensors[TeacherViewFile.TensorName];
                    var loaded = stored.to(ScalarType.Float16).to(request.Device, copy: true).DetachFromDisposeScope();
                    LogLoaded(logger, file, data.Count, views.Count, clock.Elapsed.TotalSeconds);
                    return loaded;
                }
            }
            catch (Exception e) when (e is InvalidDataException or IOException or KeyNotFoundException)
            {
                mismatch = e.Message;
            }

            LogRebuilding(logger, file, mismatch);
        }

        var built = Build(request, data, augmentation, views, clock);
        try
        {
            Safetensors.Write(file, [new(TeacherViewFile.TensorName, built)], metadata);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogNotSaved(logger, file, e.Message);
        }

        LogBuilt(logger, data.Count, views.Count, file, clock.Elapsed.TotalSeconds);
        if (built.device_type == request.Device.type && built.device_index == request.Device.index)
        {
            return built;
        }

        using (NewDisposeScope())
        {
            var onDevice = built.to(request.Device, copy: true).DetachFromDisposeScope();
            built.Dispose();
            return onDevice;
        }
    }

    /// <summary>Runs the prepared inner teacher over every view of every image, a batch of images at a time, view by view.</summary>
    private Tensor Build(TeacherRequest request, ImageDataset data, AugmentationOptions augmentation, CropFlipViews views, Stopwatch clock)
    {
        var logger = request.Logger;
        var cancellation = request.CancellationToken;
        var cropper = new BatchAugmentation(augmentation, data.Normalization);
        LogBuilding(logger, data.Count, views.Count, views.Identity);
        Tensor? built = null;
        try
        {
            using var noGrad = no_grad();
            using var plan = data.PlanBatches(request.BatchSize);
            var lastReport = clock.Elapsed;
            var done = 0L;
            for (var step = 0; step < plan.BatchCount; step++)
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var indices = plan.GetIndices(step);
                var batch = TeacherViewFile.BatchViews(Inner, plan.GetBatch(step, request.Device).Images, indices, cropper, views, cancellation);
                built ??= zeros([data.Count, views.Count, batch.shape[2]], ScalarType.Float16).DetachFromDisposeScope();
                built.index_copy_(0, indices, batch);
                done += indices.shape[0];
                if (clock.Elapsed - lastReport > TimeSpan.FromSeconds(30))
                {
                    lastReport = clock.Elapsed;
                    LogProgress(logger, done, data.Count, clock.Elapsed.TotalSeconds);
                }
            }

            if (!built!.isfinite().all().item<bool>())
            {
                throw new InvalidOperationException(
                    $"The teacher's logits of some views are not finite in float16 (beyond ±65504, or NaN), so the view cache in {directory} cannot hold them; set TeacherOutputs.ViewCacheDirectory to null to run the teacher live.");
            }

            return built;
        }
        catch
        {
            built?.Dispose();
            throw;
        }
    }

    [LoggerMessage(EventId = 140, Level = LogLevel.Information, Message = "Teacher view cache: computing the logits of {Images} images x {Views} views ({Augmentation}), once for this teacher, data and augmentation")]
    private static partial void LogBuilding(ILogger logger, int images, int views, string augmentation);

    [LoggerMessage(EventId = 141, Level = LogLevel.Information, Message = "Teacher view cache: {Done} of {Images} images done in {Seconds:F0} s")]
    private static partial void LogProgress(ILogger logger, long done, int images, double seconds);

    [LoggerMessage(EventId = 142, Level = LogLevel.Information, Message = "Teacher view cache of {Images} images x {Views} views built and saved to {Path} in {Seconds:F1} s")]
    private static partial void LogBuilt(ILogger logger, int images, int views, string path, double seconds);

    [LoggerMessage(EventId = 143, Level = LogLevel.Information, Message = "Teacher view cache loaded from {Path} ({Images} images x {Views} views) in {Seconds:F1} s")]
    private static partial void LogLoaded(ILogger logger, string path, int images, int views, double seconds);

    [LoggerMessage(EventId = 144, Level = LogLevel.Warning, Message = "Teacher view cache {Path} does not fit this run and is rebuilt: {Reason}")]
    private static partial void LogRebuilding(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 145, Level = LogLevel.Warning, Message = "Teacher view cache not saved to {Path}: {Reason}")]
    private static partial void LogNotSaved(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 146, Level = LogLevel.Warning, Message = "Teacher view cache not used, the teacher runs live: {Reason}")]
    private static partial void LogNotUsed(ILogger logger, string reason);
}
