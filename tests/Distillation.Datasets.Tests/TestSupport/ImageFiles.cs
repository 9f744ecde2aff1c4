using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using SkiaSharp;

namespace Distillation.Tests.TestSupport;

/// <summary>Writes small image files of every kind an image folder may hold, byte by byte where SkiaSharp cannot encode the kind.</summary>
internal static class ImageFiles
{
    /// <summary>A PNG of any colour type and bit depth, from raw scanline samples (no filter), written with the format's own chunks.</summary>
    public static byte[] Png(int width, int height, byte colorType, byte bitDepth, byte[] samplesPerRow, int rowBytes, byte[]? palette = null, byte[]? transparency = null)
    {
        using var raw = new MemoryStream();
        for (var y = 0; y < height; y++)
        {
            raw.WriteByte(0);
            raw.Write(samplesPerRow, y * rowBytes, rowBytes);
        }

        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            z.Write(raw.ToArray());
        }

        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = bitDepth;
        header[9] = colorType;
        Chunk(png, "IHDR", header);
        if (palette is not null)
        {
            Chunk(png, "PLTE", palette);
        }

        if (transparency is not null)
        {
            Chunk(png, "tRNS", transparency);
        }

        Chunk(png, "IDAT", compressed.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream stream, string type, byte[] data)
    {
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        stream.Write(length);
        var typeAndData = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        stream.Write(typeAndData);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typeAndData));
        stream.Write(crc);
    }

    public static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
        }

        return crc ^ 0xFFFFFFFFu;
    }

    /// <summary>A 24-bit bottom-up BMP of <paramref name="rgb"/> (row-major RGB triples, top row first).</summary>
    public static byte[] Bmp24(int width, int height, byte[] rgb)
    {
        var stride = ((width * 3) + 3) & ~3;
        var pixelBytes = stride * height;
        var file = new byte[54 + pixelBytes];
        file[0] = (byte)'B';
        file[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(2), file.Length);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(file.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(file.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(34), pixelBytes);
        for (var y = 0; y < height; y++)
        {
            var row = 54 + ((height - 1 - y) * stride);
            for (var x = 0; x < width; x++)
            {
                var p = ((y * width) + x) * 3;
                file[row + (x * 3)] = rgb[p + 2];
                file[row + (x * 3) + 1] = rgb[p + 1];
                file[row + (x * 3) + 2] = rgb[p];
            }
        }

        return file;
    }

    /// <summary>An RGB image encoded by SkiaSharp (PNG, JPEG or WebP), from row-major RGB triples.</summary>
    public static byte[] Encode(int width, int height, byte[] rgb, SKEncodedImageFormat format, int quality = 100)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var pixels = bitmap.GetPixelSpan();
        for (var p = 0; p < width * height; p++)
        {
            pixels[p * 4] = rgb[p * 3];
            pixels[(p * 4) + 1] = rgb[(p * 3) + 1];
            pixels[(p * 4) + 2] = rgb[(p * 3) + 2];
            pixels[(p * 4) + 3] = 255;
        }

        using var data = bitmap.Encode(format, quality);
        return data.ToArray();
    }

    /// <summary>Row-major RGB triples of a solid colour.</summary>
    public static byte[] Solid(int width, int height, byte r, byte g, byte b) =>
        Enumerable.Range(0, width * height).SelectMany(_ => new[] { r, g, b }).ToArray();

    /// <summary>Row-major RGB triples of a seeded noise image (so resizing has something to average).</summary>
    public static byte[] Noise(int width, int height, int seed)
    {
        var bytes = new byte[width * height * 3];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static void Write(string path, byte[] bytes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
    }
}
