using System.Globalization;
using System.Security.Cryptography;
using Distillation.Losses;
using Distillation.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// A teacher whose logits were computed elsewhere (on another machine, by another framework) and
/// saved as a safetensors file holding one 2-D float tensor [images, classes]: row i is the
/// teacher's logits for image i of the training set in its stored order. Distillation looks the
/// rows up by image index and never runs a model. The file is checked when it is read (one tensor,
/// 2-D, floating point, every value finite); a run is refused before it starts when the rows do not
/// cover the training set, when the class count differs, with augmentation (the rows belong to
/// the un-augmented images), with feature terms (there are none), and for evaluation.
/// </summary>
/// <example>
/// <code>
/// using var teacher = new PrecomputedTeacher("teacher-logits.safetensors");
/// var trainer = new Trainer&lt;PrecomputedTeacher, StudentNet&gt;(teacher, new StudentNet());
/// trainer.Distill(train, test);
/// </code>
/// </example>
public sealed class PrecomputedTeacher : ITeacher
{
    private readonly Tensor logits;
    private Tensor? onDevice;

    /// <summary>Reads and checks the logits file.</summary>
    /// <param name="path">A safetensors file with exactly one tensor, 2-D, of a floating-point dtype.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not valid safetensors, does not hold exactly one 2-D floating-point tensor, or holds a value that is not finite; the message names the file (and the row).</exception>
    public PrecomputedTeacher(string path)
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

        using var scope = NewDisposeScope();
        var values = stored.to(ScalarType.Float32);
        var badRows = values.isfinite().all(1).logical_not().nonzero();
        if (badRows.shape[0] > 0)
        {
            var first = badRows[0, 0].item<long>();
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"The teacher logits file {Path} holds values that are not finite (NaN or infinite) in {badRows.shape[0]} rows, the first row {first}; every logit must be a finite number."));
        }

        logits = values.clone().DetachFromDisposeScope();
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

    /// <inheritdoc/>
    /// <exception cref="NotSupportedException">The request is for evaluation: the rows belong to the training images, by index.</exception>
    /// <exception cref="ArgumentException">The loss reads features; or the training set has another number of images or classes.</exception>
    /// <exception cref="InvalidOperationException">The batches are augmented.</exception>
    public TeacherPreparation Prepare(TeacherRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ForEvaluation)
        {
            throw new NotSupportedException($"The precomputed teacher {Path} holds logits of the training images, looked up by index; it cannot run on images. Evaluate the model that produced them instead.");
        }

        request.ThrowIfFeaturesRequested(nameof(PrecomputedTeacher));

        if (request.Augmented)
        {
            throw new InvalidOperationException($"The teacher logits in {Path} belong to the un-augmented training images; set TrainerOptions.Augmentation to null to distill from them.");
        }

        CheckCovers(request.Data.Count, request.Data.ClassNames.Count);
        if (request.CheckOnly)
        {
            return new TeacherPreparation();
        }

        using (NewDisposeScope())
        {
            onDevice = logits.to(request.Device, copy: true).DetachFromDisposeScope();
        }

        return new TeacherPreparation(
            () =>
            {
                onDevice?.Dispose();
                onDevice = null;
            },
            outputsCached: true);
    }

    /// <summary>The rows of the batch's images.</summary>
    /// <exception cref="InvalidOperationException">The teacher is not prepared.</exception>
    public TeacherOutput Forward(TeacherBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var rows = onDevice ?? throw new InvalidOperationException($"The precomputed teacher {Path} is not prepared: call Prepare with the training set first.");
        return new TeacherOutput(rows.index_select(0, batch.Indices.to(rows.device)), DistillationContext.NoFeatures);
    }

    /// <inheritdoc/>
    public object? GetService(Type serviceType)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Frees the logits.</summary>
    public void Dispose()
    {
        onDevice?.Dispose();
        logits.Dispose();
    }

    /// <summary>Fails unless there is one row per training image and one column per class.</summary>
    /// <exception cref="ArgumentException">The counts differ; the message names both and the file.</exception>
    public void CheckCovers(int images, int classes)
    {
        if (images != Images)
        {
            throw new ArgumentException(
                $"The teacher logits file {Path} holds {Images} rows, but the training set has {images} images: it needs one row per training image, in the dataset's stored order.");
        }

        if (classes != Classes)
        {
            throw new ArgumentException($"The teacher logits file {Path} holds {Classes} logits per row, but the training set has {classes} classes.");
        }
    }
}
