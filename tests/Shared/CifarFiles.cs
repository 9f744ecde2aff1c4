using Distillation.Data;

namespace Distillation.Tests.TestSupport;

/// <summary>
/// CIFAR-10-format folders the tests write themselves (issue 27: no test waits for a download):
/// <c>cifar-10-batches-bin/</c> with <c>data_batch_1.bin</c> … <c>data_batch_5.bin</c>,
/// <c>test_batch.bin</c> and <c>batches.meta.txt</c>, 3,073 bytes a record (a label byte, then the red,
/// green and blue 32×32 planes). Record i of a file has label i % 10, and its pixels are an even mix
/// of its class's fixed random pattern and per-record noise, so a network can learn the classes and
/// generalise to the test file, as on real images; the bytes are the same on every run.
/// </summary>
internal static class CifarFiles
{
    /// <summary>Records in each official file; the sample (and the tool) accept only that size.</summary>
    public const int OfficialRecordsPerFile = 10_000;

    private const int ImageBytes = 3 * 32 * 32;

    private static readonly Lazy<string> Official = new(WriteOfficialSize, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Reads files of any whole number of records (the loader's default wants the official 10,000).</summary>
    public static Cifar10LoadOptions AnyCount => new() { ExpectedRecordsPerFile = null };

    /// <summary>
    /// A data root with official-size files (60,000 records, 184 MB), written once per test process
    /// in the temporary folder and deleted when the process exits: for the tests that run the sample.
    /// </summary>
    public static string OfficialSizeRoot => Official.Value;

    /// <summary>Writes <c>root/cifar-10-batches-bin</c>: <paramref name="recordsPerFile"/> records in each of the six files.</summary>
    /// <returns>The data root, <paramref name="root"/>.</returns>
    public static string Write(string root, int recordsPerFile)
    {
        var folder = Path.Combine(root, Cifar10Dataset.FolderName);
        Directory.CreateDirectory(folder);
        var templates = ClassPatterns();
        string[] files = [.. Cifar10Dataset.FilesOf(Cifar10Split.Train), .. Cifar10Dataset.FilesOf(Cifar10Split.Test)];
        for (var f = 0; f < files.Length; f++)
        {
            WriteFile(Path.Combine(folder, files[f]), recordsPerFile, templates, new Random(1000 + f));
        }

        File.WriteAllText(Path.Combine(folder, "batches.meta.txt"), string.Join('\n', Cifar10Dataset.DefaultClassNames) + "\n\n");
        return root;
    }

    private static byte[][] ClassPatterns()
    {
        var random = new Random(27);
        return Enumerable.Range(0, 10).Select(_ =>
        {
            var pattern = new byte[ImageBytes];
            random.NextBytes(pattern);
            return pattern;
        }).ToArray();
    }

    private static void WriteFile(string path, int records, byte[][] patterns, Random random)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        var record = new byte[1 + ImageBytes];
        var noise = new byte[ImageBytes];
        for (var i = 0; i < records; i++)
        {
            var label = i % 10;
            record[0] = (byte)label;
            random.NextBytes(noise);
            var pattern = patterns[label];
            for (var j = 0; j < ImageBytes; j++)
            {
                record[1 + j] = (byte)((pattern[j] + noise[j]) >> 1);
            }

            stream.Write(record);
        }
    }

    private static string WriteOfficialSize()
    {
        var root = Path.Combine(Path.GetTempPath(), $"distillation-tests-cifar-{Environment.ProcessId}-{Guid.NewGuid():N}");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // A sample process still reading the files: the temporary folder is the system's to clean.
            }
        };
        return Write(root, OfficialRecordsPerFile);
    }
}
