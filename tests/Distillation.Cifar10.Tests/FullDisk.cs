using Distillation.IO;

namespace Distillation.Cifar10.Tests;

/// <summary>
/// A disk that fills up: files whose name matches are written through a stream that accepts
/// <see cref="BytesBeforeFull"/> bytes, then throws <c>IOException("No space left on device")</c>,
/// as a full disk does. Every file still goes through <see cref="AtomicFile"/>.
/// </summary>
internal sealed class FullDisk(Func<string, bool> fullFor, int BytesBeforeFull = 100)
{
    public void Write(string path, Action<Stream> write) =>
        AtomicFile.Write(path, stream => write(fullFor(Path.GetFileName(path)) ? new FillingStream(stream, BytesBeforeFull) : stream));

    private sealed class FillingStream(Stream inner, int capacity) : Stream
    {
        private long written;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            var room = (int)Math.Max(0, capacity - written);
            inner.Write(buffer[..Math.Min(room, buffer.Length)]);
            written += Math.Min(room, buffer.Length);
            if (buffer.Length > room)
            {
                throw new IOException("No space left on device");
            }
        }
    }
}
