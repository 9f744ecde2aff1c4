using Distillation.Devices;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Data;

/// <summary>Settings of <see cref="BatchAugmentation"/>. Defaults are the standard CIFAR training augmentation.</summary>
public sealed class AugmentationOptions
{
    /// <summary>
    /// Pixels added on each side before a random crop back to the original size; 0 turns cropping
    /// off. From 0 to 1,024 (a larger canvas, (H + 2·Padding)² per image, outgrows memory and the
    /// crops would hold almost nothing of the image). Default: 4 (torchvision's <c>RandomCrop(32, padding=4)</c> on CIFAR).
    /// </summary>
    public int Padding { get; set; } = 4;

    internal const int MaxPadding = 1024;

    /// <summary>Whether to mirror each image left to right with probability 0.5. Default: true.</summary>
    public bool HorizontalFlip { get; set; } = true;

    /// <summary>
    /// What the padding holds. False (the default) pads the normalized batch with 0, as
    /// torchvision's <c>RandomCrop(padding=4)</c> placed after <c>Normalize</c> would: 0 is the
    /// channel's mean colour. True pads with black, i.e. <c>(0 − mean) / std</c> per channel of
    /// the <see cref="ImageNormalization"/>, which is what the usual torchvision pipeline gives,
    /// since it crops the raw image before normalizing.
    /// </summary>
    public bool PadWithBlack { get; set; }

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        // Each image is drawn on a canvas (H + 2·Padding)²: beyond MaxPadding one batch's canvas outgrows memory.
        OptionChecks.IntegerIn(Padding, nameof(Padding), 0, MaxPadding);
    }
}

/// <summary>
/// Random crop with padding and random horizontal flip, applied to a whole normalized batch
/// [B, C, H, W] at once: every image gets its own crop offset and flip, drawn from the caller's
/// <see cref="Generator"/>, and the whole batch is produced by a single gather, with no per-image loop.
/// </summary>
/// <remarks>
/// Draws, all on the generator's device (the CPU for <c>new Generator(seed)</c>), so a seed gives
/// the same result whatever device the images are on: the row offsets [B]
/// and column offsets [B], each uniform in [0, 2·Padding] (when Padding &gt; 0), then the flip
/// decisions [B] (when flipping is on). The same generator state therefore gives the same batch.
/// </remarks>
public sealed class BatchAugmentation
{
    /// <summary>Creates the augmentation.</summary>
    /// <param name="options">The settings; <see cref="AugmentationOptions"/>' defaults when null.</param>
    /// <param name="normalization">
    /// The normalization the batches went through, used only to find black when
    /// <see cref="AugmentationOptions.PadWithBlack"/> is set; <see cref="ImageNormalization.ImageNet"/>
    /// (the dataset's default) when null.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public BatchAugmentation(AugmentationOptions? options = null, ImageNormalization? normalization = null)
    {
        TorchRuntime.EnsureAvailable();
        Options = options ?? new AugmentationOptions();
        Options.Validate();
        Normalization = normalization ?? ImageNormalization.ImageNet;
    }

    /// <summary>The settings.</summary>
    public AugmentationOptions Options { get; }

    /// <summary>The normalization that defines black for <see cref="AugmentationOptions.PadWithBlack"/>.</summary>
    public ImageNormalization Normalization { get; }

    /// <summary>Augments a batch.</summary>
    /// <param name="images">Normalized floating-point images [B, C, H, W], on any device.</param>
    /// <param name="generator">The generator every random draw comes from; seed it for reproducible batches.</param>
    /// <returns>
    /// A new contiguous tensor with the shape, dtype and device of <paramref name="images"/>
    /// (a copy when there is nothing to do); it joins the current dispose scope.
    /// </returns>
    /// <exception cref="ArgumentException">The images are not a 4-dimensional floating-point tensor, or (with black padding) their channel count differs from the normalization's.</exception>
    public Tensor Apply(Tensor images, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(generator);
        if (images.dim() != 4 || !images.is_floating_point())
        {
            throw new ArgumentException($"Images must be a floating-point tensor [B, C, H, W]; got {images.dtype} [{string.Join(", ", images.shape)}].", nameof(images));
        }

        var (b, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3]);
        if (Options.PadWithBlack && Options.Padding > 0 && c != Normalization.Mean.Count)
        {
            throw new ArgumentException($"The images have {c} channels; the normalization that defines black has {Normalization.Mean.Count}.", nameof(images));
        }

        var p = Options.Padding;
        if (b == 0 || (p == 0 && !Options.HorizontalFlip))
        {
            return images.clone();
        }

        using var scope = NewDisposeScope();
        var device = images.device;
        var (hp, wp) = (h + 2 * p, w + 2 * p);

        // Crop offsets per image, uniform in [0, 2p] as torchvision's RandomCrop draws them.
        Tensor Offsets() => p > 0
            ? randint(0, 2 * p + 1, [b, 1], dtype: ScalarType.Int64, device: generator.device, generator: generator).to(device)
            : zeros([b, 1], ScalarType.Int64, device);
        var top = Offsets();
        var left = Offsets();

        // A flipped crop reads its columns right to left, so the flip folds into the column indices.
        var j = arange(w, ScalarType.Int64, device).unsqueeze(0);
        var columnsInCrop = j;
        if (Options.HorizontalFlip)
        {
            var flip = rand([b, 1], device: generator.device, generator: generator).lt(0.5).to(device);
            columnsInCrop = where(flip, j.neg().add(w - 1), j);
        }

        // rows [B, H, 1] and columns [B, 1, W] of the padded image; one flat index per output pixel.
        var rows = top.add(arange(h, ScalarType.Int64, device).unsqueeze(0)).unsqueeze(2);
        var columns = left.add(columnsInCrop).unsqueeze(1);
        var index = rows.mul(wp).add(columns).view(b, 1, h * w).expand(b, c, h * w);

        // reshape, not view: a channels-last or strided input need not come back contiguous from pad.
        var padded = p > 0 ? Pad(images, p, hp, wp) : images;
        var result = padded.reshape(b, c, hp * wp).gather(2, index).view(b, c, h, w);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>The images on a [B, C, H + 2p, W + 2p] canvas filled with the padding value.</summary>
    private Tensor Pad(Tensor images, int p, long hp, long wp)
    {
        if (!Options.PadWithBlack)
        {
            return nn.functional.pad(images, [p, p, p, p], PaddingModes.Constant, 0.0);
        }

        var (b, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3]);
        var black = Normalization.Mean.Zip(Normalization.Std, (m, s) => -m / s).ToArray();

        // Writing the images into a black canvas keeps both the interior and the border exact.
        var canvas = tensor(black, [1, c, 1, 1]).to(images.dtype, images.device).expand(b, c, hp, wp).contiguous();
        canvas.narrow(2, p, h).narrow(3, p, w).copy_(images);
        return canvas;
    }
}
