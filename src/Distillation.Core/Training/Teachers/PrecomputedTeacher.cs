using System.Globalization;
using System.Security.Cryptography;
using Distillation.Data;
using Distillation.Losses;
using Distillation.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// A teacher whose logits were computed elsewhere (on another machine, by another framework) and
/// saved as a safetensors file holding one float tensor: [images, classes], where row i is the
/// teacher's logits for image i of the training set in its stored order, or [images, views, classes]
/// with the logits of every crop-and-flip view of each image (view v as <see cref="TeacherBatch.Views"/>
/// numbers them; the file <see cref="TeacherOutputOptions.ViewCacheDirectory"/> writes is one).
/// Distillation looks the rows up by image index (and view) and never runs a model. The file is
/// checked when it is read (one tensor, 2-D or 3-D with a view count of the form (2P + 1)² or
/// 2·(2P + 1)², floating point, every value finite); a run is refused before it starts when the rows
/// do not cover the training set, when the class count differs, with augmentation unless the file
/// holds exactly the run's views (no random-resized crop, no mixup or CutMix, the same padding and
/// flip, and, where the file's metadata names them, the same images and image size), with feature
/// terms (there are none), and for evaluation. Without augmentation, a file of views serves each
/// image's centred, unmirrored view.
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
    private readonly IReadOnlyDictionary<string, string> metadata;
    private readonly CropFlipViews? layout;
    private Tensor? onDevice;
    private Tensor? servedView;

    /// <summary>Reads and checks the logits file.</summary>
    /// <param name="path">A safetensors file with exactly one tensor of a floating-point dtype, [images, classes] or [images, views, classes].</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not valid safetensors, does not hold exactly one 2-D or 3-D floating-point tensor, holds a view count that is no crop-and-flip layout, or holds a value that is not finite; the message names the file (and the row).</exception>
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
        if (stored.dim() is not (2 or 3) || !stored.is_floating_point() || stored.shape[^1] == 0 || (stored.dim() == 3 && stored.shape[1] == 0))
        {
            throw new InvalidDataException(
                $"The teacher logits file {Path} holds '{name}' of shape [{string.Join(", ", stored.shape)}] and dtype {stored.dtype}; it must be a 2-D floating-point tensor [images, classes] or a 3-D one [images, views, classes].");
        }

        if (stored.dim() == 3)
        {
            layout = CropFlipViews.FromCount(stored.shape[1]) ?? throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"The teacher logits file {Path} holds {stored.shape[1]} views per image; a file of crop-and-flip views holds (2P + 1)² (crops of padding P) or 2·(2P + 1)² (with flips), 162 for padding 4 and flip."));
        }

        metadata = content.Metadata;
        using var scope = NewDisposeScope();

        // Views stay in the file's float16 (a CIFAR-10 view file is 160 MB so, twice that in float32); rows of one image become float32 here, as before.
        var values = stored.dim() == 3 && stored.dtype is ScalarType.Float16 or ScalarType.BFloat16 ? stored : stored.to(ScalarType.Float32);
        var badRows = values.isfinite().reshape(values.shape[0], -1).all(1).logical_not().nonzero();
        if (badRows.shape[0] > 0)
        {
            var first = badRows[0, 0].item<long>();
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"The teacher logits file {Path} holds values that are not finite (NaN or infinite) in {badRows.shape[0]} rows, the first row {first}; every logit must be a finite number."));
        }

        logits = values.clone().DetachFromDisposeScope();
        Images = (int)stored.shape[0];
        Views = stored.dim() == 3 ? (int)stored.shape[1] : 1;
        Classes = (int)stored.shape[^1];
    }

    /// <summary>The logits file's full path.</summary>
    public string Path { get; }

    /// <summary>The number of rows: one per training image.</summary>
    public int Images { get; }

    /// <summary>The number of classes: the row length.</summary>
    public int Classes { get; }

    /// <summary>The crop-and-flip views per image the file holds: 1 for an [images, classes] file.</summary>
    public int Views { get; }

    /// <summary>The SHA-256 of the logits file, as lowercase hex.</summary>
    public string Fingerprint { get; }

    /// <inheritdoc/>
    /// <exception cref="NotSupportedException">The request is for evaluation: the rows belong to the training images, by index.</exception>
    /// <exception cref="ArgumentException">The loss reads features; or the training set has another number of images or classes.</exception>
    /// <exception cref="InvalidOperationException">The batches are augmented and the file does not hold their views: an [images, classes] file, a random-resized crop, mixup or CutMix, other padding or flipping, or (as the file's metadata says) other images or another image size.</exception>
    public TeacherPreparation Prepare(TeacherRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ForEvaluation)
        {
            throw new NotSupportedException($"The precomputed teacher {Path} holds logits of the training images, looked up by index; it cannot run on images. Evaluate the model that produced them instead.");
        }

        request.ThrowIfFeaturesRequested(nameof(PrecomputedTeacher));

        if (request.Augmented && layout is null)
        {
            throw new InvalidOperationException($"The teacher logits in {Path} belong to the un-augmented training images; set TrainerOptions.Augmentation to null to distill from them, or use a file of every crop-and-flip view, [images, views, classes].");
        }

        if (request.Augmented)
        {
            CheckViews(request);
        }

        CheckCovers(request.Data.Count, request.Data.ClassNames.Count);
        if (request.CheckOnly)
        {
            return new TeacherPreparation();
        }

        using (NewDisposeScope())
        {
            onDevice = logits.reshape(Images * Views, Classes).to(request.Device, copy: true).DetachFromDisposeScope();

            // Un-augmented batches of a view file read each image's centred, unmirrored view.
            servedView = layout is not null && !request.Augmented ? full([1], layout.Centre, ScalarType.Int64).DetachFromDisposeScope() : null;
        }

        return new TeacherPreparation(
            () =>
            {
                onDevice?.Dispose();
                onDevice = null;
                servedView?.Dispose();
                servedView = null;
            },
            outputsCached: true);
    }

    /// <summary>Fails unless the run's augmented images are views this file holds.</summary>
    private void CheckViews(TeacherRequest request)
    {
        var augmentation = request.Augmentation ?? throw new InvalidOperationException(
            $"The teacher logits file {Path} holds {Views} views per image, but the request does not say how the batches are augmented (TeacherRequest.Augmentation).");
        var reason = augmentation.RandomResizedCrop ? "a random-resized crop's images are not among them; use pad-and-crop"
            : augmentation.Mixes ? "mixup and CutMix images are not views of one image; set MixupAlpha and CutMixAlpha to 0"
            : null;
        var runViews = CropFlipViews.Of(augmentation);
        if (reason is null && runViews!.Count != Views)
        {
            reason = string.Create(CultureInfo.InvariantCulture, $"this run's augmentation ({runViews.Identity}) makes {runViews.Count}");
        }

        if (reason is null && metadata.TryGetValue(TeacherViewFile.ViewsKey, out var fileViews) && fileViews != runViews!.Identity)
        {
            reason = $"they are views of '{fileViews}', and this run's augmentation is '{runViews.Identity}'";
        }

        if (reason is null && request.Data is ImageDataset resident)
        {
            var size = TeacherViewFile.SizeOf(resident.Images.shape[2], resident.Images.shape[3]);
            if (metadata.TryGetValue(TeacherViewFile.SizeKey, out var fileSize) && fileSize != size)
            {
                reason = $"they are views of {fileSize} images, and the training images are {size}";
            }
            else if (metadata.TryGetValue(TeacherViewFile.DataKey, out var data) && data != TeacherViewFile.DataFingerprint(resident))
            {
                reason = "they were computed for other training images (the file's data digest differs from this training set's)";
            }
        }

        if (reason is not null)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"The teacher logits file {Path} holds {Views} crop-and-flip views per image, but {reason}."));
        }
    }

    /// <summary>The rows of the batch's images.</summary>
    /// <exception cref="InvalidOperationException">The teacher is not prepared.</exception>
    public TeacherOutput Forward(TeacherBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var rows = onDevice ?? throw new InvalidOperationException($"The precomputed teacher {Path} is not prepared: call Prepare with the training set first.");
        if (layout is null)
        {
            return new TeacherOutput(rows.index_select(0, batch.Indices.to(rows.device)), DistillationContext.NoFeatures);
        }

        var views = batch.Views ?? servedView ?? throw new InvalidOperationException(
            $"The teacher logits file {Path} holds {Views} views per image, and this augmented batch has no view indices (TeacherBatch.Views).");
        var flat = batch.Indices.mul(Views).add(views).to(rows.device);
        return new TeacherOutput(rows.index_select(0, flat).to(ScalarType.Float32), DistillationContext.NoFeatures);
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
        servedView?.Dispose();
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
