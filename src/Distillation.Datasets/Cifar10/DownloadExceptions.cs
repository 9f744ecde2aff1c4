namespace Distillation.Data;

/// <summary>
/// The CIFAR-10 archive could not be obtained: the source could not be read, the archive failed its
/// checks, or it does not hold the expected files. The message says what failed and, where it helps,
/// how to put the archive in place by hand.
/// </summary>
public class DownloadException : IOException
{
    /// <summary>Creates the exception.</summary>
    public DownloadException()
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed.</param>
    public DownloadException(string? message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="innerException">The underlying failure.</param>
    public DownloadException(string? message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="archiveSource">The source the archive was read from.</param>
    /// <param name="innerException">The underlying failure, if any.</param>
    public DownloadException(string? message, string? archiveSource, Exception? innerException)
        : base(message, innerException)
    {
        ArchiveSource = archiveSource;
    }

    /// <summary>The source (URL or path) the archive was read from, if known.</summary>
    public string? ArchiveSource { get; }
}

/// <summary>
/// The downloaded archive's size or MD5 differs from the expected one. Nothing was extracted and the
/// temporary file was deleted.
/// </summary>
public sealed class ChecksumMismatchException : DownloadException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="archiveSource">The source the archive was read from.</param>
    /// <param name="check">The check that failed: <c>"size"</c> or <c>"MD5"</c>.</param>
    /// <param name="expected">The expected value, as text.</param>
    /// <param name="actual">The value found, as text.</param>
    public ChecksumMismatchException(string archiveSource, string check, string expected, string actual)
        : base(
            $"The CIFAR-10 archive read from '{archiveSource}' failed its {check} check: expected {expected}, got {actual}. " +
            "The download is incomplete or corrupt, or the source serves a different file; nothing was extracted.",
            archiveSource,
            innerException: null)
    {
        Check = check;
        Expected = expected;
        Actual = actual;
    }

    /// <summary>The check that failed: <c>"size"</c> or <c>"MD5"</c>.</summary>
    public string Check { get; }

    /// <summary>The expected value, as text.</summary>
    public string Expected { get; }

    /// <summary>The value found, as text.</summary>
    public string Actual { get; }
}

/// <summary>
/// The archive holds an entry that could write outside the extraction folder (a path with <c>..</c>,
/// an absolute path) or that is not a regular file or directory (a symbolic or hard link, a device).
/// Nothing from the archive was moved into place.
/// </summary>
/// <remarks>
/// It derives from <see cref="DownloadException"/> (<see cref="InvalidDataException"/> is sealed), so
/// one <c>catch (DownloadException)</c> covers every way of not getting the data set.
/// </remarks>
public sealed class UnsafeArchiveEntryException : DownloadException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="entryName">The entry's name, as stored in the archive.</param>
    /// <param name="reason">Why the entry is refused.</param>
    /// <param name="archiveSource">The source the archive was read from, if known.</param>
    public UnsafeArchiveEntryException(string entryName, string reason, string? archiveSource = null)
        : base(
            $"The archive entry '{entryName}' was refused: {reason}. Nothing from the archive was put in place." +
            (archiveSource is null ? "" : $" The archive was read from '{archiveSource}'."),
            archiveSource,
            innerException: null)
    {
        EntryName = entryName;
    }

    /// <summary>The refused entry's name, as stored in the archive.</summary>
    public string EntryName { get; }
}
