namespace Distillation.Training;

/// <summary>When the frozen teacher's outputs are computed once and reused, rather than recomputed every epoch.</summary>
public enum TeacherOutputCaching
{
    /// <summary>Cache when the training inputs are the same every epoch, that is without augmentation; else run the teacher live.</summary>
    Auto,

    /// <summary>Always run the teacher live, batch by batch.</summary>
    Never,
}

/// <summary>The number format the frozen teacher runs in during distillation.</summary>
public enum TeacherPrecision
{
    /// <summary>The teacher's own float32 weights and inputs.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "Named as TorchSharp's ScalarType.Float32, which it means.")]
    Float32,

    /// <summary>
    /// A bfloat16 copy of the teacher's weights, fed bfloat16 channels-last images; its logits are
    /// returned in float32. On CPUs with AVX512-BF16 or AMX the convolutions run about twice as fast.
    /// </summary>
    BFloat16,
}

/// <summary>
/// Caching of the teacher's outputs during distillation. The teacher is frozen and in eval mode,
/// so without augmentation its logits (and the hooked features a loss term reads) are the same
/// every epoch: they are computed once, before the first epoch, held on the training device and
/// sliced per batch. The losses equal those of a live teacher.
/// </summary>
public sealed class TeacherOutputOptions
{
    /// <summary>When to cache. Default: <see cref="TeacherOutputCaching.Auto"/>.</summary>
    public TeacherOutputCaching Caching { get; set; } = TeacherOutputCaching.Auto;

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
    /// The number format of a teacher that runs live, batch by batch (with augmentation, or with
    /// caching off). With <see cref="TeacherPrecision.BFloat16"/>, <c>Distill</c> converts the teacher's
    /// floating-point parameters and buffers to bfloat16 for the call and restores its float32 values
    /// bit for bit when the call returns or throws; losses that read the teacher's features are
    /// refused, and a cached teacher's outputs are still computed once in float32. Logits differ from
    /// float32 ones by bfloat16 rounding (about 3 significant digits). Default:
    /// <see cref="TeacherPrecision.Float32"/>, so that runs reproduce to the bit.
    /// </summary>
    public TeacherPrecision Precision { get; set; } = TeacherPrecision.Float32;

    /// <summary>
    /// The default pipeline over <paramref name="teacher"/> for one run: cached when
    /// <see cref="Caching"/> is <see cref="TeacherOutputCaching.Auto"/> and the images do not change
    /// between epochs (computed once in float32), else run live in <see cref="Precision"/> (bfloat16
    /// only for a teacher that holds a module). A teacher that already caches or runs in bfloat16 is
    /// not wrapped again. The wrappers are not disposed: they own nothing that outlives the run's
    /// preparation, and the caller keeps <paramref name="teacher"/>.
    /// </summary>
    internal ITeacher Apply(ITeacher teacher, bool augmented)
    {
        if (Caching == TeacherOutputCaching.Auto && !augmented)
        {
            return teacher.GetService(typeof(CachingTeacher)) is null ? teacher.UseCache(MaxBytes, Directory) : teacher;
        }

        return Precision == TeacherPrecision.BFloat16 && teacher.GetModule() is not null && teacher.GetService(typeof(BFloat16Teacher)) is null
            ? teacher.UseBFloat16()
            : teacher;
    }

    /// <summary>Checks every value.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        if (!Enum.IsDefined(Precision))
        {
            throw OptionChecks.OutOfRange(nameof(Precision), Precision, "one of Float32, BFloat16");
        }

        if (!Enum.IsDefined(Caching))
        {
            throw OptionChecks.OutOfRange(nameof(Caching), Caching, "one of Auto, Never");
        }

        OptionChecks.IntegerIn(MaxBytes, nameof(MaxBytes), 0, long.MaxValue);
    }
}
