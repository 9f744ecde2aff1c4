using System.Security.Cryptography;

namespace Distillation.IO;

/// <summary>
/// The SHA-256 of a file's payload, stored after it, so that a flipped bit or a cut anywhere in
/// weights and checkpoints is found before anything is loaded. Writers hash what they write
/// through <see cref="HashingStream"/>; readers check with <see cref="Matches"/>.
/// </summary>
internal static class PayloadChecksum
{
    /// <summary>Bytes of a SHA-256.</summary>
    public const int Length = 32;

    /// <summary>Whether the SHA-256 of the first <paramref name="payloadLength"/> bytes of <paramref name="stream"/> equals <paramref name="expected"/>; reads from the start.</summary>
    public static bool Matches(Stream stream, long payloadLength, ReadOnlySpan<byte> expected)
    {
        stream.Position = 0;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        var left = payloadLength;
        while (left > 0)
        {
            var read = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (read == 0)
            {
                return false;
            }

            hash.AppendData(buffer, 0, read);
            left -= read;
        }

        return CryptographicOperations.FixedTimeEquals(hash.GetHashAndReset(), expected);
    }

    /// <summary>Forwards writes to an inner stream and hashes them; leaves the inner stream open.</summary>
    internal sealed class HashingStream(Stream inner) : Stream
    {
        private readonly IncrementalHash hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        /// <summary>The SHA-256 of everything written so far.</summary>
        public byte[] Hash() => hash.GetCurrentHash();

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            hash.AppendData(buffer);
        }

        public override void WriteByte(byte value) => Write([value]);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                hash.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
