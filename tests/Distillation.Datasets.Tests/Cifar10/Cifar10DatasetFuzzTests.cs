using CsCheck;
using Distillation.Data;
using Distillation.Tests.TestSupport;

namespace Distillation.Datasets.Tests.Cifar10;

/// <summary>Random bytes as CIFAR-10 files: the reader only ever loads them or throws its documented exceptions.</summary>
public sealed class Cifar10DatasetFuzzTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    /// <summary>
    /// A test batch of 0–3 records (labels mostly 0–9, sometimes any byte, random pixels), sometimes cut
    /// short or extended by a few bytes, sometimes with a random meta file.
    /// </summary>
    private static readonly Gen<(byte[] Batch, string? Meta, bool Official)> Files =
        from records in Gen.Int[0, 3]
        from labels in Gen.OneOf(Gen.Byte[0, 9], Gen.Byte[0, 9], Gen.Byte).Array[records]
        from pixels in Gen.Byte.Array[records * (Cifar10Dataset.RecordBytes - 1)]
        from change in Gen.OneOf(Gen.Const(0), Gen.Int[-3, 3])
        from meta in Gen.OneOf(Gen.Const((string?)null), Gen.String.Select(s => (string?)s), Gen.Const((string?)"a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"))
        from official in Gen.Bool
        select (Batch(labels, pixels, change), meta, official);

    private static byte[] Batch(byte[] labels, byte[] pixels, int change)
    {
        var size = Cifar10Dataset.RecordBytes - 1;
        var bytes = new List<byte>();
        for (var r = 0; r < labels.Length; r++)
        {
            bytes.Add(labels[r]);
            bytes.AddRange(pixels.AsSpan(r * size, size));
        }

        return change < 0 ? bytes.Take(Math.Max(0, bytes.Count + change)).ToArray() : [.. bytes, .. new byte[change]];
    }

    [Fact]
    public void Random_batch_files_load_or_raise_only_the_documented_exceptions()
    {
        var loaded = 0;
        Fuzz.ForAll(Files, seed: 20260701, iterations: 100, check: files =>
        {
            var folder = Path.Combine(temp.Path, Cifar10Dataset.FolderName);
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }

            Directory.CreateDirectory(folder);
            File.WriteAllBytes(Path.Combine(folder, "test_batch.bin"), files.Batch);
            if (files.Meta is not null)
            {
                File.WriteAllText(Path.Combine(folder, Cifar10Dataset.MetaFileName), files.Meta);
            }

            var options = new Cifar10LoadOptions { ExpectedRecordsPerFile = files.Official ? Cifar10Dataset.RecordsPerOfficialFile : null };
            try
            {
                using var dataset = Cifar10Dataset.Load(temp.Path, Cifar10Split.Test, options);
                dataset.Count.Should().Be(files.Batch.Length / Cifar10Dataset.RecordBytes);
                files.Batch.Where((_, i) => i % Cifar10Dataset.RecordBytes == 0).Should().OnlyContain(label => label < 10);
                loaded++;
            }
            catch (DatasetFormatException e)
            {
                e.FilePath.Should().StartWith(folder);
                e.Message.Should().Contain(e.FilePath);
            }
            catch (DatasetNotFoundException e)
            {
                e.Message.Should().Contain(e.ExpectedPath);
            }
        });

        loaded.Should().BeGreaterThan(0, "some random files are valid (labels below 10, whole records) and must load");
    }
}
