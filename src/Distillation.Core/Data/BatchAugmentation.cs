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

    /// <summary>
    /// Whether to crop as torchvision's <c>RandomResizedCrop</c> instead of pad-and-crop, the usual
    /// choice for images of 64 pixels and more: each image gets a box of a random share of its area
    /// (<see cref="CropScaleMin"/> to <see cref="CropScaleMax"/>) and a random aspect ratio (3/4 to
    /// 4/3, drawn log-uniformly), placed at random, up to 10 tries before falling back to the
    /// largest centred box of a permitted ratio, as torchvision does; the box is resized back to the
    /// image's size by bilinear sampling (without torchvision's antialiasing), and the flip folds into
    /// the same sampling. <see cref="Padding"/> must be 0 with it. Default: false.
    /// </summary>
    public bool RandomResizedCrop { get; set; }

    /// <summary>The smallest share of the image's area a random-resized crop keeps, in (0, 1]. Default: 0.08 (torchvision's).</summary>
    public double CropScaleMin { get; set; } = 0.08;

    /// <summary>The largest share of the image's area a random-resized crop keeps, in [<see cref="CropScaleMin"/>, 1]. Default: 1.</summary>
    public double CropScaleMax { get; set; } = 1;

    /// <summary>
    /// Mixup (Zhang et al. 2018) in training runs: after crop and flip, each image of a batch becomes
    /// λ·itself + (1 − λ)·a partner image of the same batch (a random permutation), with one λ per
    /// batch drawn from Beta(α, α), α this value. The mixed batch is what the teacher labels and
    /// the student sees (function matching, Beyer et al. 2022), and cross-entropy takes λ of the
    /// image's label and 1 − λ of the partner's. 0 turns it off; from 0 to 100 (a large α draws λ
    /// near 0.5). Losses that split the logits at the label (DKD) refuse mixed batches. Default: 0.
    /// </summary>
    public double MixupAlpha { get; set; }

    /// <summary>
    /// CutMix (Yun et al. 2019) in training runs: after crop and flip, a box of a partner image of
    /// the same batch is pasted into each image, at one random place per batch, its area 1 − λ of
    /// the image with λ drawn from Beta(α, α), α this value; λ is then set to the share of pixels
    /// each image kept (the box is clipped at the border). The teacher labels the pasted image, and
    /// cross-entropy takes λ of the image's label and 1 − λ of the partner's. With
    /// <see cref="MixupAlpha"/> also on, each batch takes one of the two with probability 0.5. 0
    /// turns it off; from 0 to 100. Default: 0.
    /// </summary>
    public double CutMixAlpha { get; set; }

    internal const double MaxMixAlpha = 100;

    /// <summary>The image size from which <see cref="ForImageSize"/> chooses the random-resized crop.</summary>
    internal const int RandomResizedCropFrom = 64;

    /// <summary>
    /// The usual training augmentation for square images of <paramref name="imageSize"/> pixels, with a
    /// horizontal flip: below 64 pixels, CIFAR's pad-and-crop (4 pixels); from 64 on, ImageNet's
    /// random-resized crop (<see cref="RandomResizedCrop"/>, <see cref="Padding"/> 0). Set the mixing on
    /// the result.
    /// </summary>
    /// <param name="imageSize">The side of the images, in pixels.</param>
    /// <returns>New options.</returns>
    public static AugmentationOptions ForImageSize(int imageSize) => imageSize >= RandomResizedCropFrom
        ? new AugmentationOptions { Padding = 0, RandomResizedCrop = true }
        : new AugmentationOptions();

    /// <summary>Whether batches are mixed (mixup or CutMix).</summary>
    internal bool Mixes => MixupAlpha > 0 || CutMixAlpha > 0;

    /// <summary>The augmentation in a run's identity: what its draws depend on, so a resume with other settings is refused.</summary>
    internal string Identity => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{(RandomResizedCrop ? $"random-resized crop {CropScaleMin:R} to {CropScaleMax:R}" : $"pad-and-crop {Padding}{(PadWithBlack ? " black" : "")}")}{(HorizontalFlip ? ", flip" : "")}{(MixupAlpha > 0 ? $", mixup {MixupAlpha:R}" : "")}{(CutMixAlpha > 0 ? $", cutmix {CutMixAlpha:R}" : "")}");

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        // Each image is drawn on a canvas (H + 2·Padding)²: beyond MaxPadding one batch's canvas outgrows memory.
        OptionChecks.IntegerIn(Padding, nameof(Padding), 0, MaxPadding);
        OptionChecks.FloatIn(CropScaleMin, nameof(CropScaleMin), 0, 1, minExclusive: true);
        OptionChecks.FloatIn(CropScaleMax, nameof(CropScaleMax), CropScaleMin, 1);
        if (RandomResizedCrop && Padding != 0)
        {
            throw OptionChecks.OutOfRange(nameof(Padding), Padding, "0 with RandomResizedCrop, which replaces the pad-and-crop");
        }

        OptionChecks.FloatIn(MixupAlpha, nameof(MixupAlpha), 0, MaxMixAlpha);
        OptionChecks.FloatIn(CutMixAlpha, nameof(CutMixAlpha), 0, MaxMixAlpha);
    }
}

/// <summary>A mixed batch: the images, each image's partner label and the weight λ of its own label.</summary>
/// <param name="Images">The mixed images, [B, C, H, W].</param>
/// <param name="PartnerLabels">The label of each image's partner, [B].</param>
/// <param name="Weight">λ: the share of each image's own label (its own pixels, for CutMix).</param>
internal sealed record BatchMix(Tensor Images, Tensor PartnerLabels, double Weight);

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
        var (result, views) = ApplyWithViews(images, generator);
        views?.Dispose();
        return result;
    }

    /// <summary>
    /// <see cref="Apply"/>, also telling which <see cref="CropFlipViews"/> view each image got, from
    /// the same draws (the stream is read exactly as by <see cref="Apply"/>).
    /// </summary>
    /// <returns>
    /// The augmented images, and each image's view index [B], int64 on the CPU; the views are null
    /// for a random-resized crop, whose images are not one of a fixed set. Both join the current dispose scope.
    /// </returns>
    internal (Tensor Images, Tensor? Views) ApplyWithViews(Tensor images, Generator generator)
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
        if (b == 0 || (p == 0 && !Options.HorizontalFlip && !Options.RandomResizedCrop))
        {
            return (images.clone(), Options.RandomResizedCrop ? null : zeros([b], ScalarType.Int64));
        }

        if (Options.RandomResizedCrop)
        {
            using var cropScope = NewDisposeScope();
            var boxes = DrawCropBoxes(b, h, w, generator);
            var flips = Options.HorizontalFlip
                ? rand([b], device: generator.device, generator: generator).lt(0.5)
                : zeros([b], ScalarType.Bool, generator.device);
            return (ResizedCrop(images, boxes, flips).MoveToOuterDisposeScope(), null);
        }

        using var scope = NewDisposeScope();
        var device = images.device;
        var (hp, wp) = (h + 2 * p, w + 2 * p);

        // Crop offsets per image, uniform in [0, 2p] as torchvision's RandomCrop draws them.
        Tensor Offsets() => p > 0
            ? randint(0, 2 * p + 1, [b, 1], dtype: ScalarType.Int64, device: generator.device, generator: generator)
            : zeros([b, 1], ScalarType.Int64, generator.device);
        var topDrawn = Offsets();
        var leftDrawn = Offsets();
        var top = topDrawn.to(device);
        var left = leftDrawn.to(device);

        // The view index v = (dy·(2p + 1) + dx)·F + flipped (CropFlipViews), from the draws themselves, where they were drawn.
        var views = topDrawn.mul(2 * p + 1).add(leftDrawn);

        // A flipped crop reads its columns right to left, so the flip folds into the column indices.
        var j = arange(w, ScalarType.Int64, device).unsqueeze(0);
        var columnsInCrop = j;
        if (Options.HorizontalFlip)
        {
            var flipDrawn = rand([b, 1], device: generator.device, generator: generator).lt(0.5);
            columnsInCrop = where(flipDrawn.to(device), j.neg().add(w - 1), j);
            views = views.mul(2).add(flipDrawn.to(ScalarType.Int64));
        }

        // rows [B, H, 1] and columns [B, 1, W] of the padded image; one flat index per output pixel.
        var rows = top.add(arange(h, ScalarType.Int64, device).unsqueeze(0)).unsqueeze(2);
        var columns = left.add(columnsInCrop).unsqueeze(1);
        var index = rows.mul(wp).add(columns).view(b, 1, h * w).expand(b, c, h * w);

        // reshape, not view: a channels-last or strided input need not come back contiguous from pad.
        var padded = p > 0 ? Pad(images, p, hp, wp) : images;
        var result = padded.reshape(b, c, hp * wp).gather(2, index).view(b, c, h, w);
        return (result.MoveToOuterDisposeScope(), views.view(b).cpu().MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Every <see cref="CropFlipViews"/> view <paramref name="view"/> of a batch: the crop at (dy, dx)
    /// of the padded images, mirrored or not; pixel for pixel what <see cref="Apply"/> gives an image
    /// that drew this view.
    /// </summary>
    /// <param name="padded">The images on their padding canvas (<see cref="PadForViews"/>).</param>
    /// <param name="views">The layout of this augmentation's views.</param>
    /// <param name="view">The view index.</param>
    /// <param name="h">The images' height.</param>
    /// <param name="w">The images' width.</param>
    internal static Tensor View(Tensor padded, CropFlipViews views, int view, long h, long w)
    {
        var (dy, dx, flipped) = views.Decompose(view);
        var crop = padded.narrow(2, dy, h).narrow(3, dx, w);
        return flipped ? crop.flip(3) : crop.contiguous();
    }

    /// <summary>The images on the canvas <see cref="Apply"/> crops from: padded as the options say (the images themselves without padding).</summary>
    /// <param name="images">Normalized images [B, C, H, W].</param>
    internal Tensor PadForViews(Tensor images) => Options.Padding > 0
        ? Pad(images, Options.Padding, images.shape[2] + (2 * Options.Padding), images.shape[3] + (2 * Options.Padding))
        : images;

    /// <summary>
    /// torchvision's <c>RandomResizedCrop.get_params</c> for a whole batch: per image, 10 tries of
    /// an area share uniform in the scale range and a log-uniform aspect ratio in [3/4, 4/3]; the
    /// first box that fits is placed uniformly; an image with none gets the largest centred box whose
    /// ratio is clamped into the range. Draws, on the generator's device: shares [B, 10], log-ratios
    /// [B, 10], then the top and left offsets [B] as uniform fractions of the room left.
    /// </summary>
    /// <returns>The boxes [B, 4] as (top, left, height, width) in whole pixels, int64 on the generator's device.</returns>
    internal Tensor DrawCropBoxes(long b, long h, long w, Generator generator)
    {
        const int Tries = 10;
        var draws = generator.device;
        var area = (double)h * w;
        var (minRatio, maxRatio) = (3.0 / 4, 4.0 / 3);
        var share = rand([b, Tries], ScalarType.Float64, draws, generator: generator).mul(Options.CropScaleMax - Options.CropScaleMin).add(Options.CropScaleMin);
        var logRatio = rand([b, Tries], ScalarType.Float64, draws, generator: generator).mul(Math.Log(maxRatio) - Math.Log(minRatio)).add(Math.Log(minRatio));
        var ratio = logRatio.exp();
        var targetArea = share.mul(area);
        var boxWidth = targetArea.mul(ratio).sqrt().round().to(ScalarType.Int64);
        var boxHeight = targetArea.div(ratio).sqrt().round().to(ScalarType.Int64);
        var fits = boxWidth.gt(0).logical_and(boxWidth.le(w)).logical_and(boxHeight.gt(0)).logical_and(boxHeight.le(h));

        // The first try that fits, per image: argmax of the first true (0 when none, masked below).
        var first = fits.to(ScalarType.Int64).argmax(1, keepdim: true);
        var anyFits = fits.any(1);
        var chosenHeight = boxHeight.gather(1, first).squeeze(1);
        var chosenWidth = boxWidth.gather(1, first).squeeze(1);

        // The fallback: the whole image when its ratio is in range, else the largest centred box of the nearest permitted ratio.
        var imageRatio = (double)w / h;
        var (fallbackHeight, fallbackWidth) = imageRatio < minRatio ? ((long)Math.Round(w / minRatio), w)
            : imageRatio > maxRatio ? (h, (long)Math.Round(h * maxRatio))
            : (h, w);
        chosenHeight = where(anyFits, chosenHeight, full([b], fallbackHeight, ScalarType.Int64, draws));
        chosenWidth = where(anyFits, chosenWidth, full([b], fallbackWidth, ScalarType.Int64, draws));

        // Placed uniformly among the positions that fit; centred for the fallback.
        var top = rand([b], ScalarType.Float64, draws, generator: generator).mul(chosenHeight.neg().add(h + 1)).floor().to(ScalarType.Int64);
        var left = rand([b], ScalarType.Float64, draws, generator: generator).mul(chosenWidth.neg().add(w + 1)).floor().to(ScalarType.Int64);
        top = where(anyFits, top, chosenHeight.neg().add(h).div(2, rounding_mode: RoundingMode.floor));
        left = where(anyFits, left, chosenWidth.neg().add(w).div(2, rounding_mode: RoundingMode.floor));
        return stack([top, left, chosenHeight, chosenWidth], 1);
    }

    /// <summary>
    /// Each image's box resized to the image's size by bilinear sampling, mirrored where
    /// <paramref name="flips"/> says: one affine grid and one <c>grid_sample</c> for the batch.
    /// </summary>
    /// <param name="images">The images [B, C, H, W].</param>
    /// <param name="boxes">(top, left, height, width) per image, [B, 4].</param>
    /// <param name="flips">Whether to mirror each crop, [B].</param>
    internal static Tensor ResizedCrop(Tensor images, Tensor boxes, Tensor flips)
    {
        using var scope = NewDisposeScope();
        var (b, h, w) = (images.shape[0], images.shape[2], images.shape[3]);
        var box = boxes.to(ScalarType.Float64).to(images.device);
        var (top, left, height, width) = (box[.., 0], box[.., 1], box[.., 2], box[.., 3]);

        // Normalized coordinates (align_corners false): the box spans [2·left/W − 1, 2·(left + width)/W − 1].
        var scaleX = width.div(w);
        var scaleY = height.div(h);
        var centreX = left.mul(2).add(width).div(w).sub(1);
        var centreY = top.mul(2).add(height).div(h).sub(1);
        scaleX = where(flips.to(images.device), scaleX.neg(), scaleX);
        var zero = zeros_like(scaleX);
        var theta = stack([stack([scaleX, zero, centreX], 1), stack([zero, scaleY, centreY], 1)], 1).to(images.dtype);
        var grid = nn.functional.affine_grid(theta, [b, images.shape[1], h, w], align_corners: false);

        // Crop, then resize: a sample near the box's edge reads the edge pixel, never one outside the box.
        var firstX = left.mul(2).add(1).div(w).sub(1).view(b, 1, 1).to(images.dtype);
        var lastX = left.add(width).sub(1).mul(2).add(1).div(w).sub(1).view(b, 1, 1).to(images.dtype);
        var firstY = top.mul(2).add(1).div(h).sub(1).view(b, 1, 1).to(images.dtype);
        var lastY = top.add(height).sub(1).mul(2).add(1).div(h).sub(1).view(b, 1, 1).to(images.dtype);
        grid = stack([grid[.., .., .., 0].clamp(firstX, lastX), grid[.., .., .., 1].clamp(firstY, lastY)], 3);
        var result = nn.functional.grid_sample(images, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Border, align_corners: false);
        return result.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Mixes an augmented batch when <see cref="AugmentationOptions.MixupAlpha"/> or
    /// <see cref="AugmentationOptions.CutMixAlpha"/> asks; null when off or for a batch of one image.
    /// Draws from <paramref name="generator"/>, after <see cref="Apply"/>'s draws: the choice between
    /// the two (only when both are on), λ, the partner permutation, then (CutMix) the box centre.
    /// </summary>
    /// <param name="images">The augmented images [B, C, H, W].</param>
    /// <param name="labels">Their labels [B].</param>
    /// <param name="generator">The augmentation's generator.</param>
    internal BatchMix? Mix(Tensor images, Tensor labels, Generator generator)
    {
        var b = images.shape[0];
        if (!Options.Mixes || b < 2)
        {
            return null;
        }

        using var scope = NewDisposeScope();
        var draws = generator.device;
        var cutMix = Options.CutMixAlpha > 0 && (Options.MixupAlpha <= 0 || rand(1, dtype: ScalarType.Float64, device: draws, generator: generator).item<double>() < 0.5);
        var alpha = cutMix ? Options.CutMixAlpha : Options.MixupAlpha;

        // Beta(α, α) as the first coordinate of a Dirichlet(α, α) draw.
        var weight = _sample_dirichlet(full(2, alpha, ScalarType.Float64, draws), generator)[0].item<double>();
        var permutation = randperm(b, generator: generator, dtype: ScalarType.Int64, device: draws).to(images.device);
        var partners = images.index_select(0, permutation);
        Tensor mixed;
        if (!cutMix)
        {
            mixed = images.mul(weight).add_(partners, alpha: 1 - weight);
        }
        else
        {
            var (h, w) = (images.shape[2], images.shape[3]);
            var side = Math.Sqrt(1 - weight);
            var (boxHeight, boxWidth) = ((long)(h * side), (long)(w * side));
            var centre = randint(0, h * w, [1], dtype: ScalarType.Int64, device: draws, generator: generator).item<long>();
            var (centreRow, centreColumn) = (centre / w, centre % w);
            var (top, bottom) = (Math.Clamp(centreRow - (boxHeight / 2), 0, h), Math.Clamp(centreRow + (boxHeight / 2), 0, h));
            var (left, right) = (Math.Clamp(centreColumn - (boxWidth / 2), 0, w), Math.Clamp(centreColumn + (boxWidth / 2), 0, w));
            mixed = images.clone();
            if (bottom > top && right > left)
            {
                var rows = TensorIndex.Slice(top, bottom);
                var columns = TensorIndex.Slice(left, right);
                mixed[TensorIndex.Ellipsis, rows, columns] = partners[TensorIndex.Ellipsis, rows, columns];
            }

            weight = 1 - ((double)(bottom - top) * (right - left) / (h * w));
        }

        var partnerLabels = labels.index_select(0, permutation.to(labels.device));
        return new BatchMix(mixed.MoveToOuterDisposeScope(), partnerLabels.MoveToOuterDisposeScope(), weight);
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
