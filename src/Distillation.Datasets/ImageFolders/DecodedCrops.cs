namespace Distillation.Data;

/// <summary>
/// The random-resized crops and flips of one streamed training pass, made while decoding
/// (<see cref="ImageFolderOptions.CropWhileDecoding"/>). One seed, drawn from the trainer's
/// augmentation generator when the pass is planned, fixes every image's draws: position
/// <c>p</c> of the pass gets its own counter-based stream, so the crops do not depend on which
/// decode thread reaches an image first, and a resumed run (whose generator is restored) redraws them.
/// </summary>
internal sealed class DecodedCrops
{
    /// <summary>torchvision's <c>RandomResizedCrop.get_params</c> tries this many boxes before falling back.</summary>
    private const int Tries = 10;

    private static readonly double MinLogRatio = Math.Log(3.0 / 4);
    private static readonly double MaxLogRatio = Math.Log(4.0 / 3);

    /// <param name="seed">The pass's seed.</param>
    /// <param name="augmentation">The crop's scale range and whether to flip; a random-resized crop.</param>
    public DecodedCrops(ulong seed, AugmentationOptions augmentation)
    {
        Seed = seed;
        ScaleMin = augmentation.CropScaleMin;
        ScaleMax = augmentation.CropScaleMax;
        Flip = augmentation.HorizontalFlip;
    }

    public ulong Seed { get; }

    public double ScaleMin { get; }

    public double ScaleMax { get; }

    public bool Flip { get; }

    /// <summary>
    /// The crop box of an image of <paramref name="width"/> × <paramref name="height"/> at position
    /// <paramref name="position"/> of the pass, and whether it is mirrored: the box as
    /// <c>BatchAugmentation.DrawCropBoxes</c> (torchvision's <c>get_params</c>) chooses it — 10 tries of
    /// an area share uniform in the scale range and a log-uniform aspect ratio in [3/4, 4/3], the first
    /// that fits placed uniformly, else the largest centred box of the nearest permitted ratio.
    /// </summary>
    public (int Top, int Left, int Height, int Width, bool Mirrored) For(long position, int width, int height)
    {
        var stream = new SplitMix64(SplitMix64.Mix(Seed ^ SplitMix64.Mix(unchecked((ulong)position))));
        Span<double> uniforms = stackalloc double[DrawsPerImage];
        for (var i = 0; i < uniforms.Length; i++)
        {
            uniforms[i] = stream.NextDouble();
        }

        var (top, left, boxHeight, boxWidth) = Box(uniforms, width, height, ScaleMin, ScaleMax);
        return (top, left, boxHeight, boxWidth, Flip && uniforms[DrawsPerImage - 1] < 0.5);
    }

    /// <summary>Uniform draws per image: a share and a log-ratio per try, the top and left offsets, the flip.</summary>
    internal const int DrawsPerImage = (2 * Tries) + 3;

    /// <summary>
    /// The box for the uniform draws <paramref name="uniforms"/> in [0, 1): shares are
    /// <c>uniforms[2t]</c> and log-ratios <c>uniforms[2t + 1]</c> for try t, then the top and left
    /// offsets, as fractions of the room left.
    /// </summary>
    internal static (int Top, int Left, int Height, int Width) Box(ReadOnlySpan<double> uniforms, int width, int height, double scaleMin, double scaleMax)
    {
        var area = (double)width * height;
        for (var t = 0; t < Tries; t++)
        {
            var share = scaleMin + (uniforms[2 * t] * (scaleMax - scaleMin));
            var ratio = Math.Exp(MinLogRatio + (uniforms[(2 * t) + 1] * (MaxLogRatio - MinLogRatio)));
            var w = Math.Round(Math.Sqrt(share * area * ratio));
            var h = Math.Round(Math.Sqrt(share * area / ratio));
            if (w > 0 && w <= width && h > 0 && h <= height)
            {
                var (boxHeight, boxWidth) = ((int)h, (int)w);
                var top = (int)Math.Floor(uniforms[2 * Tries] * (height - boxHeight + 1));
                var left = (int)Math.Floor(uniforms[(2 * Tries) + 1] * (width - boxWidth + 1));
                return (top, left, boxHeight, boxWidth);
            }
        }

        var imageRatio = (double)width / height;
        var (fallbackHeight, fallbackWidth) = imageRatio < 3.0 / 4 ? ((int)Math.Round(width / (3.0 / 4)), width)
            : imageRatio > 4.0 / 3 ? (height, (int)Math.Round(height * (4.0 / 3)))
            : (height, width);
        return ((height - fallbackHeight) / 2, (width - fallbackWidth) / 2, fallbackHeight, fallbackWidth);
    }

    /// <summary>SplitMix64 (Steele, Lea and Flood 2014): small, fast, and good enough to draw crop boxes.</summary>
    private struct SplitMix64(ulong state)
    {
        private ulong state = state;

        public static ulong Mix(ulong z)
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        /// <summary>Uniform in [0, 1), 53 bits.</summary>
        public double NextDouble()
        {
            state += 0x9E3779B97F4A7C15UL;
            return (Mix(state) >> 11) * (1.0 / (1UL << 53));
        }
    }
}
