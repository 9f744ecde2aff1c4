using System.Diagnostics;
using Distillation.Data;
using Microsoft.Extensions.Logging;

namespace Distillation.Training;

/// <summary>
/// Computes the inner teacher's outputs (logits and requested features) once per run, over the whole
/// data in stored order, and looks them up per batch by image index; optionally keeps them in a
/// folder between runs, keyed by the teacher's fingerprint, the images, the normalization and the
/// feature list. It serves only where the images are the same every epoch: with augmentation, for
/// evaluation, or when the cache would exceed its size limit, the inner teacher runs live. The
/// losses equal those of the live teacher.
/// </summary>
internal sealed partial class CachingTeacher : DelegatingTeacher
{
    private readonly long maxBytes;
    private readonly string? directory;
    private TeacherOutputCache? cache;

    public CachingTeacher(ITeacher inner, long maxBytes, string? directory)
        : base(inner)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        if (directory is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        }

        this.maxBytes = maxBytes;
        this.directory = directory;
    }

    /// <inheritdoc/>
    public override TeacherPreparation Prepare(TeacherRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (cache is not null)
        {
            throw new InvalidOperationException("The cached teacher is already prepared for another run; one run at a time uses it.");
        }

        // The inner teacher refuses what it cannot do first, even when a saved cache would serve.
        var inner = Inner.Prepare(request);
        if (request.CheckOnly || request.Augmented || request.ForEvaluation || inner.OutputsCached)
        {
            return inner;
        }

        try
        {
            var built = LoadOrBuild(request);
            if (built is null)
            {
                return inner;
            }

            inner.Dispose();
            cache = built;
            return new TeacherPreparation(
                () =>
                {
                    built.Dispose();
                    cache = null;
                },
                outputsCached: true);
        }
        catch
        {
            inner.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public override TeacherOutput Forward(TeacherBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (cache is null)
        {
            return Inner.Forward(batch);
        }

        var (logits, features) = cache.Lookup(batch.Indices);
        return new TeacherOutput(logits, features);
    }

    /// <summary>The cache loaded from its file or computed; null when it would be too large.</summary>
    private TeacherOutputCache? LoadOrBuild(TeacherRequest request)
    {
        var clock = Stopwatch.StartNew();
        var logger = request.Logger;
        var data = request.Data;

        // Only resident images can be hashed into the file's key; a streamed source's cache lives in memory.
        var file = directory is not null && data is ImageDataset resident
            ? TeacherOutputCache.FileFor(directory, Inner.Fingerprint, resident, request.FeaturePaths)
            : null;
        if (file is not null && TeacherOutputCache.TryLoad(file, data.Count, request.FeaturePaths.ToArray(), request.Device) is { } loaded)
        {
            LogLoaded(logger, file, loaded.Bytes, clock.Elapsed.TotalSeconds);
            return loaded;
        }

        var bytes = TeacherOutputCache.EstimateBytes(Inner, data, request.Device);
        if (bytes > maxBytes)
        {
            LogTooLarge(logger, bytes, maxBytes);
            return null;
        }

        var built = TeacherOutputCache.Build(Inner, data, request.Device, request.BatchSize, request.CancellationToken);
        if (file is not null)
        {
            try
            {
                built.Save(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                LogNotSaved(logger, file, e.Message);
            }
        }

        LogBuilt(logger, data.Count, built.Bytes, clock.Elapsed.TotalSeconds);
        return built;
    }

    [LoggerMessage(EventId = 105, Level = LogLevel.Information, Message = "Teacher outputs of {Images} images cached ({Bytes} bytes) in {Seconds:F1} s")]
    private static partial void LogBuilt(ILogger logger, int images, long bytes, double seconds);

    [LoggerMessage(EventId = 106, Level = LogLevel.Information, Message = "Teacher outputs loaded from {Path} ({Bytes} bytes) in {Seconds:F1} s")]
    private static partial void LogLoaded(ILogger logger, string path, long bytes, double seconds);

    [LoggerMessage(EventId = 107, Level = LogLevel.Warning, Message = "Teacher outputs not cached: {Bytes} bytes exceed the limit of {MaxBytes}; the teacher runs live")]
    private static partial void LogTooLarge(ILogger logger, long bytes, long maxBytes);

    [LoggerMessage(EventId = 108, Level = LogLevel.Warning, Message = "Teacher outputs not saved to {Path}: {Reason}")]
    private static partial void LogNotSaved(ILogger logger, string path, string reason);
}
