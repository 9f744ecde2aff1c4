namespace Distillation.Data;

/// <summary>How an image is brought to the square size of the dataset.</summary>
public enum ImageResizeMode
{
    /// <summary>
    /// The central square of side min(width, height) scaled to the target size: torchvision's
    /// <c>Resize(size)</c> then <c>CenterCrop(size)</c>. Keeps the aspect ratio, loses the edges of the long side.
    /// </summary>
    ShorterSideThenCenterCrop,

    /// <summary>The whole image scaled to the target size; a non-square image is distorted.</summary>
    Stretch,
}

/// <summary>The order of the images of a folder.</summary>
public enum ImageFolderOrder
{
    /// <summary>
    /// Class by class (classes in ordinal order of their folder names), and within a class by file
    /// name (ordinal): torchvision's <c>ImageFolder</c> order.
    /// </summary>
    ClassThenFileName,

    /// <summary>
    /// By file name (ordinal; the path within the class folder where images sit in sub-folders)
    /// across all classes, ties broken by class. Where file names encode an
    /// original order (zero-padded indices, as <see cref="ImageFolderWriter"/> writes them), this
    /// restores it, so a folder written from a dataset reads back in the dataset's order.
    /// </summary>
    FileName,
}

/// <summary>How <see cref="ImageFolderDataset"/> and <see cref="StreamingImageFolder"/> read a folder <c>root/&lt;class&gt;/&lt;image&gt;</c>.</summary>
public sealed class ImageFolderOptions
{
    /// <summary>Default <see cref="MemoryBudgetBytes"/>: 4 GiB.</summary>
    public const long DefaultMemoryBudgetBytes = 4L << 30;

    /// <summary>The height and width of every image after resizing, in pixels, from 1 to 8192. Default: 32 (CIFAR-10's).</summary>
    public int ImageSize { get; set; } = 32;

    internal const int MaxImageSize = 8192;

    /// <summary>How images are brought to <see cref="ImageSize"/>. Default: <see cref="ImageResizeMode.ShorterSideThenCenterCrop"/>.</summary>
    public ImageResizeMode Resize { get; set; } = ImageResizeMode.ShorterSideThenCenterCrop;

    /// <summary>
    /// The normalization of every batch. Default: <see cref="ImageNormalization.ImageNet"/>, the
    /// statistics pretrained teachers expect and the library's default for CIFAR-10.
    /// </summary>
    public ImageNormalization Normalization { get; set; } = ImageNormalization.ImageNet;

    /// <summary>The order of the images. Default: <see cref="ImageFolderOrder.ClassThenFileName"/>, torchvision's.</summary>
    public ImageFolderOrder Order { get; set; } = ImageFolderOrder.ClassThenFileName;

    /// <summary>
    /// Whether a file that cannot be decoded is left out with a logged warning (true) or fails the
    /// load with an <see cref="InvalidDataException"/> naming it (false). Default: false. Only the
    /// resident load (<see cref="ImageFolderDataset"/>) can skip: a streamed pass cannot drop an image
    /// it has already counted, so <see cref="StreamingImageFolder"/> refuses this option.
    /// </summary>
    public bool SkipUnreadable { get; set; }

    /// <summary>
    /// The most bytes the resident images and labels may take, N·3·size² + 8·N. A folder over it
    /// fails before any decoding, naming the size and the ways out. Default: 4 GiB
    /// (<see cref="DefaultMemoryBudgetBytes"/>). Not used by <see cref="StreamingImageFolder"/>.
    /// </summary>
    public long MemoryBudgetBytes { get; set; } = DefaultMemoryBudgetBytes;

    /// <summary>Images decoded at once, from 1 to <see cref="Environment.ProcessorCount"/> (decoding is CPU-bound). Default: <see cref="Environment.ProcessorCount"/>.</summary>
    public int MaxDegreeOfParallelism { get; set; } = Environment.ProcessorCount;

    /// <summary>
    /// Batches a <see cref="StreamingImageFolder"/> decodes ahead of the one asked for, on background
    /// tasks; each takes batch·3·size² bytes until it is used. Default: 2.
    /// </summary>
    public int PrefetchBatches { get; set; } = 2;

    /// <summary>
    /// Whether a <see cref="StreamingImageFolder"/> that feeds training with a random-resized crop
    /// (<see cref="AugmentationOptions.RandomResizedCrop"/>) crops and flips each image while
    /// decoding it, on the decode threads, from the original file as torchvision's transforms do
    /// (one bilinear resize of the crop box), instead of on the training thread from the image
    /// already resized to <see cref="ImageSize"/>. Faster, and the crops keep the file's
    /// resolution; the draws then come from one seed per pass, so the batches differ from a resident
    /// load's. Default: true. False keeps streamed and resident training batches equal bit for bit.
    /// Not used by <see cref="ImageFolderDataset"/> (it decodes once) or for pad-and-crop.
    /// </summary>
    public bool CropWhileDecoding { get; set; } = true;

    /// <summary>
    /// For a folder without <c>train/</c> and <c>test/</c>, the share of each class that
    /// <see cref="ImageFolderDataset.LoadSplits"/> sets aside for testing. Default: 0.2.
    /// </summary>
    public double TestFraction { get; set; } = 0.2;

    /// <summary>The seed of that split. Default: 0.</summary>
    public long SplitSeed { get; set; }

    /// <summary>Checks the options.</summary>
    /// <exception cref="ArgumentException">A value is out of range (an <see cref="ArgumentOutOfRangeException"/> whose one-line message names the option and the value) or missing.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Normalization, nameof(Normalization));
        OptionChecks.IntegerIn(ImageSize, nameof(ImageSize), 1, MaxImageSize);
        if (!Enum.IsDefined(Resize))
        {
            throw OptionChecks.OutOfRange(nameof(Resize), Resize, "one of ShorterSideThenCenterCrop, Stretch");
        }

        if (!Enum.IsDefined(Order))
        {
            throw OptionChecks.OutOfRange(nameof(Order), Order, "one of ClassThenFileName, FileName");
        }

        if (Normalization.Mean.Count != 3)
        {
            throw new ArgumentException($"Image folders are decoded to RGB; the normalization must have 3 channels, has {Normalization.Mean.Count}.", nameof(Normalization));
        }

        OptionChecks.IntegerIn(MemoryBudgetBytes, nameof(MemoryBudgetBytes), 1, long.MaxValue);

        // Decoding is CPU-bound: more decoders than cores only contend.
        OptionChecks.IntegerIn(MaxDegreeOfParallelism, nameof(MaxDegreeOfParallelism), 1, Environment.ProcessorCount,
            $"the {Environment.ProcessorCount} cores of this machine: more decoders than cores only contend");
        OptionChecks.IntegerIn(PrefetchBatches, nameof(PrefetchBatches), 0, 64);
        OptionChecks.FractionIn(TestFraction, nameof(TestFraction), 0, 1, minExclusive: true);
    }
}
