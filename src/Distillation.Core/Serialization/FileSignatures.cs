namespace Distillation.Serialization;

/// <summary>
/// The signatures that open the library's own binary files, kept here, below the code that writes
/// them, so a reader of one kind can name another kind it is handed by mistake without importing
/// its writer.
/// </summary>
internal static class FileSignatures
{
    /// <summary>Opens a training checkpoint (written by the trainer's checkpoints, as a length-prefixed string).</summary>
    public const string Checkpoint = "Distillation.Checkpoint";

    /// <summary>
    /// Whether <paramref name="stream"/> opens with <paramref name="signature"/> written as a
    /// length-prefixed string (as <see cref="BinaryWriter.Write(string)"/> writes a short one); the
    /// stream is put back at its start.
    /// </summary>
    public static bool OpensWith(Stream stream, string signature)
    {
        var expected = System.Text.Encoding.UTF8.GetBytes(signature);
        var start = new byte[expected.Length + 1];
        var read = stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        return read == start.Length && start[0] == expected.Length && start.AsSpan(1).SequenceEqual(expected);
    }
}
