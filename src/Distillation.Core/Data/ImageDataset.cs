using Distillation.Devices;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Data;

/// <summary>
/// A labelled image dataset held in memory as one resident uint8 tensor [N, C, H, W] and one int64
/// label tensor [N]. Batches are sliced from it (no per-item collation) and normalized on the fly.
/// The dataset owns both tensors and disposes them.
/// </summary>
public sealed class ImageDataset : IBatchSource, IDisposable
{
    private readonly BatchNormalizer normalizer;
    private bool disposed;

    /// <summary>Creates a dataset over existing tensors, taking ownership of them.</summary>
    /// <param name="images">uint8 images, shape [N, C, H, W], on the CPU.</param>
    /// <param name="labels">int64 labels, shape [N], each in [0, classNames.Count).</param>
    /// <param name="classNames">The class names, indexed by label.</param>
    /// <param name="normalization">Per-channel normalization; <see cref="ImageNormalization.ImageNet"/> (the notebook's) when null.</param>
    /// <exception cref="ArgumentException">A tensor has the wrong type or shape, or a label is out of range.</exception>
    public ImageDataset(Tensor images, Tensor labels, IReadOnlyList<string> classNames, ImageNormalization? normalization = null)
    {
        TorchRuntime.EnsureAvailable();
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        normalization ??= ImageNormalization.ImageNet;

        if (images.dtype != ScalarType.Byte || images.dim() != 4)
        {
            throw new ArgumentException($"Images must be a uint8 tensor [N, C, H, W]; got {images.dtype} [{string.Join(", ", images.shape)}].", nameof(images));
        }

        if (labels.dtype != ScalarType.Int64 || labels.dim() != 1 || labels.shape[0] != images.shape[0])
        {
            throw new ArgumentException($"Labels must be an int64 tensor [{images.shape[0]}]; got {labels.dtype} [{string.Join(", ", labels.shape)}].", nameof(labels));
        }

        if (classNames.Count == 0)
        {
            throw new ArgumentException("At least one class name is needed.", nameof(classNames));
        }

        if (normalization.Mean.Count != images.shape[1])
        {
            throw new ArgumentException($"The normalization has {normalization.Mean.Count} channels; the images have {images.shape[1]}.", nameof(normalization));
        }

        if (labels.shape[0] > 0)
        {
            var min = labels.min().item<long>();
            var max = labels.max().item<long>();
            if (min < 0 || max >= classNames.Count)
            {
                throw new ArgumentException($"Labels must lie in [0, {classNames.Count - 1}]; found [{min}, {max}].", nameof(labels));
            }
        }

        Images = images.DetachFromDisposeScope();
        Labels = labels.DetachFromDisposeScope();
        ClassNames = classNames.ToArray();
        Normalization = normalization;
        normalizer = new BatchNormalizer(normalization);
    }

    /// <summary>The images, uint8 [N, C, H, W], resident on the CPU.</summary>
    public Tensor Images { get; }

    /// <summary>The labels, int64 [N].</summary>
    public Tensor Labels { get; }

    /// <summary>The class names, indexed by label.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>The normalization applied to every batch.</summary>
    public ImageNormalization Normalization { get; }

    /// <summary>The number of images.</summary>
    public int Count => (int)Images.shape[0];

    /// <summary>The first <paramref name="count"/> images (all of them when fewer), as a new dataset sharing no tensors with this one.</summary>
    /// <param name="count">How many images to keep; must be positive.</param>
    /// <returns>The subset.</returns>
    public ImageDataset Take(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ObjectDisposedException.ThrowIf(disposed, this);
        var n = Math.Min(count, Count);
        return new ImageDataset(Images.narrow(0, 0, n).clone(), Labels.narrow(0, 0, n).clone(), ClassNames, Normalization);
    }

    /// <summary>A random subset of <paramref name="count"/> images (all, shuffled, when fewer), drawn reproducibly from <paramref name="seed"/>.</summary>
    /// <param name="count">How many images to keep; must be positive.</param>
    /// <param name="seed">The seed of the draw.</param>
    /// <returns>The subset, in the order drawn.</returns>
    public ImageDataset Sample(int count, long seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ObjectDisposedException.ThrowIf(disposed, this);
        using var generator = new Generator((ulong)seed);
        using var order = randperm(Count, generator: generator);
        using var chosen = order.narrow(0, 0, Math.Min(count, Count));
        return new ImageDataset(Images.index_select(0, chosen), Labels.index_select(0, chosen), ClassNames, Normalization);
    }

    /// <summary>
    /// Splits off a validation set of <paramref name="validationCount"/> images drawn reproducibly
    /// from <paramref name="seed"/>; the rest is the training set. Both keep this dataset's order,
    /// normalization and class names, and share no tensors with it.
    /// </summary>
    /// <param name="validationCount">Images in the validation set; at least 1 and fewer than <see cref="Count"/>.</param>
    /// <param name="seed">The seed of the draw.</param>
    /// <returns>The two disjoint sets; dispose both.</returns>
    public (ImageDataset Train, ImageDataset Validation) SplitValidation(int validationCount, long seed)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(validationCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(validationCount, Count);
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)seed);
        var order = randperm(Count, generator: generator);
        var validationIndices = order.narrow(0, 0, validationCount).sort().Values;
        var trainIndices = order.narrow(0, validationCount, Count - validationCount).sort().Values;
        var validation = new ImageDataset(Images.index_select(0, validationIndices), Labels.index_select(0, validationIndices), ClassNames, Normalization);
        var train = new ImageDataset(Images.index_select(0, trainIndices), Labels.index_select(0, trainIndices), ClassNames, Normalization);
        return (train, validation);
    }

    /// <summary>The same images and labels with another normalization, as a new dataset (the tensors are copied).</summary>
    /// <param name="normalization">The normalization to use.</param>
    /// <returns>The new dataset.</returns>
    public ImageDataset WithNormalization(ImageNormalization normalization)
    {
        ArgumentNullException.ThrowIfNull(normalization);
        ObjectDisposedException.ThrowIf(disposed, this);
        return new ImageDataset(Images.clone(), Labels.clone(), ClassNames, normalization);
    }

    /// <summary>
    /// Plans one pass over the dataset in batches of <paramref name="batchSize"/> (the last one
    /// partial), in order, or shuffled through a permutation drawn from <paramref name="shuffle"/>.
    /// </summary>
    /// <param name="batchSize">Images per batch; must be positive.</param>
    /// <param name="shuffle">The generator of the permutation; null keeps the stored order.</param>
    /// <returns>The plan; dispose it after the pass.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is less than 1.</exception>
    /// <exception cref="ObjectDisposedException">The dataset has been disposed.</exception>
    public BatchPlan PlanBatches(int batchSize, Generator? shuffle = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ObjectDisposedException.ThrowIf(disposed, this);
        return new ResidentBatchPlan(this, batchSize, shuffle);
    }

    /// <summary>Slices, moves and normalizes one batch; the tensors join the caller's dispose scope.</summary>
    internal Batch Slice(long start, long length, Tensor? order, Device device)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Tensor images, labels;
        if (order is null)
        {
            images = Images.narrow(0, start, length);
            labels = Labels.narrow(0, start, length);
        }
        else
        {
            using var indices = order.narrow(0, start, length);
            images = Images.index_select(0, indices);
            labels = Labels.index_select(0, indices);
        }

        return normalizer.Normalize(images, labels, device);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        Images.Dispose();
        Labels.Dispose();
        normalizer.Dispose();
    }
}

/// <summary>One batch: normalized float32 images [B, C, H, W] and int64 labels [B], on the target device.</summary>
/// <param name="Images">The normalized images.</param>
/// <param name="Labels">The labels.</param>
public readonly record struct Batch(Tensor Images, Tensor Labels)
{
    /// <summary>The number of images in the batch.</summary>
    public int Size => (int)Labels.shape[0];
}

/// <summary>
/// The order of one pass over an <see cref="IBatchSource"/>: fixed at creation, so batch
/// <c>i</c> is the same whenever it is asked for. Call <see cref="GetBatch"/> inside the step's
/// dispose scope. The plan owns the permutation and the batch arithmetic; a source supplies how
/// the images of a batch are read (<see cref="ReadBatch"/>).
/// </summary>
public abstract class BatchPlan : IDisposable
{
    private readonly Tensor? order;
    private bool disposed;

    /// <summary>Plans a pass over <paramref name="imageCount"/> images.</summary>
    /// <param name="imageCount">Images in the source; not negative.</param>
    /// <param name="batchSize">Images per batch; must be positive.</param>
    /// <param name="shuffle">
    /// The generator of the permutation (<c>randperm(imageCount)</c>, one draw); null keeps the
    /// stored order. Every plan draws it the same way, so sources agree for the same generator state.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="imageCount"/> is negative or <paramref name="batchSize"/> is less than 1.</exception>
    protected BatchPlan(int imageCount, int batchSize, Generator? shuffle)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(imageCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        order = shuffle is null ? null : randperm(imageCount, generator: shuffle).DetachFromDisposeScope();
        ImageCount = imageCount;
        BatchSize = batchSize;
        // In long: imageCount + batchSize − 1 overflows an int for a batch size near int.MaxValue.
        BatchCount = (int)(((long)imageCount + batchSize - 1) / batchSize);
    }

    /// <summary>Images per full batch.</summary>
    public int BatchSize { get; }

    /// <summary>Batches in the pass, the last one possibly partial.</summary>
    public int BatchCount { get; }

    /// <summary>Images in the pass.</summary>
    public int ImageCount { get; }

    /// <summary>Whether the batches arrive cropped and flipped by the source (<see cref="IBatchSource.PlanAugmentedBatches"/>), so the trainer must not augment them again.</summary>
    public virtual bool AugmentedBySource => false;

    /// <summary>The permutation of the pass, int64 [<see cref="ImageCount"/>] on the CPU, or null when the plan keeps the stored order.</summary>
    protected Tensor? Order => order;

    /// <summary>Reads batch <paramref name="index"/>, moves it to <paramref name="device"/> and normalizes it.</summary>
    /// <param name="index">The batch index, in [0, <see cref="BatchCount"/>).</param>
    /// <param name="device">The device the batch goes to; the CPU when null.</param>
    /// <returns>The batch, whose tensors join the current dispose scope.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is outside [0, <see cref="BatchCount"/>).</exception>
    /// <exception cref="ObjectDisposedException">The plan or its source has been disposed.</exception>
    public Batch GetBatch(int index, Device? device = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, BatchCount);
        ObjectDisposedException.ThrowIf(disposed, this);
        long start = (long)index * BatchSize;
        var length = Math.Min(BatchSize, ImageCount - start);
        return ReadBatch(index, start, length, device ?? CPU);
    }

    /// <summary>The source indices of the images in batch <paramref name="index"/>, int64 on the CPU; they join the caller's dispose scope.</summary>
    /// <param name="index">The batch, from 0 to <see cref="BatchCount"/> − 1.</param>
    /// <returns>The indices, in the batch's order.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is outside [0, <see cref="BatchCount"/>).</exception>
    /// <exception cref="ObjectDisposedException">The plan has been disposed.</exception>
    public Tensor GetIndices(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, BatchCount);
        ObjectDisposedException.ThrowIf(disposed, this);
        long start = (long)index * BatchSize;
        var length = Math.Min(BatchSize, ImageCount - start);
        return order is null ? arange(start, start + length, dtype: ScalarType.Int64) : order.narrow(0, start, length);
    }

    /// <summary>
    /// Reads the images of one batch: positions [<paramref name="start"/>, <paramref name="start"/> +
    /// <paramref name="length"/>) of the pass, which are the source indices <see cref="GetIndices"/>
    /// gives for <paramref name="index"/>. The result's tensors join the caller's dispose scope.
    /// </summary>
    /// <param name="index">The batch index, already checked.</param>
    /// <param name="start">The batch's first position in the pass.</param>
    /// <param name="length">Images in the batch.</param>
    /// <param name="device">The target device.</param>
    /// <returns>The normalized batch on <paramref name="device"/>.</returns>
    protected abstract Batch ReadBatch(int index, long start, long length, Device device);

    /// <summary>Releases the permutation; subclasses release what they hold and call the base.</summary>
    /// <param name="disposing">True from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing)
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        if (disposing)
        {
            order?.Dispose();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }
}

/// <summary>A pass over an <see cref="ImageDataset"/>: batches are slices of its resident tensor.</summary>
internal sealed class ResidentBatchPlan : BatchPlan
{
    private readonly ImageDataset dataset;

    internal ResidentBatchPlan(ImageDataset dataset, int batchSize, Generator? shuffle)
        : base(dataset.Count, batchSize, shuffle)
    {
        this.dataset = dataset;
    }

    protected override Batch ReadBatch(int index, long start, long length, Device device) =>
        dataset.Slice(start, length, Order, device);
}
