namespace Distillation.Data;

/// <summary>How far a download has come.</summary>
/// <param name="BytesReceived">The bytes read from the source so far.</param>
/// <param name="TotalBytes">The total to read, when known (from the server or the file, else the expected size).</param>
public readonly record struct DownloadProgress(long BytesReceived, long? TotalBytes)
{
    /// <summary>
    /// <see cref="BytesReceived"/> as a fraction of <see cref="TotalBytes"/>, between 0 and 1;
    /// <see langword="null"/> when the total is unknown or zero.
    /// </summary>
    public double? Fraction => TotalBytes is > 0 and var total ? Math.Min(1.0, (double)BytesReceived / total) : null;
}
