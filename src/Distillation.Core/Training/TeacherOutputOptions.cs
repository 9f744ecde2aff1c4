using Distillation.Devices;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>The number format the frozen teacher runs in during distillation.</summary>
public enum TeacherPrecision
{
    /// <summary>The teacher's own float32 weights and inputs.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "Named as TorchSharp's ScalarType.Float32, which it means.")]
    Float32,

    /// <summary>
    /// A bfloat16 copy of the teacher's weights, fed bfloat16 channels-last images; its logits are
    /// returned in float32. On CPUs with AVX512-BF16 or AMX the convolutions run about twice as fast;
    /// on CPUs without them several times slower, and a run warns once with the measured factor.
    /// </summary>
    BFloat16,

    /// <summary>
    /// <see cref="BFloat16"/> where the device has bfloat16 instructions and a short timing probe
    /// measures it faster (the run logs the decision and its reason), and only for a float32 module
    /// teacher whose features the loss does not read; <see cref="Float32"/> otherwise. Measured, so it
    /// may differ between machines: the run's checkpoint records the precision chosen, and a resume
    /// where the other one is chosen is refused. Set the precision explicitly for runs that must
    /// reproduce to the bit on any machine.
    /// </summary>
    Auto,
}

/// <summary>
/// Caching of the teacher's outputs during distillation. The teacher is frozen and in eval mode,
/// so without augmentation its logits (and the hooked features a loss term reads) are the same
/// every epoch: they are computed once, before the first epoch, held on the training device and
/// sliced per batch. The losses equal those of a live teacher.
/// </summary>
public sealed partial class TeacherOutputOptions
{
    /// <summary>
    /// Whether to cache. True (the default): the outputs are computed once when the training images
    /// are the same every epoch (no augmentation), or, with <see cref="ViewCacheDirectory"/>, for every
    /// crop-and-flip view; otherwise the teacher runs live. False: the teacher always runs live, batch
    /// by batch.
    /// </summary>
    public bool Cache { get; set; } = true;

    /// <summary>
    /// Largest cache to hold, in bytes (logits plus features of the whole training set); a larger
    /// one is not built and the teacher runs live, with a warning. Default: 2 GiB (CIFAR-10's
    /// logits take 2 MB; a 2,048-float feature map per image about 400 MB).
    /// </summary>
    public long MaxBytes { get; set; } = 2L << 30;

    /// <summary>
    /// A folder to keep the cache in between runs, one file per teacher, training set and feature
    /// list (keyed by SHA-256 of the teacher's weights and of the images); null to keep it in memory
    /// only. A damaged or mismatched file is rebuilt. Default: null.
    /// </summary>
    public string? Directory { get; set; }

    /// <summary>
    /// A folder for the teacher's logits of every crop-and-flip view of every training image, so a
    /// run with pad-and-crop and flip augmentation (no random-resized crop, no mixup or CutMix) looks
    /// the teacher's logits up instead of running it: 162 views per image for pad 4 and flip, computed
    /// once per teacher, training set and augmentation (the file's name is a digest of the three;
    /// a damaged or mismatched file is rebuilt), kept in float16 ([images, views, classes], 3.2 KB
    /// per CIFAR-10 image). Building costs as many teacher passes over the data as there are views;
    /// every later run with that teacher, data and augmentation is teacher-free. The teacher then runs
    /// in float32, or in bfloat16 only when <see cref="Precision"/> is <see cref="TeacherPrecision.BFloat16"/>
    /// (a file of its own), both to compute the cache and live where the cache cannot serve (mixed
    /// batches, a random-resized crop, a loss that reads features, streamed data; a warning says
    /// which); the losses differ from that live teacher's only by the float16 rounding of its logits. Used when
    /// <see cref="Cache"/> is on and the run is augmented;
    /// the resident training set must be an <see cref="Data.ImageDataset"/>. Default: null (off).
    /// </summary>
    public string? ViewCacheDirectory { get; set; }

    /// <summary>
    /// The number format of a teacher that runs live, batch by batch (with augmentation, or with
    /// caching off). With <see cref="TeacherPrecision.BFloat16"/>, <c>Distill</c> converts the teacher's
    /// floating-point parameters and buffers to bfloat16 for the call and restores its float32 values
    /// bit for bit when the call returns or throws; losses that read the teacher's features are
    /// refused, and a cached teacher's outputs are still computed once in float32. Logits differ from
    /// float32 ones by bfloat16 rounding (about 3 significant digits). Default:
    /// <see cref="TeacherPrecision.Auto"/>: bfloat16 only where it is measured faster, so a run may
    /// not reproduce to the bit on another machine; set <see cref="TeacherPrecision.Float32"/> where it must.
    /// </summary>
    public TeacherPrecision Precision { get; set; } = TeacherPrecision.Auto;

    /// <summary>Measures bfloat16's speed; null for the process's own probe. Tests stand in for the hardware.</summary>
    internal IBFloat16Probe? Probe { get; set; }

    /// <summary>
    /// The default pipeline over <paramref name="teacher"/> for one run, and the precision it runs in:
    /// cached when <see cref="Cache"/> is on and the images do
    /// not change between epochs (computed once in float32), else run live in <see cref="Precision"/>
    /// (bfloat16 only for a teacher that holds a module). <see cref="TeacherPrecision.Auto"/> resolves
    /// here: bfloat16 for a float32 module teacher whose features the loss does not read, where
    /// a short probe measures it faster, with one line logged; an explicit bfloat16 request
    /// where it is measured slow logs one warning. A preflight (<paramref name="checkOnly"/>) measures
    /// nothing and warns of nothing: Auto never picks what bfloat16 would refuse. A teacher that already
    /// caches or runs in bfloat16 is not wrapped again. The wrappers are not disposed: they own nothing
    /// that outlives the run's preparation, and the caller keeps <paramref name="teacher"/>.
    /// </summary>
    /// <returns>The teacher to prepare, and the precision to record in the run's identity (never Auto).</returns>
    internal (ITeacher Teacher, TeacherPrecision Precision) Apply(
        ITeacher teacher, bool augmented, IReadOnlyCollection<string> featurePaths, Device device, ILogger logger, bool checkOnly = false)
    {
        if (Cache && !augmented)
        {
            var cached = teacher.GetService(typeof(CachingTeacher)) is null ? teacher.UseCache(MaxBytes, Directory) : teacher;
            return (cached, Precision == TeacherPrecision.BFloat16 ? TeacherPrecision.BFloat16 : TeacherPrecision.Float32);
        }

        if (Cache && ViewCacheDirectory is { } views)
        {
            // Computed once, in float32 unless bfloat16 is asked for by name (Auto does not measure for a cache that outlives the run):
            // a bfloat16 teacher has another fingerprint, so its views get a file of their own.
            var inBFloat16 = teacher.GetService(typeof(BFloat16Teacher)) is not null;
            if (Precision == TeacherPrecision.BFloat16 && !inBFloat16 && teacher.GetModule() is not null)
            {
                (teacher, inBFloat16) = (teacher.UseBFloat16(), true);
            }

            var viewCached = teacher.GetService(typeof(ViewCachingTeacher)) is null ? teacher.UseViewCache(views) : teacher;
            return (viewCached, inBFloat16 ? TeacherPrecision.BFloat16 : TeacherPrecision.Float32);
        }

        var module = teacher.GetModule();
        var alreadyBFloat16 = teacher.GetService(typeof(BFloat16Teacher)) is not null;
        switch (Precision)
        {
            case TeacherPrecision.BFloat16:
                if (module is null || alreadyBFloat16)
                {
                    return (teacher, TeacherPrecision.BFloat16);
                }

                if (!checkOnly && BFloat16Speed.Decide(device, Probe ?? TorchBFloat16Probe.Instance, measureWithoutSupport: true) is { UseBFloat16: false } slow)
                {
                    LogBFloat16Slow(logger, slow.Factor ?? double.NaN, slow.Reason);
                }

                return (teacher.UseBFloat16(), TeacherPrecision.BFloat16);

            case TeacherPrecision.Auto:
                if (alreadyBFloat16)
                {
                    return (teacher, TeacherPrecision.BFloat16);
                }

                // A cache the caller added serves unaugmented batches, computed in float32: bfloat16 would not be used.
                var servedByCache = !augmented && teacher.GetService(typeof(CachingTeacher)) is not null;
                if (checkOnly || servedByCache || module is null || featurePaths.Count > 0 || !HoldsFloat32Only(module))
                {
                    return (teacher, TeacherPrecision.Float32);
                }

                var decision = BFloat16Speed.Decide(device, Probe ?? TorchBFloat16Probe.Instance, measureWithoutSupport: false);
                LogAutoDecision(logger, decision.Reason);
                return decision.UseBFloat16 ? (teacher.UseBFloat16(), TeacherPrecision.BFloat16) : (teacher, TeacherPrecision.Float32);

            default:
                return (teacher, TeacherPrecision.Float32);
        }
    }

    private static bool HoldsFloat32Only(nn.Module module) =>
        module.state_dict().Values.All(value => !value.is_floating_point() || value.dtype == ScalarType.Float32);

    /// <summary>Checks every value.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        if (!Enum.IsDefined(Precision))
        {
            throw OptionChecks.OutOfRange(nameof(Precision), Precision, "one of Float32, BFloat16");
        }

        OptionChecks.IntegerIn(MaxBytes, nameof(MaxBytes), 0, long.MaxValue);
        if (ViewCacheDirectory is not null && string.IsNullOrWhiteSpace(ViewCacheDirectory))
        {
            throw OptionChecks.OutOfRange(nameof(ViewCacheDirectory), "an empty name", "a folder name, or null for no view cache");
        }
    }

    [LoggerMessage(EventId = 120, Level = LogLevel.Information, Message = "Teacher precision Auto chose {Reason}")]
    private static partial void LogAutoDecision(ILogger logger, string reason);

    [LoggerMessage(EventId = 121, Level = LogLevel.Warning, Message = "TeacherOutputs.Precision BFloat16 was requested, but bfloat16 is slow on this device (the probe's bfloat16 time is {Factor:F2}x float32's): {Reason}. It runs as asked; TeacherPrecision.Auto or Float32 would be faster.")]
    private static partial void LogBFloat16Slow(ILogger logger, double factor, string reason);
}
