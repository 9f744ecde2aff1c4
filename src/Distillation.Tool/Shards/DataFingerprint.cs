using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Distillation.Data;

namespace Distillation.Tool.Shards;

/// <summary>
/// A digest of the training set a logits run covers, so shards of different data are never merged:
/// CIFAR-10 by its training files' contents; an image folder by its listing (every file's path
/// relative to the root, and size) with the decoding settings. Computing it reads no image, so each
/// shard of a large folder pays only for a listing.
/// </summary>
internal static class DataFingerprint
{
    public static string OfCifar10(string folder)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Append(hash, "cifar10-train");
        foreach (var name in Cifar10Dataset.FilesOf(Cifar10Split.Train))
        {
            Append(hash, name);
            hash.AppendData(File.ReadAllBytes(Path.Combine(folder, name)));
        }

        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }

    public static string OfImageFolder(string root, ImageFolderOptions options, int trainImages, IReadOnlyList<string> classNames)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Append(hash, string.Create(CultureInfo.InvariantCulture,
            $"images-train size={options.ImageSize} resize={options.Resize} order={options.Order} split-seed={options.SplitSeed} test-fraction={options.TestFraction:R} normalization={options.Normalization} images={trainImages}"));
        Append(hash, string.Join("\n", classNames));
        var full = Path.GetFullPath(root);
        var files = Directory.EnumerateFiles(full, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(f => (Relative: Path.GetRelativePath(full, f).Replace('\\', '/'), Length: new FileInfo(f).Length))
            .OrderBy(f => f.Relative, StringComparer.Ordinal);
        foreach (var (relative, length) in files)
        {
            Append(hash, string.Create(CultureInfo.InvariantCulture, $"{relative}\t{length}"));
        }

        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }

    private static void Append(IncrementalHash hash, string text)
    {
        hash.AppendData(Encoding.UTF8.GetBytes(text));
        hash.AppendData([0]);
    }
}
