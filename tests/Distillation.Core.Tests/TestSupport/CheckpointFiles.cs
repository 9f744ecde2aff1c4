using System.Security.Cryptography;
using System.Text;

namespace Distillation.Tests.TestSupport;

/// <summary>Edits checkpoint files as a damaged disk or a hand edit would, for the reliability tests.</summary>
internal static class CheckpointFiles
{
    /// <summary>The header's JSON.</summary>
    public static string Header(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
        reader.ReadString();
        reader.ReadInt32();
        return reader.ReadString();
    }

    /// <summary>
    /// Replaces the header's JSON and writes a valid checksum again, so that the header's own
    /// checks are what a test reaches (with <paramref name="version"/> 1, the older format: no checksum).
    /// </summary>
    public static void Rewrite(string path, Func<string, string> editHeader, int version = 2)
    {
        var bytes = File.ReadAllBytes(path);
        using var input = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
        var magic = input.ReadString();
        input.ReadInt32();
        var header = input.ReadString();
        var payloadStart = (int)input.BaseStream.Position;
        var payload = bytes.AsSpan(payloadStart, bytes.Length - payloadStart - SHA256.HashSizeInBytes).ToArray();

        using var output = new MemoryStream();
        using (var writer = new BinaryWriter(output, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(magic);
            writer.Write(version);
            writer.Write(editHeader(header));
            writer.Write(payload);
        }

        if (version >= 2)
        {
            output.Write(SHA256.HashData(output.ToArray()));
        }

        File.WriteAllBytes(path, output.ToArray());
    }

    /// <summary>Where the tensors start: right after the header.</summary>
    public static long PayloadStart(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
        reader.ReadString();
        reader.ReadInt32();
        reader.ReadString();
        return reader.BaseStream.Position;
    }

    /// <summary>Flips one bit of the byte at <paramref name="offset"/>.</summary>
    public static void FlipBit(string path, long offset, int bit = 3)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[offset] ^= (byte)(1 << bit);
        File.WriteAllBytes(path, bytes);
    }
}
