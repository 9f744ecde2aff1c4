using System.Buffers;
using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Distillation.Data;

/// <summary>
/// Puts CIFAR-10's binary batches in place on request, like torchvision's <c>download=True</c>:
/// streams the official archive (or a mirror, or a local copy) to a temporary file, checks its size
/// and MD5, extracts it into a temporary folder with every entry kept inside that folder, and only
/// then moves <c>cifar-10-batches-bin</c> into place. Nothing is downloaded unless
/// <see cref="EnsureAsync"/> is called and the folder is missing.
/// </summary>
public sealed partial class Cifar10Downloader
{
    /// <summary>The folder the archive holds and that <see cref="EnsureAsync"/> puts under the root.</summary>
    public const string FolderName = Cifar10Dataset.FolderName;

    /// <summary>The files <see cref="FolderName"/> must hold for the data set to be complete.</summary>
    public static IReadOnlyList<string> ExpectedFiles { get; } =
        [.. Cifar10Dataset.FilesOf(Cifar10Split.Train), .. Cifar10Dataset.FilesOf(Cifar10Split.Test), Cifar10Dataset.MetaFileName];

    internal const string ArchiveFileName = "cifar-10-binary.tar.gz";
    internal const string PartialPrefix = ArchiveFileName + ".";
    internal const string PartialSuffix = ".partial";
    internal const string ExtractPrefix = ".cifar-10-extract-";

    private const int BufferSize = 81_920;
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);

    private readonly HttpClient? _httpClient;
    private readonly ILogger _logger;

    /// <summary>Creates a downloader.</summary>
    /// <param name="httpClient">
    /// The client for http(s) sources; when <see langword="null"/>, each download creates and disposes
    /// its own client (with no client-level timeout: <see cref="Cifar10DownloadOptions.Timeout"/> applies).
    /// A client passed in is not disposed.
    /// </param>
    /// <param name="logger">Where progress is logged; <see cref="NullLogger{T}"/> when <see langword="null"/>.</param>
    public Cifar10Downloader(HttpClient? httpClient = null, ILogger<Cifar10Downloader>? logger = null)
    {
        _httpClient = httpClient;
        _logger = logger ?? NullLogger<Cifar10Downloader>.Instance;
    }

    /// <summary>
    /// Makes sure <c>&lt;root&gt;/cifar-10-batches-bin</c> exists, downloading and extracting the archive
    /// if it does not. If the folder exists already, returns at once without reading the source.
    /// </summary>
    /// <param name="root">The data folder; created if missing. The archive is downloaded and extracted inside it.</param>
    /// <param name="options">The source and the checks; the defaults (official URL, size and MD5) when <see langword="null"/>.</param>
    /// <param name="progress">Receives the bytes read so far, at most a few times a second, and once at the end.</param>
    /// <param name="cancellationToken">Cancels the download; the temporary file and folder are removed.</param>
    /// <returns>The full path of <c>&lt;root&gt;/cifar-10-batches-bin</c>.</returns>
    /// <exception cref="ArgumentException"><paramref name="root"/> is empty, or <paramref name="options"/> are invalid.</exception>
    /// <exception cref="ChecksumMismatchException">The archive's size or MD5 is not the expected one.</exception>
    /// <exception cref="UnsafeArchiveEntryException">The archive holds an entry that could land outside the extraction folder, or a link.</exception>
    /// <exception cref="DownloadException">The source cannot be read (the message says how to install the archive by hand), or the archive lacks expected files.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<string> EnsureAsync(
        string root,
        Cifar10DownloadOptions? options = null,
        IProgress<DownloadProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        options ??= new Cifar10DownloadOptions();
        options.Validate();

        var rootPath = Path.GetFullPath(root);
        var target = Path.Combine(rootPath, FolderName);
        if (Directory.Exists(target))
        {
            LogAlreadyPresent(_logger, target);
            return target;
        }

        if (File.Exists(target))
        {
            throw new DownloadException(
                $"'{target}' is a file; CIFAR-10 needs a folder there. Move the file away and try again.",
                options.Source,
                innerException: null);
        }

        cancellationToken.ThrowIfCancellationRequested();
        Directory.CreateDirectory(rootPath);
        RemoveStaleLeftovers(rootPath);

        var id = Guid.NewGuid().ToString("N")[..12];
        var partialPath = Path.Combine(rootPath, PartialPrefix + id + PartialSuffix);
        var extractPath = Path.Combine(rootPath, ExtractPrefix + id);
        FileStream? partial = null;
        try
        {
            // The temporary file stays open, locked, from download to move: a concurrent run sees it
            // in use and leaves it (and its extraction folder) alone, and the bytes that are extracted
            // are the bytes that were verified.
            partial = new FileStream(partialPath, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                Options = FileOptions.Asynchronous,
                BufferSize = 0,
            });

            LogStarting(_logger, options.Source, rootPath);
            var (length, md5) = await DownloadAsync(options, rootPath, partial, progress, cancellationToken).ConfigureAwait(false);
            Verify(options, length, md5);
            LogVerified(_logger, length, md5);

            partial.Position = 0;
            Directory.CreateDirectory(extractPath);
            var entries = await ExtractAsync(partial, extractPath, options.Source, cancellationToken).ConfigureAwait(false);
            var extracted = Path.Combine(extractPath, FolderName);
            CheckComplete(options.Source, extracted);
            LogExtracted(_logger, entries, extractPath);

            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                Directory.Move(extracted, target);
            }
            catch (IOException) when (Directory.Exists(target))
            {
                // Another run put the folder in place first; its copy is as good as ours.
                LogAlreadyPresent(_logger, target);
                return target;
            }

            LogMovedIntoPlace(_logger, target);
            return target;
        }
        finally
        {
            // The extraction folder goes first, while the temporary file still marks it as in use.
            TryDeleteDirectory(extractPath);
            if (partial is not null)
            {
                await partial.DisposeAsync().ConfigureAwait(false);
            }

            TryDeleteFile(partialPath);
        }
    }

    /// <summary>Streams the source into <paramref name="destination"/>, hashing as it goes.</summary>
    private async Task<(long Length, string Md5)> DownloadAsync(
        Cifar10DownloadOptions options,
        string rootPath,
        FileStream destination,
        IProgress<DownloadProgress>? progress,
        CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (options.Timeout != Timeout.InfiniteTimeSpan)
        {
            timeout.CancelAfter(options.Timeout);
        }

        try
        {
            if (TryGetHttpUri(options.Source, out var uri))
            {
                var ownClient = _httpClient is null ? new HttpClient { Timeout = Timeout.InfiniteTimeSpan } : null;
                try
                {
                    var client = _httpClient ?? ownClient!;
                    HttpResponseMessage response;
                    Stream body;
                    try
                    {
                        response = await client.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                    }
                    catch (HttpRequestException e)
                    {
                        throw SourceUnreadable(options.Source, rootPath, e.Message, e);
                    }

                    using (response)
                    {
                        if (!response.IsSuccessStatusCode)
                        {
                            throw SourceUnreadable(
                                options.Source,
                                rootPath,
                                $"the server answered {(int)response.StatusCode} {response.ReasonPhrase}",
                                innerException: null);
                        }

                        try
                        {
                            body = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
                        }
                        catch (Exception e) when (e is HttpRequestException or IOException)
                        {
                            throw SourceUnreadable(options.Source, rootPath, e.Message, e);
                        }

                        await using (body.ConfigureAwait(false))
                        {
                            var total = response.Content.Headers.ContentLength ?? options.ExpectedSize;
                            return await CopyAsync(body, total, options, rootPath, destination, progress, timeout.Token, cancellationToken).ConfigureAwait(false);
                        }
                    }
                }
                finally
                {
                    ownClient?.Dispose();
                }
            }

            var path = LocalPath(options.Source);
            FileStream file;
            try
            {
                file = new FileStream(path, new FileStreamOptions
                {
                    Mode = FileMode.Open,
                    Access = FileAccess.Read,
                    Share = FileShare.Read,
                    Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
                    BufferSize = 0,
                });
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                throw SourceUnreadable(options.Source, rootPath, e.Message, e);
            }

            await using (file.ConfigureAwait(false))
            {
                return await CopyAsync(file, file.Length, options, rootPath, destination, progress, timeout.Token, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            // Our timeout, or the injected HttpClient's own.
            var limit = timeout.IsCancellationRequested ? $"after {options.Timeout}" : "(the HttpClient's timeout)";
            throw SourceUnreadable(options.Source, rootPath, $"the download timed out {limit}", e);
        }
    }

    private static async Task<(long Length, string Md5)> CopyAsync(
        Stream source,
        long? total,
        Cifar10DownloadOptions options,
        string rootPath,
        FileStream destination,
        IProgress<DownloadProgress>? progress,
        CancellationToken readToken,
        CancellationToken cancellationToken)
    {
#pragma warning disable CA5351 // MD5 is the integrity checksum CIFAR-10 publishes; it is not used for security.
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
#pragma warning restore CA5351
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            long received = 0;
            progress?.Report(new DownloadProgress(0, total));
            var lastReport = Stopwatch.GetTimestamp();
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int read;
                try
                {
                    read = await source.ReadAsync(buffer.AsMemory(0, BufferSize), readToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is HttpRequestException or IOException)
                {
                    throw SourceUnreadable(options.Source, rootPath, e.Message, e);
                }

                if (read == 0)
                {
                    break;
                }

                received += read;
                if (options.ExpectedSize is { } expected && received > expected)
                {
                    // A wrong file, or an endless stream: stop rather than fill the disk.
                    throw new ChecksumMismatchException(
                        options.Source,
                        "size",
                        FormatBytes(expected),
                        $"more than that (stopped after {FormatBytes(received)})");
                }

                md5.AppendData(buffer, 0, read);
                await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);

                if (progress is not null && Stopwatch.GetElapsedTime(lastReport) >= ProgressInterval)
                {
                    progress.Report(new DownloadProgress(received, total));
                    lastReport = Stopwatch.GetTimestamp();
                }
            }

            await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
            progress?.Report(new DownloadProgress(received, total ?? received));
            return (received, Convert.ToHexString(md5.GetHashAndReset()).ToLowerInvariant());
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void Verify(Cifar10DownloadOptions options, long length, string md5)
    {
        if (options.ExpectedSize is { } size && size != length)
        {
            throw new ChecksumMismatchException(options.Source, "size", FormatBytes(size), FormatBytes(length));
        }

        if (options.ExpectedMd5 is { } expected && !string.Equals(expected, md5, StringComparison.OrdinalIgnoreCase))
        {
            throw new ChecksumMismatchException(options.Source, "MD5", expected, md5);
        }
    }

    /// <summary>
    /// Extracts regular files and directories into <paramref name="destination"/>, refusing links,
    /// devices and any entry whose path would leave the folder.
    /// </summary>
    private static async Task<int> ExtractAsync(Stream archive, string destination, string source, CancellationToken cancellationToken)
    {
        var destinationRoot = Path.TrimEndingDirectorySeparator(Path.GetFullPath(destination));
        var prefix = destinationRoot + Path.DirectorySeparatorChar;
        var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS()
            ? StringComparison.OrdinalIgnoreCase
            : StringComparison.Ordinal;

        var gzip = new GZipStream(archive, CompressionMode.Decompress, leaveOpen: true);
        await using (gzip.ConfigureAwait(false))
        {
            var reader = new TarReader(gzip, leaveOpen: true);
            await using (reader.ConfigureAwait(false))
            {
                var count = 0;
                while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    switch (entry.EntryType)
                    {
                        case TarEntryType.GlobalExtendedAttributes:
                            // Metadata for the entries that follow; nothing to write.
                            continue;
                        case TarEntryType.Directory:
                        case TarEntryType.RegularFile:
                        case TarEntryType.V7RegularFile:
                            break;
                        case TarEntryType.SymbolicLink:
                        case TarEntryType.HardLink:
                            throw new UnsafeArchiveEntryException(
                                entry.Name,
                                $"it is a {(entry.EntryType == TarEntryType.SymbolicLink ? "symbolic" : "hard")} link (to '{entry.LinkName}'); only regular files and directories are extracted",
                                source);
                        default:
                            throw new UnsafeArchiveEntryException(
                                entry.Name,
                                $"its type is {entry.EntryType}; only regular files and directories are extracted",
                                source);
                    }

                    var fullPath = ResolveInside(entry.Name, destinationRoot, prefix, comparison, source);
                    if (entry.EntryType == TarEntryType.Directory)
                    {
                        Directory.CreateDirectory(fullPath);
                    }
                    else
                    {
                        if (string.Equals(fullPath, destinationRoot, comparison))
                        {
                            throw new UnsafeArchiveEntryException(entry.Name, "a file entry names the extraction folder itself", source);
                        }

                        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
                        var file = new FileStream(fullPath, new FileStreamOptions
                        {
                            Mode = FileMode.Create,
                            Access = FileAccess.Write,
                            Share = FileShare.None,
                            Options = FileOptions.Asynchronous,
                            BufferSize = 0,
                        });
                        await using (file.ConfigureAwait(false))
                        {
                            if (entry.DataStream is { } data)
                            {
                                await data.CopyToAsync(file, BufferSize, cancellationToken).ConfigureAwait(false);
                            }
                        }
                    }

                    count++;
                }

                return count;
            }
        }
    }

    /// <summary>The full path an entry would be written to, or an exception if it is outside the folder.</summary>
    private static string ResolveInside(string name, string destinationRoot, string prefix, StringComparison comparison, string source)
    {
        if (string.IsNullOrEmpty(name) || Path.IsPathRooted(name) || name[0] is '/' or '\\')
        {
            throw new UnsafeArchiveEntryException(name, "its path is absolute or empty", source);
        }

        string fullPath;
        try
        {
            fullPath = Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.Combine(destinationRoot, name)));
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new UnsafeArchiveEntryException(name, $"its path is invalid ({e.Message})", source);
        }

        if (!string.Equals(fullPath, destinationRoot, comparison) && !fullPath.StartsWith(prefix, comparison))
        {
            throw new UnsafeArchiveEntryException(name, "its path leads outside the extraction folder", source);
        }

        return fullPath;
    }

    private static void CheckComplete(string source, string extracted)
    {
        var missing = Directory.Exists(extracted)
            ? ExpectedFiles.Where(name => !File.Exists(Path.Combine(extracted, name))).Select(name => FolderName + "/" + name).ToList()
            : [FolderName + "/"];
        if (missing.Count > 0)
        {
            throw new DownloadException(
                $"The archive read from '{source}' is not the CIFAR-10 binary archive: it lacks {string.Join(", ", missing)}. Nothing was put in place.",
                source,
                innerException: null);
        }
    }

    /// <summary>
    /// Removes temporary files and extraction folders left by interrupted runs. A temporary file that
    /// another run holds open is in use and is left alone, with its extraction folder.
    /// </summary>
    private void RemoveStaleLeftovers(string rootPath)
    {
        var inUse = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in Directory.EnumerateFiles(rootPath, PartialPrefix + "*" + PartialSuffix))
        {
            var name = Path.GetFileName(path);
            var id = name[PartialPrefix.Length..^PartialSuffix.Length];
            try
            {
                // Opening exclusively fails while another run holds the file; DeleteOnClose removes it otherwise.
                using (new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose))
                {
                }

                LogRemovedStale(_logger, path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                inUse.Add(id);
                LogStaleInUse(_logger, path, e.Message);
            }
        }

        foreach (var path in Directory.EnumerateDirectories(rootPath, ExtractPrefix + "*"))
        {
            if (!inUse.Contains(Path.GetFileName(path)[ExtractPrefix.Length..]))
            {
                TryDeleteDirectory(path);
                LogRemovedStale(_logger, path);
            }
        }
    }

    private static DownloadException SourceUnreadable(string source, string rootPath, string reason, Exception? innerException) =>
        new(
            $"The CIFAR-10 archive could not be read from '{source}': {reason.TrimEnd('.')}. " +
            $"To install it by hand, get {ArchiveFileName} (from {Cifar10DownloadOptions.DefaultSource}) on a machine that can reach it, then either " +
            $"extract it into '{rootPath}' so that '{Path.Combine(rootPath, FolderName)}' exists " +
            $"(tar -xzf {ArchiveFileName} -C \"{rootPath}\"), or pass the archive's local path as {nameof(Cifar10DownloadOptions)}.{nameof(Cifar10DownloadOptions.Source)}.",
            source,
            innerException);

    private static bool TryGetHttpUri(string source, out Uri uri)
    {
        if (Uri.TryCreate(source, UriKind.Absolute, out var parsed)
            && (parsed.Scheme == Uri.UriSchemeHttp || parsed.Scheme == Uri.UriSchemeHttps))
        {
            uri = parsed;
            return true;
        }

        uri = null!;
        return false;
    }

    private static string LocalPath(string source) =>
        source.StartsWith(Uri.UriSchemeFile + "://", StringComparison.OrdinalIgnoreCase)
            && Uri.TryCreate(source, UriKind.Absolute, out var uri)
            ? uri.LocalPath
            : Path.GetFullPath(source);

    private static string FormatBytes(long bytes) => bytes.ToString("N0", CultureInfo.InvariantCulture) + " bytes";

    private void TryDeleteFile(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogCleanupFailed(_logger, path, e.Message);
        }
    }

    private void TryDeleteDirectory(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogCleanupFailed(_logger, path, e.Message);
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Downloading the CIFAR-10 archive from {Source} into {Root}")]
    private static partial void LogStarting(ILogger logger, string source, string root);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Verified the CIFAR-10 archive: {Length} bytes, MD5 {Md5}")]
    private static partial void LogVerified(ILogger logger, long length, string md5);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Extracted {Entries} archive entries into {Folder}")]
    private static partial void LogExtracted(ILogger logger, int entries, string folder);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Moved CIFAR-10 into place at {Target}")]
    private static partial void LogMovedIntoPlace(ILogger logger, string target);

    [LoggerMessage(EventId = 5, Level = LogLevel.Debug, Message = "CIFAR-10 is already present at {Target}; nothing to download")]
    private static partial void LogAlreadyPresent(ILogger logger, string target);

    [LoggerMessage(EventId = 6, Level = LogLevel.Debug, Message = "Removed {Path}, left by an interrupted download")]
    private static partial void LogRemovedStale(ILogger logger, string path);

    [LoggerMessage(EventId = 7, Level = LogLevel.Debug, Message = "Left {Path} alone: another download is using it ({Reason})")]
    private static partial void LogStaleInUse(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "Could not remove the temporary {Path}: {Reason}")]
    private static partial void LogCleanupFailed(ILogger logger, string path, string reason);
}
