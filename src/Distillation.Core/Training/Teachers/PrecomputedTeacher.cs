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

    /// <summary>
    /// A teacher's logits of every crop-and-flip view of a set's images, as a file of views holds
    /// them: float16 [rows, views, classes] on the CPU, the rows those of batches
    /// [<paramref name="firstBatch"/>, <paramref name="endBatch"/>) of the set's stored-order plan in
    /// batches of <paramref name="batchSize"/>, view v the image that <see cref="TeacherBatch.Views"/>
    /// numbers v under <paramref name="augmentation"/>. Pad-4 crop and flip makes 162 views, so this
    /// costs 162 teacher passes over the images: split the batches between machines, concatenate the
    /// rows in order and save them with <see cref="WriteViews"/> (<c>distill logits --views --shard i/N</c>
    /// does both).
    /// </summary>
    /// <param name="teacher">The teacher; it is prepared for this pass and left unprepared after it.</param>
    /// <param name="data">The training images, in the order the run will index them.</param>
    /// <param name="augmentation">The run's augmentation: pad-and-crop with or without flip (no random-resized crop, no mixup or CutMix).</param>
    /// <param name="device">Where the teacher runs; null for the CPU.</param>
    /// <param name="batchSize">Images per batch of the plan.</param>
    /// <param name="firstBatch">The first batch of the range.</param>
    /// <param name="endBatch">The batch after the range; null for the plan's end.</param>
    /// <param name="batchDone">Called with each batch's number when it is done (for progress).</param>
    /// <param name="cancellationToken">Stops between views.</param>
    /// <returns>The logits, float16 [rows, views, classes].</returns>
    /// <exception cref="ArgumentException">The augmentation's images are not views of one image (random-resized crop, mixup or CutMix).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is not positive, or the range is empty or beyond the plan.</exception>
    /// <exception cref="InvalidOperationException">A logit is beyond float16's range (±65504) or NaN.</exception>
    public static Tensor ComputeViews(ITeacher teacher, IBatchSource data, AugmentationOptions augmentation, Device? device = null, int batchSize = 256,
        int firstBatch = 0, int? endBatch = null, Action<int>? batchDone = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(augmentation);
        augmentation.Validate();
        var views = CropFlipViews.Of(augmentation) ?? throw new ArgumentException(
            $"The augmentation {augmentation.Identity} has no fixed views of an image: a file of views needs pad-and-crop (and flip) without random-resized crop, mixup or CutMix.", nameof(augmentation));
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var batches = (data.Count + batchSize - 1) / batchSize;
        var end = endBatch ?? batches;
        if (firstBatch < 0 || end > batches || firstBatch >= end)
        {
            throw new ArgumentOutOfRangeException(nameof(firstBatch), string.Create(CultureInfo.InvariantCulture,
                $"The batches [{firstBatch}, {end}) are not a range of the {batches} batches of {data.Count} images in batches of {batchSize}."));
        }

        device ??= CPU;
        var request = new TeacherRequest(data, device) { RequestedBy = nameof(ComputeViews), BatchSize = batchSize, ForEvaluation = true, CancellationToken = cancellationToken };
        using var preparation = teacher.Prepare(request);
        var cropper = new BatchAugmentation(augmentation, data.Normalization);
        var parts = new List<Tensor>();
        try
        {
            using var noGrad = no_grad();
            using var plan = data.PlanBatches(batchSize);
            for (var step = firstBatch; step < end; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                parts.Add(TeacherViewFile.BatchViews(teacher, plan.GetBatch(step, device).Images, plan.GetIndices(step), cropper, views, cancellationToken).DetachFromDisposeScope());
                batchDone?.Invoke(step);
            }

            var all = cat(parts, 0);
            if (!all.isfinite().all().item<bool>())
            {
                all.Dispose();
                throw new InvalidOperationException("The teacher's logits of some views are not finite in float16 (beyond ±65504, or NaN), so no file of views can hold them.");
            }

            return all;
        }
        finally
        {
            parts.ForEach(t => t.Dispose());
        }
    }

    /// <summary>
    /// Writes logits of views (<see cref="ComputeViews"/>) as a file this teacher reads, atomically,
    /// with metadata naming the views and the image size, so that a run with other padding, flip or
    /// images of another size is refused by name; <paramref name="metadata"/> adds the caller's keys.
    /// </summary>
    /// <param name="path">The safetensors file to write.</param>
    /// <param name="views">The logits, [images, views, classes]; written as float16.</param>
    /// <param name="augmentation">The augmentation the views are of.</param>
    /// <param name="imageHeight">The training images' height.</param>
    /// <param name="imageWidth">The training images' width.</param>
    /// <param name="metadata">More metadata to store (keys other than the file's own); null for none.</param>
    /// <exception cref="ArgumentException">The tensor is not 3-D, its view count is not the augmentation's, the augmentation has no fixed views, or <paramref name="metadata"/> sets one of the file's own keys.</exception>
    public static void WriteViews(string path, Tensor views, AugmentationOptions augmentation, int imageHeight, int imageWidth, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(views);
        ArgumentNullException.ThrowIfNull(augmentation);
        ArgumentOutOfRangeException.ThrowIfLessThan(imageHeight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(imageWidth, 1);
        var layout = CropFlipViews.Of(augmentation) ?? throw new ArgumentException(
            $"The augmentation {augmentation.Identity} has no fixed views of an image (random-resized crop, mixup or CutMix).", nameof(augmentation));
        if (views.dim() != 3 || views.shape[1] != layout.Count)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"The views tensor has shape [{string.Join(", ", views.shape)}]; {layout.Identity} needs [images, {layout.Count}, classes]."), nameof(views));
        }

        var stored = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [TeacherViewFile.FormatKey] = TeacherViewFile.Format,
            [TeacherViewFile.ViewsKey] = layout.Identity,
            [TeacherViewFile.SizeKey] = TeacherViewFile.SizeOf(imageHeight, imageWidth),
        };
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            if (!stored.TryAdd(key, value))
            {
                throw new ArgumentException($"The metadata key '{key}' is the file's own; use another name.", nameof(metadata));
            }
        }

        using var scope = NewDisposeScope();
        Safetensors.Write(path, [new(TeacherViewFile.TensorName, views.to(ScalarType.Float16).contiguous())], stored);
    }

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
