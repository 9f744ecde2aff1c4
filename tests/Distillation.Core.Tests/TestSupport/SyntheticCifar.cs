namespace Distillation.Tests.TestSupport;

/// <summary>Writes small CIFAR-10-format folders: record i has label i % 10 and every pixel byte equal to (i + channel) % 256.</summary>
internal static class SyntheticCifar
{
    public static string WriteFolder(string root, int recordsPerTrainFile, int testRecords, bool withMeta = true)
    {
        var folder = Path.Combine(root, "cifar-10-batches-bin");
        Directory.CreateDirectory(folder);
        var offset = 0;
        for (var f = 1; f <= 5; f++)
        {
            File.WriteAllBytes(Path.Combine(folder, $"data_batch_{f}.bin"), Records(offset, recordsPerTrainFile));
            offset += recordsPerTrainFile;
        }

        File.WriteAllBytes(Path.Combine(folder, "test_batch.bin"), Records(0, testRecords));
        if (withMeta)
        {
            File.WriteAllText(Path.Combine(folder, "batches.meta.txt"), "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
        }

        return folder;
    }

    public static byte[] Records(int first, int count)
    {
        var bytes = new byte[count * 3073];
        for (var r = 0; r < count; r++)
        {
            var i = first + r;
            var record = bytes.AsSpan(r * 3073, 3073);
            record[0] = (byte)(i % 10);
            for (var c = 0; c < 3; c++)
            {
                record.Slice(1 + c * 1024, 1024).Fill((byte)((i + c) % 256));
            }
        }

        return bytes;
    }
}

/// <summary>A temporary folder deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "distillation-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
