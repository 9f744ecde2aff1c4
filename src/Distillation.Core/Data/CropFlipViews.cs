using System.Globalization;

namespace Distillation.Data;

/// <summary>
/// The distinct images pad-and-crop plus horizontal flip can make of one S×S image: every crop
/// offset (dy, dx) in 0..2P of the padded image, each mirrored or not. View v = (dy·(2P + 1) + dx)·F
/// + flipped, F = 2 with flipping and 1 without: (2P + 1)²·F views, 162 for CIFAR's pad 4 and flip.
/// </summary>
/// <param name="Padding">P, the pixels added on each side.</param>
/// <param name="Flip">Whether images are mirrored with probability 0.5.</param>
/// <param name="PadWithBlack">Whether the padding is black rather than 0 (always false without padding: no pixel of it is seen).</param>
internal sealed record CropFlipViews(int Padding, bool Flip, bool PadWithBlack)
{
    /// <summary>Crop offsets per axis: 2P + 1.</summary>
    public int Side => (2 * Padding) + 1;

    /// <summary>Views per image: (2P + 1)² times 2 with flipping.</summary>
    public int Count => Side * Side * (Flip ? 2 : 1);

    /// <summary>The un-augmented image: the centred crop, not mirrored.</summary>
    public int Centre => Index(Padding, Padding, flipped: false);

    /// <summary>What the views depend on, in <see cref="AugmentationOptions.Identity"/>'s words (without the mixing, which comes after).</summary>
    public string Identity => string.Create(CultureInfo.InvariantCulture, $"pad-and-crop {Padding}{(PadWithBlack ? " black" : "")}{(Flip ? ", flip" : "")}");

    /// <summary>The views of an augmentation; null when its images are not views of one image (random-resized crop, mixup or CutMix).</summary>
    public static CropFlipViews? Of(AugmentationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.RandomResizedCrop || options.Mixes ? null : new CropFlipViews(options.Padding, options.HorizontalFlip, options.PadWithBlack && options.Padding > 0);
    }

    /// <summary>
    /// The layout a view count implies (padding black or not cannot be told from it): an odd count
    /// (2P + 1)² is crops only, an even one 2·(2P + 1)² crops and flips; null for any other count.
    /// </summary>
    public static CropFlipViews? FromCount(long count)
    {
        if (count < 1)
        {
            return null;
        }

        var flip = count % 2 == 0;
        var crops = flip ? count / 2 : count;
        var side = (long)Math.Round(Math.Sqrt(crops));
        return side * side == crops && side % 2 == 1 && side <= (2 * AugmentationOptions.MaxPadding) + 1
            ? new CropFlipViews((int)(side - 1) / 2, flip, PadWithBlack: false)
            : null;
    }

    /// <summary>The view of the crop at (<paramref name="dy"/>, <paramref name="dx"/>) of the padded image, mirrored or not.</summary>
    public int Index(int dy, int dx, bool flipped) => (((dy * Side) + dx) * (Flip ? 2 : 1)) + (flipped ? 1 : 0);

    /// <summary>The crop offsets and mirroring of view <paramref name="view"/>.</summary>
    public (int Dy, int Dx, bool Flipped) Decompose(int view)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(view);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(view, Count);
        var perCrop = Flip ? 2 : 1;
        var crop = view / perCrop;
        return (crop / Side, crop % Side, view % perCrop == 1);
    }
}
