using Distillation.Data;
using Distillation.Tests.TestSupport;

namespace Distillation.Datasets.Tests.ImageFolders;

/// <summary>The decoder on its own: exact copies, centre crops of tall and wide images, stretching, size guards and its messages.</summary>
public sealed class ImageDecoderTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    /// <summary>An RGB PNG whose pixel (x, y) is (x, y, 7·x + y): every pixel tells where it came from.</summary>
    private string Numbered(int width, int height, string name = "image.png") => Write(width, height, name, (x, y) => ((byte)x, (byte)y, (byte)((7 * x) + y)));

    /// <summary>A high-contrast irregular pattern, where every resampling filter leaves its own mark.</summary>
    private static (byte R, byte G, byte B) Contrast(int x, int y) => ((byte)(((x * 97) + (y * 31)) % 256), (byte)((x * y * 53) % 256), (byte)(((x + 1) * (y + 2) * 71) % 256));

    private string Write(int width, int height, string name, Func<int, int, (byte R, byte G, byte B)> pixel)
    {
        var samples = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var i = ((y * width) + x) * 3;
                (samples[i], samples[i + 1], samples[i + 2]) = pixel(x, y);
            }
        }

        var path = Path.Combine(folder.Path, name);
        File.WriteAllBytes(path, ImageFiles.Png(width, height, colorType: 2, bitDepth: 8, samples, rowBytes: width * 3));
        return path;
    }

    private static byte[] Decode(string path, int size, ImageResizeMode mode = ImageResizeMode.ShorterSideThenCenterCrop)
    {
        var chw = new byte[ImageDecoder.BytesPerImage(size)];
        ImageDecoder.Decode(path, size, mode, chw);
        return chw;
    }

    /// <summary>The (x, y) a decoded pixel came from, read from its red and green channels.</summary>
    private static (int X, int Y) Origin(byte[] chw, int size, int x, int y) => (chw[(y * size) + x], chw[(size * size) + (y * size) + x]);

    [Fact]
    public void A_tall_image_is_cropped_to_its_centre_square_pixel_for_pixel()
    {
        // 4 wide, 10 high: the centre square is rows 3 to 6, copied without resampling.
        var chw = Decode(Numbered(4, 10), size: 4);

        for (var y = 0; y < 4; y++)
        {
            for (var x = 0; x < 4; x++)
            {
                Origin(chw, 4, x, y).Should().Be((x, y + 3));
            }
        }
    }

    [Fact]
    public void A_wide_image_is_cropped_to_its_centre_square_pixel_for_pixel()
    {
        var chw = Decode(Numbered(9, 3), size: 3);

        Origin(chw, 3, 0, 0).Should().Be((3, 0));
        Origin(chw, 3, 2, 2).Should().Be((5, 2));
        chw[(2 * 9) + (2 * 3) + 2].Should().Be((byte)((7 * 5) + 2), "the blue plane follows the red and green");
    }

    [Fact]
    public void Stretching_an_image_whose_width_is_the_size_still_resamples_its_height()
    {
        // 4 × 8 stretched to 4 × 4: the rows are halved, so no output row is a copy of input rows 0–3.
        var chw = Decode(Numbered(4, 8), size: 4, ImageResizeMode.Stretch);

        var greens = Enumerable.Range(0, 4).Select(y => (int)chw[16 + (y * 4)]).ToArray();
        greens.Should().BeInAscendingOrder();
        greens[^1].Should().BeGreaterThan(4, "the last output row comes from the lower half of the image");
    }

    [Theory]
    [InlineData(1, 5)]
    [InlineData(5, 1)]
    [InlineData(1, 1)]
    public void An_image_one_pixel_wide_or_high_decodes(int width, int height)
    {
        var chw = Decode(Numbered(width, height), size: 1);

        chw.Should().HaveCount(3);
        Origin(chw, 1, 0, 0).Should().Be(((width - 1) / 2, (height - 1) / 2));
    }

    [Fact]
    public void A_header_declaring_more_pixels_than_allowed_is_refused_naming_the_size_before_any_allocation()
    {
        // 16,385 × 16,385 = 268,468,225 pixels, over 2²⁸; the file holds the header and no pixel data.
        var path = Path.Combine(folder.Path, "huge.png");
        File.WriteAllBytes(path, WithDeclaredSize(ImageFiles.Png(1, 1, colorType: 2, bitDepth: 8, new byte[3], rowBytes: 3), 16385, 16385));

        var act = () => Decode(path, size: 4);

        act.Should().Throw<InvalidDataException>().WithMessage($"Image {path} is 16385×16385, over the 268,435,456 pixels an image may have here.");
    }

    [Fact]
    public void A_truncated_file_is_an_error_that_says_it_is_truncated()
    {
        var whole = File.ReadAllBytes(Numbered(16, 16, "whole.png"));
        var path = Path.Combine(folder.Path, "truncated.png");
        File.WriteAllBytes(path, whole[..(whole.Length - 40)]);

        var act = () => Decode(path, size: 16);

        act.Should().Throw<InvalidDataException>().WithMessage($"Image {path} could not be decoded: IncompleteInput (the file is truncated).");
    }

    [Fact]
    public void A_folder_given_as_an_image_is_an_error_that_names_it()
    {
        var path = Path.Combine(folder.Path, "not-a-file.png");
        Directory.CreateDirectory(path);

        var act = () => Decode(path, size: 4);

        act.Should().Throw<InvalidDataException>().WithMessage($"Image {path} could not be read: *");
    }

    [Fact]
    public void The_size_of_a_decoded_image_that_cannot_be_counted_in_an_int_is_an_overflow()
    {
        ImageDecoder.BytesPerImage(32).Should().Be(3 * 32 * 32);
        var act = () => ImageDecoder.BytesPerImage(30_000);

        act.Should().Throw<OverflowException>();
    }

    [Theory]
    [InlineData(2, 2, ImageResizeMode.ShorterSideThenCenterCrop, false)]
    [InlineData(4, 2, ImageResizeMode.Stretch, false)]
    [InlineData(2, 4, ImageResizeMode.Stretch, false)]
    [InlineData(8, 2, ImageResizeMode.Stretch, true)]
    [InlineData(2, 8, ImageResizeMode.Stretch, true)]
    [InlineData(12, 12, ImageResizeMode.ShorterSideThenCenterCrop, true)]
    public void Shrinking_averages_with_mipmaps_and_enlarging_uses_a_cubic_filter(int width, int height, ImageResizeMode mode, bool shrinking)
    {
        // The decoder's documented filters: trilinear (mipmaps) when either side shrinks, Mitchell cubic
        // otherwise. Each is checked against Skia drawing the same pixels with that filter alone, and
        // the two filters give different pixels on these images, so the wrong choice fails.
        const int size = 4;
        var chw = Decode(Write(width, height, "pattern.png", Contrast), size, mode);

        var trilinear = Reference(width, height, size, new SkiaSharp.SKSamplingOptions(SkiaSharp.SKFilterMode.Linear, SkiaSharp.SKMipmapMode.Linear));
        var cubic = Reference(width, height, size, new SkiaSharp.SKSamplingOptions(SkiaSharp.SKCubicResampler.Mitchell));
        trilinear.Should().NotEqual(cubic, "the case must tell the filters apart");
        chw.Should().Equal(shrinking ? trilinear : cubic);
    }

    /// <summary>Crops whose box is always the whole of a square image (scale 1: no other box of ratio 3/4 to 4/3 fits).</summary>
    private static DecodedCrops WholeImage(bool flip = true) =>
        new(99, new AugmentationOptions { Padding = 0, RandomResizedCrop = true, CropScaleMin = 1, CropScaleMax = 1, HorizontalFlip = flip });

    private static byte[] DecodeCrop(string path, int size, DecodedCrops crops, long position)
    {
        var chw = new byte[ImageDecoder.BytesPerImage(size)];
        ImageDecoder.DecodeResizedCrop(path, size, crops, position, chw);
        return chw;
    }

    private static byte[] Mirrored(byte[] chw, int size)
    {
        var mirrored = new byte[chw.Length];
        for (var row = 0; row < 3 * size; row++)
        {
            for (var x = 0; x < size; x++)
            {
                mirrored[(row * size) + x] = chw[(row * size) + size - 1 - x];
            }
        }

        return mirrored;
    }

    [Fact]
    public void A_crop_box_the_size_of_the_output_is_copied_exactly_and_mirrored_when_drawn()
    {
        var path = Numbered(16, 16);
        var whole = Decode(path, 16);
        var crops = WholeImage();

        var decoded = Enumerable.Range(0, 40).Select(p => (Crop: DecodeCrop(path, 16, crops, p), crops.For(p, 16, 16).Mirrored)).ToArray();

        decoded.Should().Contain(d => d.Mirrored).And.Contain(d => !d.Mirrored);
        foreach (var (crop, mirrored) in decoded)
        {
            crop.Should().Equal(mirrored ? Mirrored(whole, 16) : whole);
        }
    }

    [Theory]
    [InlineData(48, false)] // a 1.5× reduction: bilinear, as torchvision's RandomResizedCrop interpolates
    [InlineData(128, true)] // a 4× reduction: through mipmaps, so the box is averaged rather than aliased
    public void A_crop_box_is_resized_bilinearly_and_through_mipmaps_beyond_a_2x_reduction(int side, bool mipmaps)
    {
        const int size = 32;
        var chw = DecodeCrop(Write(side, side, "pattern.png", Contrast), size, WholeImage(flip: false), position: 0);

        var bilinear = Reference(side, side, size, new SkiaSharp.SKSamplingOptions(SkiaSharp.SKFilterMode.Linear, SkiaSharp.SKMipmapMode.None));
        var trilinear = Reference(side, side, size, new SkiaSharp.SKSamplingOptions(SkiaSharp.SKFilterMode.Linear, SkiaSharp.SKMipmapMode.Linear));
        var (expected, other) = mipmaps ? (trilinear, bilinear) : (bilinear, trilinear);
        chw.Zip(expected).Max(pair => Math.Abs(pair.First - pair.Second)).Should().BeLessThanOrEqualTo(1, "scaling the box's pixels equals drawing them with that filter, up to rounding");
        chw.Zip(other).Count(pair => Math.Abs(pair.First - pair.Second) > 1).Should().BeGreaterThan(50, "the other filter gives other pixels here");
    }

    [Fact]
    public void A_truncated_jpeg_fails_a_crop_even_when_the_box_lies_in_the_intact_rows()
    {
        var path = Path.Combine(folder.Path, "cut.jpg");
        var jpeg = ImageFiles.Encode(64, 64, ImageFiles.Noise(64, 64, 3), SkiaSharp.SKEncodedImageFormat.Jpeg, quality: 90);
        File.WriteAllBytes(path, jpeg[..(jpeg.Length * 2 / 3)]);

        // Scale 0.08: small boxes, most of them clear of the last third.
        var crops = new DecodedCrops(1, new AugmentationOptions { Padding = 0, RandomResizedCrop = true, CropScaleMax = 0.08 });
        crops.For(0, 64, 64).Top.Should().BeLessThan(30, "the case needs a box in the intact rows");

        FluentActions.Invoking(() => DecodeCrop(path, 16, crops, position: 0)).Should().Throw<InvalidDataException>()
            .WithMessage($"Image {path} could not be decoded: IncompleteInput (the file is truncated).");
    }

    /// <summary>The contrast pattern drawn whole onto size × size with <paramref name="sampling"/>, as channel-major RGB.</summary>
    private static byte[] Reference(int width, int height, int size, SkiaSharp.SKSamplingOptions sampling)
    {
        using var source = new SkiaSharp.SKBitmap(new SkiaSharp.SKImageInfo(width, height, SkiaSharp.SKColorType.Rgba8888, SkiaSharp.SKAlphaType.Opaque));
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var (r, g, b) = Contrast(x, y);
                source.SetPixel(x, y, new SkiaSharp.SKColor(r, g, b));
            }
        }

        var target = new SkiaSharp.SKImageInfo(size, size, SkiaSharp.SKColorType.Rgba8888, SkiaSharp.SKAlphaType.Opaque);
        using var surface = SkiaSharp.SKSurface.Create(target);
        using var image = SkiaSharp.SKImage.FromBitmap(source);
        using var paint = new SkiaSharp.SKPaint { BlendMode = SkiaSharp.SKBlendMode.Src };
        surface.Canvas.DrawImage(image, SkiaSharp.SKRect.Create(0, 0, width, height), SkiaSharp.SKRect.Create(0, 0, size, size), sampling, paint);
        using var pixels = SkiaSharp.SKBitmap.FromImage(surface.Snapshot());
        var chw = new byte[3 * size * size];
        for (var y = 0; y < size; y++)
        {
            for (var x = 0; x < size; x++)
            {
                var colour = pixels.GetPixel(x, y);
                (chw[(y * size) + x], chw[(size * size) + (y * size) + x], chw[(2 * size * size) + (y * size) + x]) = (colour.Red, colour.Green, colour.Blue);
            }
        }

        return chw;
    }

    /// <summary>A PNG with its IHDR width and height replaced (and the chunk's CRC recomputed).</summary>
    private static byte[] WithDeclaredSize(byte[] png, int width, int height)
    {
        // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4), … , CRC over type + data (13 bytes).
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), height);
        var crc = ImageFiles.Crc32(png[12..29]);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(29), crc);
        return png;
    }
}
