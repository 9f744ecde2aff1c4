using System.Diagnostics;
using System.Globalization;
using Distillation.Data;
using Distillation.IO;
using SkiaSharp;

namespace Distillation.Benchmarks;

/// <summary>
/// A source folder of the size people bring to 224-pixel training, made without downloads:
/// CIFAR-10 training images upscaled to sizes between 320×240 and 500×400 (drawn per image from
/// its index, so every run writes the same files), with a light film grain so the files carry
/// detail to decode as photographs do, saved as JPEG quality 90 in <c>root/&lt;class&gt;/&lt;n&gt;.jpg</c>,
/// the layout both <see cref="StreamingImageFolder"/> and torchvision's <c>ImageFolder</c> read.
/// </summary>
internal static class JpegFolder
{
    public const int MinWidth = 320;
    public const int MaxWidth = 500;
    public const int MinHeight = 240;
    public const int MaxHeight = 400;
    public const int Quality = 90;

    /// <summary>
    /// The grain's amplitude in levels (uniform in ±Grain per channel). An upscaled 32-pixel image is
    /// smooth and compresses to a few kilobytes; the grain brings the files nearer the 110 KB of an
    /// ImageNet JPEG, whose entropy decoding is a real part of the decoding time.
    /// </summary>
    public const int Grain = 24;

    public static BenchReport Write(BenchOptions options)
    {
        var root = options.Folder ?? throw new UsageException("jpeg-folder needs --folder DIR.");
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            throw new UsageException($"--folder {root} is not empty; give a new or empty folder.");
        }

        var clock = Stopwatch.StartNew();
        using var data = Cifar10Dataset.Load(options.Data, Cifar10Split.Train);
        if (options.Images > data.Count)
        {
            throw new UsageException($"--images {options.Images} is more than the {data.Count} CIFAR-10 training images.");
        }

        var count = options.Images;
        var pixels = data.Images.narrow(0, 0, count).contiguous().bytes.ToArray();
        var labels = data.Labels.narrow(0, 0, count).data<long>().ToArray();
        var classes = data.ClassNames;
        var bytes = 0L;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount };
        Parallel.For(0, count, parallel, i =>
        {
            var jpeg = Encode(pixels.AsSpan(i * 3 * 32 * 32, 3 * 32 * 32), i);
            var folder = Path.Combine(root, classes[(int)labels[i]]);
            Directory.CreateDirectory(folder);
            AtomicFile.Write(Path.Combine(folder, i.ToString("D5", CultureInfo.InvariantCulture) + ".jpg"), stream => stream.Write(jpeg));
            Interlocked.Add(ref bytes, jpeg.Length);
        });

        var line = string.Create(CultureInfo.InvariantCulture,
            $"{count:N0} CIFAR-10 training images ({Cifar10Dataset.ResolveFolder(options.Data)}) written to {root} as JPEG q{Quality}, {MinWidth}×{MinHeight} to {MaxWidth}×{MaxHeight}, grain ±{Grain}: {bytes / (double)count / 1024:F1} KiB a file on average, in {clock.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine(line);
        return new BenchReport { Mode = options.Mode, Environment = BenchEnvironment.Capture(options, root), Notes = [line], WallSeconds = clock.Elapsed.TotalSeconds };
    }

    /// <summary>The size of image <paramref name="index"/>: width and height drawn independently, uniformly, from the index.</summary>
    public static (int Width, int Height) SizeOf(int index)
    {
        var random = new Random(index);
        return (random.Next(MinWidth, MaxWidth + 1), random.Next(MinHeight, MaxHeight + 1));
    }

    private static byte[] Encode(ReadOnlySpan<byte> chw, int index)
    {
        using var small = ImageFolderWriter.ToBitmap(chw, 32, 32);
        var (width, height) = SizeOf(index);
        using var large = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        if (!small.ScalePixels(large, new SKSamplingOptions(SKCubicResampler.Mitchell)))
        {
            throw new InvalidOperationException($"SkiaSharp could not scale image {index} to {width}×{height}.");
        }

        var grain = new Random(~index);
        var target = large.GetPixelSpan();
        for (var p = 0; p < target.Length; p++)
        {
            if (p % 4 != 3)
            {
                target[p] = (byte)Math.Clamp(target[p] + grain.Next(-Grain, Grain + 1), 0, 255);
            }
        }

        using var encoded = large.Encode(SKEncodedImageFormat.Jpeg, Quality)
            ?? throw new InvalidOperationException($"SkiaSharp could not encode image {index} as JPEG.");
        return encoded.ToArray();
    }
}
