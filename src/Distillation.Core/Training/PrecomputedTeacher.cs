using System.Security.Cryptography;
using Distillation.Data;
using Distillation.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// A teacher whose logits were computed elsewhere (on another machine, by another framework) and
/// saved as a safetensors file holding one 2-D float tensor [images, classes]: row i is the
/// teacher's logits for image i of the training set in its stored order. Distillation looks the
/// rows up by image index, as it does with cached outputs, and never runs a model. The rows belong
/// to the un-augmented images, so distillation from them refuses <see cref="TrainerOptions.Augmentation"/>;
/// and there are no features, so feature terms are refused too. Both are checked before training.
/// </summary>
/// <example>
/// <code>
/// using var teacher = new PrecomputedTeacher("teacher-logits.safetensors");
/// var trainer = new Trainer&lt;PrecomputedTeacher, StudentNet&gt;(teacher, new StudentNet());
/// trainer.Distill(train, test);
/// </code>
/// </example>
public sealed class PrecomputedTeacher : nn.Module<Tensor, Tensor>, IExternalTeacher
{
    private readonly Tensor logits;

    /// <summary>Reads the logits file.</summary>
    /// <param name="path">A safetensors file with exactly one tensor, 2-D, of a floating-point dtype.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not valid safetensors, or does not hold exactly one 2-D floating-point tensor; the message names the file.</exception>
    public PrecomputedTeacher(string path)
        : base(nameof(PrecomputedTeacher))
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = System.IO.Path.GetFullPath(path);
        using (var stream = File.OpenRead(Path))
        {
            Fingerprint = Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
        }

        using var content = Safetensors.Read(Path);
        if (content.Tensors.Count != 1)
        {
            throw new InvalidDataException($"The teacher logits file {Path} holds {content.Tensors.Count} tensors; it must hold exactly one, [images, classes].");
        }

        var (name, stored) = content.Tensors.Single();
        if (stored.dim() != 2 || !stored.is_floating_point() || stored.shape[1] == 0)
        {
            throw new InvalidDataException(
                $"The teacher logits file {Path} holds '{name}' of shape [{string.Join(", ", stored.shape)}] and dtype {stored.dtype}; it must be a 2-D floating-point tensor [images, classes].");
        }

        logits = stored.to(ScalarType.Float32).clone().DetachFromDisposeScope();
        Images = (int)stored.shape[0];
        Classes = (int)stored.shape[1];
    }

    /// <summary>The logits file's full path.</summary>
    public string Path { get; }

    /// <summary>The number of rows: one per training image.</summary>
    public int Images { get; }

    /// <summary>The number of classes: the row length.</summary>
    public int Classes { get; }

    /// <summary>The SHA-256 of the logits file, as lowercase hex.</summary>
    public string Fingerprint { get; }

    /// <summary>Not supported: the logits belong to the training images, by index; there is no model to run.</summary>
    /// <param name="input">Unused.</param>
    /// <returns>Never returns.</returns>
    /// <exception cref="NotSupportedException">Always.</exception>
    public override Tensor forward(Tensor input) =>
        throw new NotSupportedException($"The precomputed teacher {Path} holds logits of the training images, looked up by index; it cannot run on images. Evaluate the model that produced them instead.");

    /// <summary>Fails unless there is one row per image of <paramref name="train"/>.</summary>
    internal void CheckCovers(IBatchSource train)
    {
        if (train.Count != Images)
        {
            throw new ArgumentException(
                $"The teacher logits file {Path} holds {Images} rows, but the training set has {train.Count} images: it needs one row per training image, in the dataset's stored order.",
                nameof(train));
        }
    }

    /// <summary>The logits as a teacher-output cache on <paramref name="device"/>, looked up by image index.</summary>
    internal TeacherOutputCache CreateCache(IBatchSource train, Device device)
    {
        CheckCovers(train);
        using var scope = NewDisposeScope();
        return TeacherOutputCache.FromLogits(logits.to(device, copy: true).DetachFromDisposeScope());
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            logits.Dispose();
        }

        base.Dispose(disposing);
    }
}
