using System.Buffers.Binary;
using SkiaSharp;

namespace Distillation.Cifar10.Tests;

/// <summary>Reads what a PNG file says about itself, and its pixels.</summary>
internal static class Png
{
    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Checks the signature and the IHDR chunk that must follow it; returns the declared size.</summary>
    public static (int Width, int Height) Header(byte[] png)
    {
        png.Length.Should().BeGreaterThan(33, "a PNG holds at least its signature and IHDR chunk");
        png.AsSpan(0, 8).ToArray().Should().Equal(Signature, "a PNG starts with its signature");
        BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(8, 4)).Should().Be(13, "IHDR has 13 bytes");
        System.Text.Encoding.ASCII.GetString(png, 12, 4).Should().Be("IHDR");
        return (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20, 4)));
    }

    /// <summary>Decodes the image (so it is a whole, valid PNG) and counts its distinct colours.</summary>
    public static int DistinctColors(byte[] png)
    {
        using var bitmap = SKBitmap.Decode(png);
        bitmap.Should().NotBeNull("the file decodes as an image");
        return bitmap.Pixels.Distinct().Count();
    }

    public static SKColor PixelAt(byte[] png, float x, float y)
    {
        using var bitmap = SKBitmap.Decode(png);
        return bitmap.GetPixel((int)Math.Round(x), (int)Math.Round(y));
    }
}
