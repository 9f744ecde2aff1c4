using System.Globalization;
using Distillation.Data;
using Distillation.Serialization;
using Distillation.Tool.Cli;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Tool.Shards;

/// <summary>
/// What identifies a logits run: the teacher, the data, how the rows were batched, and for a run of
/// views (<c>--views</c>) the views per image and the image size they were cropped from (1 and 0 otherwise).
/// </summary>
internal sealed record LogitsIdentity(string TeacherFingerprint, string DataFingerprint, int TotalRows, int Classes, int BatchSize, int Views = 1, int ImageSize = 0)
{
    /// <summary>The augmentation whose views a run of views holds: what <c>distill student --augment</c> draws at this image size.</summary>
    public AugmentationOptions ViewAugmentation => AugmentationOptions.ForImageSize(ImageSize);
}

/// <summary>
/// The logits files of <c>distill logits</c>. The whole file is what <c>Teacher.FromLogitsFile</c>
/// reads (one tensor <c>logits</c>: float32 [images, classes] written with the library's
/// <see cref="Safetensors.Write"/>, or with <c>--views</c> float16 [images, views, classes] written
/// with <see cref="PrecomputedTeacher.WriteViews"/>), with the run's identity in its metadata. A
/// shard file holds the rows of one shard, with the identity and its place among the shards.
/// </summary>
internal static class LogitsFiles
{
    public const string TensorName = "logits";
    public const string WholeFormat = "distill-logits/1";
    public const string ShardFormat = "distill-logits-shard/1";

    private const string FormatKey = "distill.format";
    private const string TeacherKey = "distill.teacher-fingerprint";
    private const string DataKey = "distill.data-fingerprint";
    private const string TotalRowsKey = "distill.total-rows";
    private const string ClassesKey = "distill.classes";
    private const string BatchSizeKey = "distill.batch-size";
    private const string ShardIndexKey = "distill.shard-index";
    private const string ShardCountKey = "distill.shard-count";
    private const string FirstRowKey = "distill.first-row";
    private const string RowsKey = "distill.rows";
    private const string ViewsKey = "distill.views";
    private const string ImageSizeKey = "distill.image-size";

    /// <summary>Writes the whole logits file; an unsharded run and a merge both write through here, so their files are the same bytes.</summary>
    public static void WriteWhole(string path, Tensor logits, LogitsIdentity identity)
    {
        if (identity.Views > 1)
        {
            PrecomputedTeacher.WriteViews(path, logits, identity.ViewAugmentation, identity.ImageSize, identity.ImageSize, Metadata(WholeFormat, identity));
        }
        else
        {
            Safetensors.Write(path, [new(TensorName, logits.contiguous())], Metadata(WholeFormat, identity));
        }
    }

    public static void WriteShard(string path, Tensor logits, LogitsIdentity identity, ShardSpec shard, int firstRow)
    {
        var metadata = Metadata(ShardFormat, identity);
        metadata[ShardIndexKey] = Text(shard.Index);
        metadata[ShardCountKey] = Text(shard.Count);
        metadata[FirstRowKey] = Text(firstRow);
        metadata[RowsKey] = Text((int)logits.shape[0]);
        Safetensors.Write(path, [new(TensorName, logits.contiguous())], metadata);
    }

    /// <summary>One shard file as read: its identity, place and rows.</summary>
    internal sealed record Shard(string Path, LogitsIdentity Identity, ShardSpec Spec, int FirstRow, Tensor Logits);

    /// <summary>Reads a shard file, refusing one that is unreadable, truncated or not a shard, naming the file.</summary>
    public static Shard ReadShard(string path)
    {
        Safetensors.FileContent content;
        try
        {
            content = Safetensors.Read(path);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new InvalidDataException($"The shard file {path} cannot be read (truncated or damaged?): {e.Message}", e);
        }

        using (content)
        {
            var metadata = content.Metadata;
            if (!metadata.TryGetValue(FormatKey, out var format) || format != ShardFormat)
            {
                throw new InvalidDataException($"The file {path} is not a shard of distill logits (its format is '{format ?? "none"}', not {ShardFormat}).");
            }

            try
            {
                var views = metadata.TryGetValue(ViewsKey, out var viewText) ? Number(viewText) : 1;
                var imageSize = metadata.TryGetValue(ImageSizeKey, out var sizeText) ? Number(sizeText) : 0;
                var identity = new LogitsIdentity(metadata[TeacherKey], metadata[DataKey], Number(metadata[TotalRowsKey]), Number(metadata[ClassesKey]), Number(metadata[BatchSizeKey]), views, imageSize);
                var spec = new ShardSpec(Number(metadata[ShardIndexKey]), Number(metadata[ShardCountKey]));
                var firstRow = Number(metadata[FirstRowKey]);
                var rows = Number(metadata[RowsKey]);
                long[] shape = views > 1 ? [rows, views, identity.Classes] : [rows, identity.Classes];
                var dtype = views > 1 ? ScalarType.Float16 : ScalarType.Float32;
                if (content.Tensors.Count != 1 || !content.Tensors.TryGetValue(TensorName, out var logits) || !logits.shape.SequenceEqual(shape) || logits.dtype != dtype)
                {
                    throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                        $"The shard file {path} says it holds {rows} rows of {(views > 1 ? $"{views} views of " : "")}{identity.Classes} {dtype.ToString().ToLowerInvariant()} logits, but its tensors do not match (truncated or edited?)."));
                }

                return new Shard(Path.GetFullPath(path), identity, spec, firstRow, logits.clone());
            }
            catch (Exception e) when (e is KeyNotFoundException or FormatException)
            {
                throw new InvalidDataException($"The shard file {path} lacks part of its metadata ({e.Message}).", e);
            }
        }
    }

    /// <summary>
    /// Checks that the shards are one complete run (the same teacher and data, every index once, each
    /// with its expected rows) and writes the whole file. A foreign shard is the one whose identity
    /// differs from the majority's.
    /// </summary>
    /// <exception cref="InvalidDataException">A shard is missing, duplicated, truncated or foreign; the message names it.</exception>
    public static LogitsIdentity Merge(IReadOnlyList<string> shardPaths, string output)
    {
        var shards = new List<Shard>();
        try
        {
            foreach (var path in shardPaths)
            {
                shards.Add(ReadShard(path));
            }

            if (shards.Count == 0)
            {
                throw new InvalidDataException("No shard files to merge.");
            }

            var majority = shards.GroupBy(s => (s.Identity, s.Spec.Count)).OrderByDescending(g => g.Count()).First().Key;
            foreach (var shard in shards.Where(s => (s.Identity, s.Spec.Count) != majority))
            {
                throw new InvalidDataException(Foreign(shard, majority.Identity, majority.Count, shards.First(s => (s.Identity, s.Spec.Count) == majority)));
            }

            var (identity, count) = majority;
            foreach (var group in shards.GroupBy(s => s.Spec.Index).Where(g => g.Count() > 1))
            {
                throw new InvalidDataException($"Shard {group.Key}/{count} is given {group.Count()} times: {string.Join(", ", group.Select(s => s.Path))}; give each shard once.");
            }

            var missing = Enumerable.Range(0, count).Except(shards.Select(s => s.Spec.Index)).ToList();
            if (missing.Count > 0)
            {
                throw new InvalidDataException($"Shard{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Select(i => $"{i}/{count} ({new ShardSpec(i, count).FileName})"))} missing: the merge needs all {count}.");
            }

            var batches = (identity.TotalRows + identity.BatchSize - 1) / identity.BatchSize;
            var ordered = shards.OrderBy(s => s.Spec.Index).ToList();
            foreach (var shard in ordered)
            {
                var (first, end) = shard.Spec.Batches(batches);
                var firstRow = first * identity.BatchSize;
                var rows = Math.Min(end * identity.BatchSize, identity.TotalRows) - firstRow;
                if (shard.FirstRow != firstRow || shard.Logits.shape[0] != rows)
                {
                    throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                        $"The shard file {shard.Path} (shard {shard.Spec}) holds rows {shard.FirstRow}–{shard.FirstRow + shard.Logits.shape[0] - 1}, but shard {shard.Spec} of {identity.TotalRows} rows is rows {firstRow}–{firstRow + rows - 1}."));
                }
            }

            using var all = cat(ordered.Select(s => s.Logits).ToList(), 0);
            WriteWhole(output, all, identity);
            return identity;
        }
        finally
        {
            shards.ForEach(s => s.Logits.Dispose());
        }
    }

    private static string Foreign(Shard shard, LogitsIdentity expected, int expectedCount, Shard example)
    {
        var what = shard.Identity.TeacherFingerprint != expected.TeacherFingerprint ? $"another teacher (fingerprint {Short(shard.Identity.TeacherFingerprint)}, the others {Short(expected.TeacherFingerprint)})"
            : shard.Identity.DataFingerprint != expected.DataFingerprint ? $"other data (fingerprint {Short(shard.Identity.DataFingerprint)}, the others {Short(expected.DataFingerprint)})"
            : shard.Spec.Count != expectedCount ? $"a split into {shard.Spec.Count} shards, the others into {expectedCount}"
            : shard.Identity.Views != expected.Views ? $"a run of {Described(shard.Identity)}, the others of {Described(expected)}"
            : $"another run ({shard.Identity.TotalRows} rows of {shard.Identity.Classes} classes in batches of {shard.Identity.BatchSize}; the others {expected.TotalRows}, {expected.Classes}, {expected.BatchSize})";
        return $"The shard file {shard.Path} (shard {shard.Spec}) is foreign: it comes from {what}, unlike {example.Path}.";
    }

    private static string Described(LogitsIdentity identity) => identity.Views > 1
        ? string.Create(CultureInfo.InvariantCulture, $"{identity.Views} views per image (--views)")
        : "one row per image (no --views)";

    private static string Short(string fingerprint) => fingerprint.Length > 12 ? fingerprint[..12] : fingerprint;

    private static SortedDictionary<string, string> Metadata(string format, LogitsIdentity identity)
    {
        var metadata = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            [FormatKey] = format,
            [TeacherKey] = identity.TeacherFingerprint,
            [DataKey] = identity.DataFingerprint,
            [TotalRowsKey] = Text(identity.TotalRows),
            [ClassesKey] = Text(identity.Classes),
            [BatchSizeKey] = Text(identity.BatchSize),
        };
        if (identity.Views > 1)
        {
            metadata[ViewsKey] = Text(identity.Views);
            metadata[ImageSizeKey] = Text(identity.ImageSize);
        }

        return metadata;
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static int Number(string text) => int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
}
