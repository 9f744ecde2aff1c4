using System.Globalization;
using Distillation.IO;
using SkiaSharp;
using static TorchSharp.torch;

namespace Distillation.Data;

/// <summary>
/// Writes an <see cref="ImageDataset"/> out as an image folder, <c>root/&lt;class&gt;/&lt;index&gt;.png</c>,
/// which <see cref="ImageFolderDataset"/> reads back. PNG is lossless, so the pixels read back are
/// the dataset's exactly. File names are the zero-padded dataset index, so
/// <see cref="ImageFolderOrder.FileName"/> reads the images back in the dataset's order. Only classes
/// that have images get a folder; a reader sees those classes, in ordinal order of their names, so
/// labels read back equal the dataset's where its class names are in that order and all present
/// (as CIFAR-10's are).
/// </summary>
public static class ImageFolderWriter
{
    /// <summary>Writes every image of <paramref name="data"/> (3-channel) as a PNG under <paramref name="root"/>.</summary>
    /// <param name="data">The images; 3 channels.</param>
    /// <param name="root">The folder to create; it must not exist or be empty.</param>
    /// <param name="progress">Receives the count of images written about every 1 %; none when null.</param>
    /// <param name="cancellationToken">Stops the writing (files already written stay).</param>
    /// <exception cref="ArgumentException">The images are not 3-channel, or a class name cannot be a folder name.</exception>
    /// <exception cref="IOException"><paramref name="root"/> exists and is not empty, or a file cannot be written.</exception>
    /// <exception cref="OperationCanceledException">The writing was cancelled.</exception>
    public static void WritePng(ImageDataset data, string root, IProgress<ImageFolderProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        if (data.Images.shape[1] != 3)
        {
            throw new ArgumentException($"Only 3-channel images can be written as RGB PNG; these have {data.Images.shape[1]}.", nameof(data));
        }

        foreach (var name in data.ClassNames)
        {
            if (name.Length == 0 || name is "." or ".." || name.StartsWith('.') || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.Contains('/') || name.Contains('\\'))
            {
                throw new ArgumentException($"Class name \"{name}\" cannot be a folder name.", nameof(data));
            }
        }

        var full = Path.GetFullPath(root);
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
        {
            throw new IOException($"Folder {full} is not empty; write the images into a new or empty folder.");
        }

        var count = data.Count;
        var digits = Math.Max(5, (count - 1).ToString(CultureInfo.InvariantCulture).Length);
        var height = (int)data.Images.shape[2];
        var width = (int)data.Images.shape[3];
        var labels = data.Labels.data<long>().ToArray();
        var step = Math.Max(1, count / 100);
        var written = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken };
        Parallel.For(0, count, parallel, i =>
        {
            byte[] chw;
            using (var row = data.Images[i])
            {
                chw = row.contiguous().bytes.ToArray();
            }

            // Only classes with images get a folder: the reader refuses empty class folders, as torchvision does.
            var classFolder = Path.Combine(full, data.ClassNames[(int)labels[i]]);
            Directory.CreateDirectory(classFolder);
            var file = Path.Combine(classFolder, i.ToString("D" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) + ".png");
            var png = EncodePng(chw, width, height);
            AtomicFile.Write(file, stream => stream.Write(png));
            var done = Interlocked.Increment(ref written);
            if (progress is not null && (done % step == 0 || done == count))
            {
                progress.Report(new ImageFolderProgress(done, count));
            }
        });
    }

    internal static byte[] EncodePng(ReadOnlySpan<byte> chw, int width, int height)
    {
        using var bitmap = ToBitmap(chw, width, height);
        using var encoded = bitmap.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException($"SkiaSharp could not encode a {width}×{height} PNG.");
        return encoded.ToArray();
    }

    /// <summary>An opaque RGBA bitmap of the uint8 CHW image <paramref name="chw"/> [3, height, width]; dispose it.</summary>
    public static SKBitmap ToBitmap(ReadOnlySpan<byte> chw, int width, int height)
    {
        var plane = width * height;
        var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var rgba = bitmap.GetPixelSpan();
        for (var p = 0; p < plane; p++)
        {
            rgba[p * 4] = chw[p];
            rgba[(p * 4) + 1] = chw[plane + p];
            rgba[(p * 4) + 2] = chw[(2 * plane) + p];
            rgba[(p * 4) + 3] = 255;
        }

        return bitmap;
    }
}
