using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// Builds teachers and composes them, each call wrapping the teacher before it:
/// <c>Teacher.From(model).UseBFloat16().UseCache()</c> is a live module run in bfloat16 whose outputs
/// are cached. Decorators own what they wrap, so disposing the outermost teacher disposes all.
/// </summary>
public static class Teacher
{
    /// <summary>
    /// A live teacher that runs <paramref name="module"/>: each batch runs through it in eval mode
    /// without gradients, and forward hooks capture the outputs of the module paths a loss asks for.
    /// Its fingerprint is the SHA-256 of the module's state dict, so a teacher trained further is a
    /// new teacher. <see cref="GetModule"/> gives the module back.
    /// </summary>
    /// <param name="module">The teacher's network.</param>
    /// <param name="ownsModule">True to dispose the module with the teacher; by default the caller keeps and disposes it.</param>
    /// <returns>The teacher.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="module"/> is null.</exception>
    public static ITeacher From(nn.Module<Tensor, Tensor> module, bool ownsModule = false) =>
        new ModuleTeacher<nn.Module<Tensor, Tensor>>(module, ownsModule);

    /// <summary>A teacher of logits computed elsewhere, read from a safetensors file (see <see cref="PrecomputedTeacher"/>).</summary>
    /// <param name="path">The logits file.</param>
    /// <returns>The teacher.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid logits file; the message says why.</exception>
    public static PrecomputedTeacher FromLogitsFile(string path) => new(path);

    /// <summary>
    /// Several teachers as one: its logits are the mean of the members' log-probabilities
    /// (log-softmax of each member's logits), whose softmax is the members' normalized geometric
    /// mean. Each member is any <see cref="ITeacher"/> (a live module, an ONNX model, logits from a
    /// file, snapshots of one run), prepared and run in turn. Logits only: members' features have no
    /// common meaning.
    /// </summary>
    /// <param name="members">Two or more teachers; the ensemble owns them and disposes them.</param>
    /// <returns>The ensemble.</returns>
    /// <exception cref="ArgumentException">Fewer than two members, a null member, or one member given twice.</exception>
    public static ITeacher Ensemble(params ITeacher[] members) => new EnsembleTeacher(members);

    /// <summary>
    /// Runs a live module teacher in bfloat16 during each run (float32 logits out), restoring its
    /// float32 weights bit for bit afterwards; fast on CPUs with AVX512-BF16 or AMX, slow elsewhere.
    /// Refuses losses that read the teacher's features.
    /// </summary>
    /// <param name="teacher">A teacher holding a TorchSharp module.</param>
    /// <returns>The decorated teacher.</returns>
    /// <exception cref="ArgumentException"><paramref name="teacher"/> holds no TorchSharp module.</exception>
    public static ITeacher UseBFloat16(this ITeacher teacher) => new BFloat16Teacher(teacher);

    /// <summary>
    /// Computes the teacher's outputs once per run when the images are the same every epoch (no
    /// augmentation) and looks them up per batch; otherwise the teacher runs live.
    /// </summary>
    /// <param name="teacher">The teacher whose outputs are cached.</param>
    /// <param name="maxBytes">The largest cache to hold; a larger one is not built and the teacher runs live, with a warning.</param>
    /// <param name="directory">A folder to keep the cache in between runs (resident datasets only); null for memory only.</param>
    /// <returns>The decorated teacher.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxBytes"/> is negative.</exception>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is empty.</exception>
    public static ITeacher UseCache(this ITeacher teacher, long maxBytes = 2L << 30, string? directory = null) => new CachingTeacher(teacher, maxBytes, directory);

    /// <summary>
    /// Labels each image with the teacher's flip test-time augmentation: the mean of its
    /// log-probabilities for the image and for its mirror (the combination of <see cref="Ensemble"/>),
    /// at the cost of a second teacher pass per batch. Apply it to a teacher that runs on the images,
    /// inside any cache: <c>Teacher.From(model).UseFlipAveraging()</c>, which the trainer's output
    /// cache and bfloat16 options then wrap. Logits only.
    /// </summary>
    /// <param name="teacher">A teacher that runs on the images (a module, an ONNX model).</param>
    /// <returns>The decorated teacher; its fingerprint is the inner one's, marked.</returns>
    public static ITeacher UseFlipAveraging(this ITeacher teacher) => new FlipAveragingTeacher(teacher);

    /// <summary>
    /// Looks the teacher's logits up per crop-and-flip view from a file in <paramref name="directory"/>,
    /// computed once (see <see cref="TeacherOutputOptions.ViewCacheDirectory"/>, which applies it).
    /// </summary>
    internal static ITeacher UseViewCache(this ITeacher teacher, string directory) => new ViewCachingTeacher(teacher, directory);

    /// <summary>Wraps <paramref name="teacher"/> in a decorator of the caller's, such as a <see cref="DelegatingTeacher"/> subclass.</summary>
    /// <param name="teacher">The teacher to wrap.</param>
    /// <param name="decorator">Makes the wrapping teacher.</param>
    /// <returns>What <paramref name="decorator"/> returned.</returns>
    /// <exception cref="InvalidOperationException"><paramref name="decorator"/> returned null.</exception>
    public static ITeacher Use(this ITeacher teacher, Func<ITeacher, ITeacher> decorator)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(decorator);
        return decorator(teacher) ?? throw new InvalidOperationException("The teacher decorator returned null.");
    }

    /// <summary>The TorchSharp module a teacher holds, or null (an ONNX model, a logits file, an ensemble).</summary>
    /// <param name="teacher">Any teacher.</param>
    /// <returns>The module, or null.</returns>
    public static nn.Module<Tensor, Tensor>? GetModule(this ITeacher teacher)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        return teacher.GetService(typeof(nn.Module<Tensor, Tensor>)) as nn.Module<Tensor, Tensor>;
    }

    /// <summary>A teacher for what the trainer was given: a teacher as it is, a module as a live teacher.</summary>
    internal static ITeacher Adapt(object teacher, string parameterName) => teacher switch
    {
        ITeacher given => given,
        nn.Module<Tensor, Tensor> module => new ModuleTeacher<nn.Module<Tensor, Tensor>>(module),
        _ => throw new ArgumentException($"A teacher is an ITeacher or a TorchSharp module mapping images to logits; {teacher.GetType().Name} is neither.", parameterName),
    };
}
