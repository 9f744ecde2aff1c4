using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Distillation.Data;
using Distillation.Serialization;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// The file of a teacher's logits for every crop-and-flip view of every training image: a
/// safetensors file holding one float16 tensor [images, views, classes] (row i, view v is the
/// logits of <see cref="CropFlipViews"/> view v of image i in stored order), with metadata naming
/// the teacher, the images and the views it was computed for. <see cref="ViewCachingTeacher"/>
/// writes and reads it; <see cref="PrecomputedTeacher"/> reads it, and any [images, views, classes]
/// file written elsewhere.
/// </summary>
internal static class TeacherViewFile
{
    public const string FormatKey = "format";
    public const string TeacherKey = "teacher";
    public const string DataKey = "data";
    public const string ViewsKey = "views";
    public const string SizeKey = "image-size";
    public const string Format = "Distillation.TeacherViews/1";
    public const string TensorName = "logits";

    /// <summary>The SHA-256 of a resident training set: its normalization, pixels and labels, as lowercase hex.</summary>
    public static string DataFingerprint(ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"{string.Join(",", data.Normalization.Mean.Select(m => m.ToString("R", CultureInfo.InvariantCulture)))}|{string.Join(",", data.Normalization.Std.Select(s => s.ToString("R", CultureInfo.InvariantCulture)))}|{string.Join(",", data.Images.shape)}|")));
        hash.AppendData(data.Images.contiguous().bytes);
        hash.AppendData(data.Labels.contiguous().bytes);
        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }

    /// <summary>The image size as the metadata writes it.</summary>
    public static string SizeOf(long height, long width) => string.Create(CultureInfo.InvariantCulture, $"{height}x{width}");

    /// <summary>What a file for these must hold in its metadata, in the order a mismatch is reported.</summary>
    public static Dictionary<string, string> Metadata(string teacher, string data, CropFlipViews views, string size) => new(StringComparer.Ordinal)
    {
        [FormatKey] = Format,
        [TeacherKey] = teacher,
        [DataKey] = data,
        [ViewsKey] = views.Identity,
        [SizeKey] = size,
    };

    /// <summary>The cache file for <paramref name="metadata"/> in <paramref name="directory"/>: its name is a digest of all of it.</summary>
    public static string FileFor(string directory, IReadOnlyDictionary<string, string> metadata)
    {
        var key = string.Join("\n", metadata.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));
        var digest = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))).ToLowerInvariant();
        return Path.Combine(directory, $"teacher-views-{digest[..32]}.safetensors");
    }

    /// <summary>
    /// The teacher's logits of every view of one batch, [B, views, classes] in float16 on the CPU:
    /// view by view, each the crop (and mirror) of the padded images that <see cref="BatchAugmentation"/>
    /// gives an image drawing it. The teacher must be prepared; the caller holds no_grad and a dispose
    /// scope, and checks that the values are finite (float16 ends at ±65504).
    /// </summary>
    public static Tensor BatchViews(ITeacher teacher, Tensor images, Tensor indices, BatchAugmentation cropper, CropFlipViews views, CancellationToken cancellationToken)
    {
        var (height, width) = (images.shape[2], images.shape[3]);
        var padded = cropper.PadForViews(images);
        var perView = new Tensor[views.Count];
        for (var view = 0; view < views.Count; view++)
        {
            cancellationToken.ThrowIfCancellationRequested();

            // Each view's crop and activations go when the view is done: 162 crops of a batch at once would take gigabytes.
            using var viewScope = NewDisposeScope();
            var image = BatchAugmentation.View(padded, views, view, height, width);
            perView[view] = teacher.Forward(new TeacherBatch(image, indices)).Logits.to(ScalarType.Float16).cpu().MoveToOuterDisposeScope();
        }

        return stack(perView, 1);
    }

    /// <summary>
    /// How a file's header differs from what a run needs, in words; null when it fits. Only the
    /// metadata the file has is compared (a file written elsewhere may have none), then the shape.
    /// </summary>
    public static string? Mismatch(SafetensorsHeader header, IReadOnlyDictionary<string, string> expected, int images, int views)
    {
        if (header.Tensors.Count != 1)
        {
            return string.Create(CultureInfo.InvariantCulture, $"it holds {header.Tensors.Count} tensors, not one [images, views, classes]");
        }

        foreach (var (name, value) in expected)
        {
            if (header.Metadata.TryGetValue(name, out var stored) && stored != value)
            {
                return name switch
                {
                    TeacherKey => $"it holds the logits of teacher {Short(stored)}, not of this run's teacher {Short(value)} (other weights or another file)",
                    DataKey => $"it was computed for other training images (data {Short(stored)}, this run's {Short(value)})",
                    ViewsKey => $"its views are of the augmentation '{stored}', this run's are of '{value}'",
                    SizeKey => $"its views are of {stored} images, this run's images are {value}",
                    _ => $"its {name} is '{stored}', not '{value}'",
                };
            }
        }

        var shape = header.Tensors[0].Shape;
        if (shape.Count != 3 || shape[0] != images || shape[1] != views)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"it holds a tensor of shape [{string.Join(", ", shape)}], and this run needs [{images}, {views}, classes]");
        }

        return null;
    }

    private static string Short(string digest) => digest.Length > 16 ? digest[..16] : digest;
}
