using System.Security.Cryptography;
using System.Text;
using Distillation.Data;
using Distillation.IO;
using Distillation.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// The frozen teacher's logits, and the hooked features a loss reads, for every training image,
/// computed once in the dataset's stored order and sliced per batch by image index.
/// </summary>
internal sealed class TeacherOutputCache : IDisposable
{
    private const string Magic = "Distillation.TeacherOutputs";
    private const int FormatVersion = 1;
    private const string LogitsName = "";

    private readonly Dictionary<string, Tensor> features;

    private TeacherOutputCache(Tensor logits, Dictionary<string, Tensor> features)
    {
        Logits = logits;
        this.features = features;
    }

    /// <summary>Logits of every training image, [N, classes], on the training device.</summary>
    public Tensor Logits { get; }

    /// <summary>The bytes the cache holds.</summary>
    public long Bytes => features.Values.Append(Logits).Sum(t => t.NumberOfElements * t.ElementSize);

    /// <summary>A cache of logits computed elsewhere, [N, classes] on the training device; it takes ownership of <paramref name="logits"/>.</summary>
    public static TeacherOutputCache FromLogits(Tensor logits) => new(logits, new Dictionary<string, Tensor>(StringComparer.Ordinal));

    /// <summary>Runs the prepared teacher over <paramref name="train"/> in stored order, keeping its outputs.</summary>
    public static TeacherOutputCache Build(ITeacher teacher, IBatchSource train, Device device, int batchSize, CancellationToken cancellationToken)
    {
        var parts = new List<Tensor>();
        var featureParts = new Dictionary<string, List<Tensor>>(StringComparer.Ordinal);
        try
        {
            using var plan = train.PlanBatches(batchSize);
            for (var step = 0; step < plan.BatchCount; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var output = teacher.Forward(new TeacherBatch(plan.GetBatch(step, device).Images, plan.GetIndices(step)));
                parts.Add(output.Logits.DetachFromDisposeScope());
                foreach (var (path, feature) in output.Features)
                {
                    if (!featureParts.TryGetValue(path, out var list))
                    {
                        featureParts[path] = list = [];
                    }

                    list.Add(feature.clone().DetachFromDisposeScope());
                }
            }

            var logits = cat(parts, 0).DetachFromDisposeScope();
            var cached = featureParts.ToDictionary(p => p.Key, p => cat(p.Value, 0).DetachFromDisposeScope(), StringComparer.Ordinal);
            return new TeacherOutputCache(logits, cached);
        }
        finally
        {
            foreach (var part in parts.Concat(featureParts.Values.SelectMany(l => l)))
            {
                part.Dispose();
            }
        }
    }

    /// <summary>The size of a cache for every image of <paramref name="train"/>, from the prepared teacher's outputs for one image.</summary>
    public static long EstimateBytes(ITeacher teacher, IBatchSource train, Device device)
    {
        using var scope = NewDisposeScope();
        using var plan = train.PlanBatches(1);
        var output = teacher.Forward(new TeacherBatch(plan.GetBatch(0, device).Images, plan.GetIndices(0)));
        var perImage = output.Logits.NumberOfElements * output.Logits.ElementSize + output.Features.Values.Sum(t => t.NumberOfElements * t.ElementSize);
        return perImage * train.Count;
    }

    /// <summary>The teacher's outputs for the images of <paramref name="indices"/> (CPU, int64), joining the caller's dispose scope.</summary>
    public (Tensor Logits, IReadOnlyDictionary<string, Tensor> Features) Lookup(Tensor indices)
    {
        var onDevice = indices.to(Logits.device);
        var logits = Logits.index_select(0, onDevice);
        if (features.Count == 0)
        {
            return (logits, DistillationContext.NoFeatures);
        }

        return (logits, features.ToDictionary(p => p.Key, p => p.Value.index_select(0, onDevice), StringComparer.Ordinal));
    }

    /// <summary>The cache file for this teacher, training set and feature list in <paramref name="directory"/>.</summary>
    public static string FileFor(string directory, string teacherFingerprint, ImageDataset train, IEnumerable<string> featurePaths)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{FormatVersion}|{teacherFingerprint}|{string.Join(",", train.Normalization.Mean)}|{string.Join(",", train.Normalization.Std)}|{string.Join(",", featurePaths.Order(StringComparer.Ordinal))}|"));
        hash.AppendData(train.Images.contiguous().bytes);
        hash.AppendData(train.Labels.contiguous().bytes);
        var key = Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
        return Path.Combine(directory, $"teacher-outputs-{key[..32]}.bin");
    }

    /// <summary>Reads a cache written by <see cref="Save"/>; null when the file is missing, damaged or of another size.</summary>
    public static TeacherOutputCache? TryLoad(string path, int images, IReadOnlyCollection<string> featurePaths, Device device)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        var loaded = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            using var stream = File.OpenRead(path);
            using var reader = new BinaryReader(stream);
            if (reader.ReadString() != Magic || reader.ReadInt32() != FormatVersion)
            {
                return null;
            }

            var count = reader.ReadInt32();
            if (count != featurePaths.Count + 1)
            {
                return null;
            }

            for (var i = 0; i < count; i++)
            {
                var name = reader.ReadString();
                var tensor = TensorExtensionMethods.Load(reader).DetachFromDisposeScope();
                loaded[name] = tensor;
                if (tensor.shape.Length == 0 || tensor.shape[0] != images)
                {
                    throw new InvalidDataException($"{name} holds {tensor.shape.FirstOrDefault()} rows, not {images}.");
                }
            }

            if (!loaded.TryGetValue(LogitsName, out var savedLogits) || !featurePaths.All(loaded.ContainsKey))
            {
                throw new InvalidDataException("The file holds other outputs.");
            }

            var logits = MoveTo(savedLogits, device);
            var cached = featurePaths.ToDictionary(p => p, p => MoveTo(loaded[p], device), StringComparer.Ordinal);
            return new TeacherOutputCache(logits, cached);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or InvalidOperationException or FormatException)
        {
            foreach (var tensor in loaded.Values)
            {
                tensor.Dispose();
            }

            return null;
        }
    }

    private static Tensor MoveTo(Tensor tensor, Device device)
    {
        if (tensor.device_type == device.type && tensor.device_index == device.index)
        {
            return tensor;
        }

        var moved = tensor.to(device).DetachFromDisposeScope();
        tensor.Dispose();
        return moved;
    }

    /// <summary>Writes the cache atomically.</summary>
    public void Save(string path) => AtomicFile.Write(path, stream =>
    {
        using var scope = NewDisposeScope();
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        writer.Write(Magic);
        writer.Write(FormatVersion);
        writer.Write(features.Count + 1);
        writer.Write(LogitsName);
        Logits.cpu().Save(writer);
        foreach (var (name, tensor) in features)
        {
            writer.Write(name);
            tensor.cpu().Save(writer);
        }
    });

    /// <summary>Frees the cached tensors.</summary>
    public void Dispose()
    {
        Logits.Dispose();
        foreach (var tensor in features.Values)
        {
            tensor.Dispose();
        }
    }
}
