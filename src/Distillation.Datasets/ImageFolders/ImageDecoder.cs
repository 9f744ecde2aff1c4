using System.Buffers;
using SkiaSharp;

namespace Distillation.Data;

/// <summary>
/// Decodes one image file into 3 × size × size RGB bytes, channel-major (the layout of one
/// <see cref="ImageDataset"/> row). Every source becomes RGB the way PIL's <c>convert("RGB")</c>
/// does it: grayscale is replicated, palettes are expanded, CMYK is converted, 16-bit samples are
/// reduced to 8, and alpha is dropped (the stored colour is kept, not composited over a background).
/// No colour profile is applied and the EXIF orientation is ignored, as torchvision's loader does.
/// </summary>
internal static class ImageDecoder
{
    /// <summary>The extensions read, lower case with the dot.</summary>
    public static IReadOnlySet<string> Extensions { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".bmp", ".webp" };

    /// <summary>The most pixels a source image may have (2²⁸, 1 GiB decoded): a guard against corrupt or hostile headers.</summary>
    public const long MaxPixels = 1L << 28;

    /// <summary>Bytes of one decoded image.</summary>
    public static int BytesPerImage(int size) => checked(3 * size * size);

    /// <summary>Decodes <paramref name="path"/> into <paramref name="chw"/> (3·size² bytes).</summary>
    /// <exception cref="InvalidDataException">The file is not a readable image, or is truncated; the message names it.</exception>
    public static void Decode(string path, int size, ImageResizeMode mode, Span<byte> chw) =>
        DecodeRegion(path, size, chw, Resample, (width, height) =>
        {
            var cropSide = Math.Min(width, height);
            var source = mode == ImageResizeMode.Stretch
                ? new SKRectI(0, 0, width, height)
                : SKRectI.Create((width - cropSide) / 2, (height - cropSide) / 2, cropSide, cropSide);
            return (source, Mirrored: false);
        });

    /// <summary>
    /// Decodes <paramref name="path"/> and writes one random-resized crop of the original image
    /// into <paramref name="chw"/> (3·size² bytes): the box <paramref name="crops"/> draws for
    /// position <paramref name="position"/> of the pass, resized to size × size bilinearly (as
    /// torchvision's <c>RandomResizedCrop</c> interpolates; through mipmaps beyond a 2× reduction,
    /// so large boxes are averaged rather than aliased), mirrored when drawn.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a readable image, or is truncated; the message names it.</exception>
    public static void DecodeResizedCrop(string path, int size, DecodedCrops crops, long position, Span<byte> chw) =>
        DecodeRegion(path, size, chw, (rgba, width, _, box, side) => ScaleRegion(rgba, width, box, side), (width, height) =>
        {
            var (top, left, boxHeight, boxWidth, mirrored) = crops.For(position, width, height);
            return (SKRectI.Create(left, top, boxWidth, boxHeight), mirrored);
        });

    /// <summary>
    /// Decodes <paramref name="path"/> and writes the region <paramref name="region"/> picks for the
    /// image's width and height into <paramref name="chw"/>: copied exactly when it is already
    /// size × size (lossless sources stay bit-identical), else scaled by <paramref name="resample"/>.
    /// Pixel buffers come from the shared pool: at hundreds of images a second, a new array of
    /// ~0.5 MB per image (the large-object heap) would keep the collector running full collections.
    /// </summary>
    private static void DecodeRegion(string path, int size, Span<byte> chw, Func<byte[], int, int, SKRectI, int, byte[]> resample, Func<int, int, (SKRectI Box, bool Mirrored)> region)
    {
        var (rgba, width, height) = DecodeRgba(path);
        byte[]? resized = null;
        try
        {
            var (box, mirrored) = region(width, height);
            if (box.Width == size && box.Height == size)
            {
                WritePlanes(rgba.AsSpan(((box.Top * width) + box.Left) * 4), width * 4, size, mirrored, chw);
            }
            else
            {
                resized = resample(rgba, width, height, box, size);
                WritePlanes(resized, size * 4, size, mirrored, chw);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgba);
            if (resized is not null)
            {
                ArrayPool<byte>.Shared.Return(resized);
            }
        }
    }

    /// <summary>RGBA rows (<paramref name="stride"/> bytes apart) to the R, G and B planes of a size × size image, columns reversed when mirrored.</summary>
    private static void WritePlanes(ReadOnlySpan<byte> rgba, int stride, int size, bool mirrored, Span<byte> chw)
    {
        var plane = size * size;
        for (var y = 0; y < size; y++)
        {
            var row = rgba.Slice(y * stride, size * 4);
            for (var x = 0; x < size; x++)
            {
                var p = (y * size) + (mirrored ? size - 1 - x : x);
                chw[p] = row[x * 4];
                chw[plane + p] = row[(x * 4) + 1];
                chw[(2 * plane) + p] = row[(x * 4) + 2];
            }
        }
    }

    private static unsafe byte[] ScaleRegion(byte[] rgba, int width, SKRectI box, int size)
    {
        // Bilinear up to a 2× reduction (torchvision's interpolation); mipmaps beyond, built over the box alone.
        var reduction = Math.Max((double)box.Width / size, (double)box.Height / size);
        var sampling = new SKSamplingOptions(SKFilterMode.Linear, reduction > 2 ? SKMipmapMode.Linear : SKMipmapMode.None);

        // Opaque, as in Resample: the decoded alpha is ignored.
        var resized = ArrayPool<byte>.Shared.Rent(size * size * 4);
        fixed (byte* sourcePixels = rgba)
        fixed (byte* targetPixels = resized)
        {
            using var region = new SKPixmap(new SKImageInfo(box.Width, box.Height, SKColorType.Rgba8888, SKAlphaType.Opaque), (IntPtr)(sourcePixels + (((box.Top * width) + box.Left) * 4)), width * 4);
            using var target = new SKPixmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque), (IntPtr)targetPixels, size * 4);
            if (!region.ScalePixels(target, sampling))
            {
                throw new InvalidOperationException($"SkiaSharp could not scale a {box.Width}×{box.Height} crop to {size}×{size}.");
            }
        }

        return resized;
    }

    /// <summary>Reads and decodes <paramref name="path"/> into unpremultiplied RGBA bytes, row-major.</summary>
    /// <exception cref="InvalidDataException">The file is not a readable image, or is truncated; the message names it.</exception>
    private static (byte[] Rgba, int Width, int Height) DecodeRgba(string path)
    {
        byte[] encoded;
        try
        {
            encoded = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"Image {path} could not be read: {e.Message}", e);
        }

        using var stream = new MemoryStream(encoded, writable: false);
        using var codec = SKCodec.Create(stream, out var createResult);
        if (codec is null)
        {
            throw new InvalidDataException($"Image {path} could not be decoded: not a readable JPEG, PNG, BMP or WebP file ({createResult}).");
        }

        var width = codec.Info.Width;
        var height = codec.Info.Height;
        if (width < 1 || height < 1)
        {
            throw new InvalidDataException($"Image {path} has no pixels ({width}×{height}).");
        }

        if ((long)width * height > MaxPixels)
        {
            throw new InvalidDataException($"Image {path} is {width}×{height}, over the {MaxPixels:N0} pixels an image may have here.");
        }

        // Unpremultiplied RGBA with no colour space: the stored colours, converted from whatever the file holds.
        var decodedInfo = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = ArrayPool<byte>.Shared.Rent(checked(width * height * 4));
        var result = GetPixels(codec, decodedInfo, rgba);
        if (result != SKCodecResult.Success)
        {
            ArrayPool<byte>.Shared.Return(rgba);
            // IncompleteInput leaves the missing rows blank; a truncated file is an error, never silent zeros.
            throw new InvalidDataException($"Image {path} could not be decoded: {result}{(result == SKCodecResult.IncompleteInput ? " (the file is truncated)" : string.Empty)}.");
        }

        return (rgba, width, height);
    }

    private static unsafe SKCodecResult GetPixels(SKCodec codec, SKImageInfo info, byte[] target)
    {
        fixed (byte* pixels = target)
        {
            return codec.GetPixels(info, (IntPtr)pixels);
        }
    }

    private static unsafe byte[] Resample(byte[] rgba, int width, int height, SKRectI source, int size)
    {
        // Shrinking: trilinear (mipmaps), which averages every source pixel like an antialiased resize.
        // Enlarging: Mitchell cubic, smooth without ringing.
        var shrinking = source.Width > size || source.Height > size;
        var sampling = shrinking
            ? new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear)
            : new SKSamplingOptions(SKCubicResampler.Mitchell);

        // Declared opaque, the decoded alpha is ignored: transparent pixels keep their stored colour
        // through the filter (convert("RGB")) instead of fading towards premultiplied black.
        var sourceInfo = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var targetInfo = new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var resized = ArrayPool<byte>.Shared.Rent(size * size * 4);
        fixed (byte* sourcePixels = rgba)
        fixed (byte* targetPixels = resized)
        {
            using var pixmap = new SKPixmap(sourceInfo, (IntPtr)sourcePixels, width * 4);
            using var image = SKImage.FromPixels(pixmap);
            using var surface = SKSurface.Create(targetInfo)
                ?? throw new InvalidOperationException($"SkiaSharp could not create a {size}×{size} surface.");
            using var paint = new SKPaint { BlendMode = SKBlendMode.Src };
            surface.Canvas.DrawImage(image, SKRect.Create(source.Left, source.Top, source.Width, source.Height), SKRect.Create(0, 0, size, size), sampling, paint);
            surface.Canvas.Flush();
            if (!surface.ReadPixels(targetInfo, (IntPtr)targetPixels, size * 4, 0, 0))
            {
                throw new InvalidOperationException("SkiaSharp could not read the resized pixels back.");
            }
        }

        return resized;
    }
}
