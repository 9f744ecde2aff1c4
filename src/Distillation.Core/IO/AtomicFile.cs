using System.Text;

namespace Distillation.IO;

/// <summary>
/// Writes files atomically: to a temporary file in the same folder, flushed to disk, then renamed
/// over the target. A reader sees either the old content or the new, never a half-written file,
/// even when the writer is interrupted.
/// </summary>
internal static class AtomicFile
{
    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> as UTF-8 (no byte-order mark), replacing any existing file.</summary>
    /// <param name="path">The file; its folder is created if needed.</param>
    /// <param name="text">The content.</param>
    public static void WriteAllText(string path, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Write(path, stream =>
        {
            var bytes = Utf8NoBom.GetBytes(text);
            stream.Write(bytes, 0, bytes.Length);
        });
    }

    /// <summary>
    /// Lets <paramref name="write"/> fill a temporary file, then renames it over
    /// <paramref name="path"/>. When <paramref name="write"/> throws, the temporary file is deleted
    /// and any existing file is left as it was.
    /// </summary>
    /// <param name="path">The file; its folder is created if needed.</param>
    /// <param name="write">Writes the content; it may close the stream.</param>
    /// <exception cref="IOException">
    /// The file cannot be written (e.g. the disk is full: the message names <paramref name="path"/>
    /// and the cause); no temporary file is left and the previous file, if any, is unchanged.
    /// </exception>
    /// <exception cref="UnauthorizedAccessException">The folder is not writable; nothing is left behind.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(write);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);

        // Same folder as the target, so the rename stays on one file system and is atomic.
        var temporary = full + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            {
                // Some writers (TorchSharp's save) close the stream they are given; flush through a
                // wrapper that ignores that, so the data reaches the disk before the rename.
                using (var guarded = new NonClosingStream(stream))
                {
                    write(guarded);
                }

                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, full, overwrite: true);
        }
        catch (IOException e) when (e.GetType() == typeof(IOException))
        {
            // The cause alone often names only the temporary file.
            throw new IOException($"{full} was not written (any previous file is unchanged): {e.Message}", e);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Forwards writes to an inner stream but leaves it open when disposed.</summary>
    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => inner.CanSeek;

        public override bool CanWrite => inner.CanWrite;

        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => inner.Position = value;
        }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

        public override void SetLength(long value) => inner.SetLength(value);

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Flush();
            }

            base.Dispose(disposing);
        }
    }
}
