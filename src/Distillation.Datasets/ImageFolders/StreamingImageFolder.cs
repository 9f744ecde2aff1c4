using System.Collections.Concurrent;
using Distillation.Devices;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Distillation.Data;

/// <summary>
/// An image folder (<c>root/&lt;class&gt;/&lt;image&gt;</c>, as <see cref="ImageFolderDataset"/> reads it)
/// decoded batch by batch as it is read, for sets larger than memory. Only the file list stays
/// resident; a plan decodes the next <see cref="ImageFolderOptions.PrefetchBatches"/> batches in the
/// background, one after the other on <see cref="ImageFolderOptions.MaxDegreeOfParallelism"/>
/// threads, while the current one is used. Any batch can be asked for in any order
/// (one out of sequence is decoded on the spot). For the same folder, options and generator state,
/// every batch equals, bit for bit, the one a resident <see cref="ImageFolderDataset"/> load gives;
/// a training pass with a random-resized crop is the exception, cropped from the files while they
/// are decoded (<see cref="ImageFolderOptions.CropWhileDecoding"/>).
/// Disposing the source stops and waits for its background decoding.
/// </summary>
public sealed class StreamingImageFolder : IBatchSource, IDisposable
{
    private readonly ImageFolderIndex index;
    private readonly ImageFolderOptions options;
    private readonly BatchNormalizer normalizer;
    private readonly CancellationTokenSource disposal = new();
    private readonly ConcurrentDictionary<StreamingBatchPlan, byte> openPlans = new();
    private bool disposed;
    private int decodesInFlight;

    private StreamingImageFolder(ImageFolderIndex index, ImageFolderOptions options)
    {
        this.index = index;
        this.options = options;
        normalizer = new BatchNormalizer(options.Normalization);
    }

    /// <summary>Opens <c>root/&lt;class&gt;/&lt;image&gt;</c>: lists the files (nothing is decoded yet).</summary>
    /// <param name="root">The folder whose sub-folders are the classes.</param>
    /// <param name="options">Size, resizing, order, normalization, prefetch; defaults when null. Copied: later changes do not apply.</param>
    /// <param name="logger">Receives a warning per skipped link or undecodable name (as <see cref="ImageFolderDataset"/> lists them); none when null.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    /// <returns>The source; dispose it.</returns>
    /// <exception cref="ArgumentException">The options are invalid, or ask to skip unreadable files (only a resident load can).</exception>
    /// <exception cref="DatasetNotFoundException">The folder is missing or holds no class folder.</exception>
    /// <exception cref="DatasetFormatException">A class folder holds no image.</exception>
    /// <exception cref="OperationCanceledException">The listing was cancelled.</exception>
    public static StreamingImageFolder Open(string root, ImageFolderOptions? options = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        options = Checked(options);
        return new StreamingImageFolder(ImageFolderIndex.Scan(root, options.Order, null, logger, cancellationToken), options);
    }

    /// <summary>Opens a training and a test set, split as <see cref="ImageFolderDataset.LoadSplits"/> splits them (the same files in the same order).</summary>
    /// <param name="root">The folder.</param>
    /// <param name="options">As for <see cref="Open"/>, plus the split; defaults when null.</param>
    /// <param name="logger">Receives a warning per skipped link or undecodable name; none when null.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    /// <returns>The two sources; dispose both.</returns>
    /// <exception cref="ArgumentException">The options are invalid, or ask to skip unreadable files.</exception>
    /// <exception cref="DatasetNotFoundException">A folder is missing or holds no class folder.</exception>
    /// <exception cref="DatasetFormatException">The training classes are fewer than two, a class folder holds no image, <c>test/</c> has a class <c>train/</c> lacks, or a split leaves the test set empty.</exception>
    /// <exception cref="OperationCanceledException">The listing was cancelled.</exception>
    public static (StreamingImageFolder Train, StreamingImageFolder Test) OpenSplits(string root, ImageFolderOptions? options = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        options = Checked(options);
        var (train, test) = ImageFolderIndex.ScanSplits(root, options, logger, cancellationToken);
        return (new StreamingImageFolder(train, options), new StreamingImageFolder(test, options));
    }

    private static ImageFolderOptions Checked(ImageFolderOptions? options)
    {
        options ??= new ImageFolderOptions();
        options.Validate();
        if (options.SkipUnreadable)
        {
            throw new ArgumentException(
                "SkipUnreadable is not available when streaming: a file found unreadable in mid-pass cannot be dropped from a plan that has already counted it. " +
                "Load the folder once with ImageFolderDataset (which names or skips every bad file), or remove the file.", nameof(options));
        }

        TorchRuntime.EnsureAvailable();
        return new ImageFolderOptions
        {
            ImageSize = options.ImageSize,
            Resize = options.Resize,
            Normalization = options.Normalization,
            Order = options.Order,
            MaxDegreeOfParallelism = options.MaxDegreeOfParallelism,
            PrefetchBatches = options.PrefetchBatches,
            CropWhileDecoding = options.CropWhileDecoding,
            TestFraction = options.TestFraction,
            SplitSeed = options.SplitSeed,
        };
    }

    /// <inheritdoc />
    public int Count => index.Count;

    /// <inheritdoc />
    public IReadOnlyList<string> ClassNames => index.ClassNames;

    /// <inheritdoc />
    public ImageNormalization Normalization => options.Normalization;

    /// <summary>The height and width of every image.</summary>
    public int ImageSize => options.ImageSize;

    /// <summary>The folder read.</summary>
    public string Root => index.Root;

    /// <inheritdoc />
    public BatchPlan PlanBatches(int batchSize, Generator? shuffle = null)
    {
        // The plan's constructor refuses a batch size below 1.
        ObjectDisposedException.ThrowIf(disposed, this);
        return Track(new StreamingBatchPlan(this, batchSize, shuffle));
    }

    /// <summary>
    /// With <see cref="ImageFolderOptions.CropWhileDecoding"/> and a random-resized crop: a plan whose
    /// decoders crop and flip each image from its file. The pass's seed is one draw of
    /// <paramref name="draws"/>, taken after the permutation.
    /// </summary>
    BatchPlan? IBatchSource.PlanAugmentedBatches(int batchSize, Generator? shuffle, AugmentationOptions augmentation, Generator draws)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (!options.CropWhileDecoding || !augmentation.RandomResizedCrop)
        {
            return null;
        }

        return Track(new StreamingBatchPlan(this, batchSize, shuffle, (augmentation, draws)));
    }

    private StreamingBatchPlan Track(StreamingBatchPlan plan)
    {
        openPlans[plan] = 0;
        return plan;
    }

    /// <summary>Stops the background decoding of every open plan, waits for it, and releases the plans.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        disposal.Cancel();
        foreach (var plan in openPlans.Keys)
        {
            plan.Dispose();
        }

        normalizer.Dispose();
        disposal.Dispose();
    }

    /// <summary>
    /// Decodes the images at <paramref name="indices"/> into one uint8 buffer [n, 3, size, size]:
    /// resized as the options say, or, with <paramref name="crops"/>, each cropped and flipped as
    /// drawn for its position in the pass (<paramref name="start"/> + its place in the batch).
    /// </summary>
    /// <exception cref="InvalidDataException">An image cannot be decoded; the first such (in batch order) is named.</exception>
    internal byte[] DecodeImages(long[] indices, CancellationToken cancellationToken, DecodedCrops? crops = null, long start = 0)
    {
        Interlocked.Increment(ref decodesInFlight);
        try
        {
            return DecodeAll(indices, crops, start, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref decodesInFlight);
        }
    }

    private byte[] DecodeAll(long[] indices, DecodedCrops? crops, long start, CancellationToken cancellationToken)
    {
        var imageBytes = ImageDecoder.BytesPerImage(options.ImageSize);
        var pixels = new byte[checked(indices.Length * imageBytes)];
        var failures = new ConcurrentDictionary<int, InvalidDataException>();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism, CancellationToken = cancellationToken };
        Parallel.For(0, indices.Length, parallel, (k, state) =>
        {
            try
            {
                var target = pixels.AsSpan(k * imageBytes, imageBytes);
                if (crops is null)
                {
                    ImageDecoder.Decode(index.Files[indices[k]], options.ImageSize, options.Resize, target);
                }
                else
                {
                    ImageDecoder.DecodeResizedCrop(index.Files[indices[k]], options.ImageSize, crops, start + k, target);
                }
            }
            catch (InvalidDataException e)
            {
                failures[k] = e;

                // Break, not Stop: every image before this one is still decoded, so the first
                // failure in batch order is the one named, however the threads raced.
                state.Break();
            }
        });

        if (!failures.IsEmpty)
        {
            var first = failures.MinBy(pair => pair.Key).Value;
            throw new InvalidDataException(first.Message, first.InnerException);
        }

        return pixels;
    }

    internal long[] LabelsOf(long[] indices) => indices.Select(i => index.Labels[i]).ToArray();

    internal Batch ToBatch(byte[] pixels, long[] labels, Device device)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        using var images = tensor(pixels, [labels.Length, 3, options.ImageSize, options.ImageSize]);
        using var labelTensor = tensor(labels, [labels.Length]);
        return normalizer.Normalize(images, labelTensor, device);
    }

    internal CancellationToken DisposalToken => disposal.Token;

    internal int PrefetchBatches => options.PrefetchBatches;

    internal void Forget(StreamingBatchPlan plan) => openPlans.TryRemove(plan, out _);

    /// <summary>Calls of <see cref="DecodeImages"/> running now (on demand or ahead); none once every plan is disposed.</summary>
    internal int DecodesInFlight => Volatile.Read(ref decodesInFlight);

    internal int OpenPlanCount => openPlans.Count;
}

/// <summary>A pass over a <see cref="StreamingImageFolder"/>: decodes batches ahead on background tasks.</summary>
internal sealed class StreamingBatchPlan : BatchPlan
{
    private readonly StreamingImageFolder source;
    private readonly long[]? order;
    private readonly DecodedCrops? crops;
    private readonly CancellationTokenSource cancellation;
    private readonly object gate = new();
    private readonly Dictionary<int, Task<byte[]>> ahead = [];
    private readonly List<Task> running = [];
    private Task queueTail = Task.CompletedTask;
    private bool closed;
    private int decodedOnDemand;
    private int decodedAhead;

    /// <param name="source">The folder.</param>
    /// <param name="batchSize">Images per batch.</param>
    /// <param name="shuffle">The permutation's generator; null keeps the stored order.</param>
    /// <param name="cropWhileDecoding">The random-resized crop to cut while decoding and the generator of the pass's seed (one draw, after the permutation); null decodes without augmenting.</param>
    internal StreamingBatchPlan(StreamingImageFolder source, int batchSize, Generator? shuffle, (AugmentationOptions Crop, Generator Draws)? cropWhileDecoding = null)
        : base(source.Count, batchSize, shuffle)
    {
        this.source = source;

        // A managed copy of the permutation: background tasks read it without touching libtorch.
        order = Order?.data<long>().ToArray();
        if (cropWhileDecoding is var (crop, draws))
        {
            using var seed = randint(long.MaxValue, [1], dtype: ScalarType.Int64, generator: draws);
            crops = new DecodedCrops(unchecked((ulong)seed.item<long>()), crop);
        }

        cancellation = CancellationTokenSource.CreateLinkedTokenSource(source.DisposalToken);
        lock (gate)
        {
            ScheduleAfter(-1);
        }
    }

    public override bool AugmentedBySource => crops is not null;

    protected override Batch ReadBatch(int index, long start, long length, Device device)
    {
        // A disposed source has disposed its plans, which GetBatch refuses; ToBatch checks again
        // for a source disposed while this batch was decoding.
        var indices = IndicesOf(start, length);
        Task<byte[]>? prefetched;
        lock (gate)
        {
            ahead.Remove(index, out prefetched);
            ScheduleAfter(index);
        }

        byte[] pixels;
        if (prefetched is null)
        {
            Interlocked.Increment(ref decodedOnDemand);
            pixels = source.DecodeImages(indices, cancellation.Token, crops, start);
        }
        else
        {
            pixels = prefetched.GetAwaiter().GetResult();
        }

        return source.ToBatch(pixels, source.LabelsOf(indices), device);
    }

    /// <summary>The batches being decoded ahead (or decoded and not yet asked for), in order.</summary>
    internal int[] BatchesAhead
    {
        get
        {
            lock (gate)
            {
                return [.. ahead.Keys.Order()];
            }
        }
    }

    /// <summary>Decoding tasks the plan still tracks (and waits for when disposed): finished ones are dropped as reading goes on.</summary>
    internal int TasksTracked
    {
        get
        {
            lock (gate)
            {
                return running.Count;
            }
        }
    }

    /// <summary>Batches that were not ready ahead and were decoded when asked for.</summary>
    internal int BatchesDecodedOnDemand => Volatile.Read(ref decodedOnDemand);

    /// <summary>Decoding tasks started ahead over the plan's life, counting any dropped unread.</summary>
    internal int BatchesDecodedAhead => Volatile.Read(ref decodedAhead);

    private long[] IndicesOf(long start, long length)
    {
        var indices = new long[length];
        for (var k = 0; k < length; k++)
        {
            indices[k] = order is null ? start + k : order[start + k];
        }

        return indices;
    }

    /// <summary>Keeps the batches after <paramref name="current"/> (up to the prefetch depth) decoding; drops any others. Called under the gate.</summary>
    private void ScheduleAfter(int current)
    {
        if (closed)
        {
            return;
        }

        var last = Math.Min(BatchCount - 1, current + source.PrefetchBatches);
        foreach (var stale in ahead.Keys.Where(i => i <= current || i > last).ToArray())
        {
            // Out-of-sequence access: the task finishes (its work is bounded) and is forgotten.
            ahead.Remove(stale);
        }

        running.RemoveAll(task => task.IsCompleted);
        for (var next = current + 1; next <= last; next++)
        {
            if (!ahead.ContainsKey(next))
            {
                long start = (long)next * BatchSize;
                var indices = IndicesOf(start, Math.Min(BatchSize, ImageCount - start));
                var token = cancellation.Token;

                // One batch after the other, each on MaxDegreeOfParallelism threads: the decoders are
                // as many as the options say however deep the prefetch, and the next batch is done first.
                var task = queueTail.ContinueWith(_ => source.DecodeImages(indices, token, crops, start), token, TaskContinuationOptions.DenyChildAttach, TaskScheduler.Default);
                queueTail = task;
                ahead[next] = task;
                running.Add(task);
                decodedAhead++;
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Task[] outstanding;
            lock (gate)
            {
                if (closed)
                {
                    return;
                }

                closed = true;
                outstanding = [.. running];
                ahead.Clear();
                running.Clear();
            }

            // Stop the decoding and wait for it, so no work outlives the plan.
            cancellation.Cancel();
            try
            {
                Task.WaitAll(outstanding);
            }
            catch (AggregateException)
            {
                // Cancelled or failed prefetches: nobody asked for their batches.
            }

            cancellation.Dispose();
            source.Forget(this);
        }

        base.Dispose(disposing);
    }
}
