using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using Distillation.Data;
using Microsoft.Extensions.Logging;
using Distillation.Tests.TestSupport;

namespace Distillation.Datasets.Tests.Cifar10;

/// <summary>
/// The downloader against small archives built here (nothing is fetched from the internet): the
/// seven expected files with a few bytes each, served from a path, a file:// URL or a stub HTTP handler.
/// </summary>
public sealed class Cifar10DownloaderTests : IDisposable
{
    private static readonly string[] ExpectedFiles =
    [
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin",
        "test_batch.bin", "batches.meta.txt",
    ];

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "distillation-cifar10-downloader-" + Guid.NewGuid().ToString("N"));

    public Cifar10DownloaderTests()
    {
        Directory.CreateDirectory(_dir);
    }

    private string Root => Path.Combine(_dir, "root");

    private string Target => Path.Combine(Root, Cifar10Downloader.FolderName);

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    // ---- Sources ----------------------------------------------------------------------------

    [Fact]
    public async Task Local_path_source_is_extracted_into_place_and_its_path_is_returned()
    {
        var (_, options) = WriteSource(BuildArchive(WriteCifarTree));

        var folder = await new Cifar10Downloader().EnsureAsync(Root, options);

        folder.Should().Be(Path.GetFullPath(Target));
        foreach (var name in ExpectedFiles)
        {
            File.ReadAllText(Path.Combine(folder, name)).Should().Be("content of " + name);
        }

        File.Exists(Path.Combine(folder, "readme.html")).Should().BeTrue();
        RootShouldHoldOnly(Cifar10Downloader.FolderName);
    }

    [Fact]
    public async Task File_url_source_is_read()
    {
        var (path, options) = WriteSource(BuildArchive(WriteCifarTree));
        options.Source = new Uri(path).AbsoluteUri;
        options.Source.Should().StartWith("file://");

        var folder = await new Cifar10Downloader().EnsureAsync(Root, options);

        File.Exists(Path.Combine(folder, "test_batch.bin")).Should().BeTrue();
        RootShouldHoldOnly(Cifar10Downloader.FolderName);
    }

    [Fact]
    public async Task Http_source_is_streamed_through_the_injected_HttpClient()
    {
        var archive = BuildArchive(WriteCifarTree);
        var handler = new StubHandler((_, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(archive) }));
        using var client = new HttpClient(handler);
        var options = OptionsFor(archive, "https://mirror.example/cifar-10-binary.tar.gz");

        var folder = await new Cifar10Downloader(client).EnsureAsync(Root, options);

        handler.Requests.Should().ContainSingle().Which.Should().Be(new Uri("https://mirror.example/cifar-10-binary.tar.gz"));
        File.ReadAllText(Path.Combine(folder, "data_batch_5.bin")).Should().Be("content of data_batch_5.bin");
        RootShouldHoldOnly(Cifar10Downloader.FolderName);
    }

    [Fact]
    public async Task Http_network_error_becomes_a_DownloadException_that_says_how_to_install_by_hand()
    {
        var handler = new StubHandler((_, _) => throw new HttpRequestException("Name or service not known (www.cs.toronto.edu:443)"));
        using var client = new HttpClient(handler);
        var options = new Cifar10DownloadOptions();

        var act = () => new Cifar10Downloader(client).EnsureAsync(Root, options);

        var error = (await act.Should().ThrowAsync<DownloadException>()).Which;
        error.Should().BeOfType<DownloadException>();
        error.InnerException.Should().BeOfType<HttpRequestException>();
        error.ArchiveSource.Should().Be(Cifar10DownloadOptions.DefaultSource);
        error.Message.Should()
            .Contain("could not be read from 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'")
            .And.Contain("Name or service not known")
            .And.Contain($"extract it into '{Path.GetFullPath(Root)}'")
            .And.Contain(Path.Combine(Path.GetFullPath(Root), "cifar-10-batches-bin"))
            .And.Contain("Cifar10DownloadOptions.Source");
        RootShouldHoldOnly();
    }

    [Fact]
    public async Task Http_error_status_becomes_a_DownloadException_naming_the_status()
    {
        var handler = new StubHandler((_, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.NotFound) { ReasonPhrase = "Not Found" }));
        using var client = new HttpClient(handler);

        var act = () => new Cifar10Downloader(client).EnsureAsync(Root, new Cifar10DownloadOptions { Source = "http://mirror.example/missing.tar.gz" });

        (await act.Should().ThrowAsync<DownloadException>()).WithMessage("*404 Not Found*extract it into*");
        RootShouldHoldOnly();
    }

    [Fact]
    public async Task A_source_slower_than_the_timeout_becomes_a_DownloadException()
    {
        var handler = new StubHandler(async (_, token) =>
        {
            await Task.Delay(Timeout.Infinite, token);
            return new HttpResponseMessage(HttpStatusCode.OK);
        });
        using var client = new HttpClient(handler);
        var options = new Cifar10DownloadOptions { Source = "https://mirror.example/slow.tar.gz", Timeout = TimeSpan.FromMilliseconds(200) };

        var act = () => new Cifar10Downloader(client).EnsureAsync(Root, options);

        (await act.Should().ThrowAsync<DownloadException>()).WithMessage("*timed out after 00:00:00.2*");
        RootShouldHoldOnly();
    }

    [Fact]
    public async Task A_missing_local_source_becomes_a_DownloadException_that_says_how_to_install_by_hand()
    {
        var missing = Path.Combine(_dir, "nowhere", "cifar-10-binary.tar.gz");

        var act = () => new Cifar10Downloader().EnsureAsync(Root, new Cifar10DownloadOptions { Source = missing });

        var error = (await act.Should().ThrowAsync<DownloadException>()).Which;
        error.Message.Should().Contain(missing).And.Contain("extract it into").And.Contain("local path");
        error.InnerException.Should().BeAssignableTo<IOException>();
        RootShouldHoldOnly();
    }

    // ---- Already present --------------------------------------------------------------------

    [Fact]
    public async Task An_existing_folder_is_returned_without_reading_the_source()
    {
        Directory.CreateDirectory(Target);
        var handler = new StubHandler((_, _) => throw new InvalidOperationException("must not be called"));
        using var client = new HttpClient(handler);

        var fromMissingFile = await new Cifar10Downloader(client).EnsureAsync(
            Root, new Cifar10DownloadOptions { Source = Path.Combine(_dir, "does-not-exist.tar.gz") });
        var fromUrl = await new Cifar10Downloader(client).EnsureAsync(Root);

        fromMissingFile.Should().Be(Path.GetFullPath(Target));
        fromUrl.Should().Be(Path.GetFullPath(Target));
        handler.Requests.Should().BeEmpty();
        RootShouldHoldOnly(Cifar10Downloader.FolderName);
    }

    // ---- Checks before extraction -----------------------------------------------------------

    [Fact]
    public async Task Wrong_md5_throws_ChecksumMismatchException_and_extracts_nothing()
    {
        var (path, options) = WriteSource(BuildArchive(WriteCifarTree));
        var actual = options.ExpectedMd5!;
        options.ExpectedMd5 = "0123456789abcdef0123456789ABCDEF";

        var act = () => new Cifar10Downloader().EnsureAsync(Root, options);

        var error = (await act.Should().ThrowAsync<ChecksumMismatchException>()).Which;
        error.Check.Should().Be("MD5");
        error.Expected.Should().Be("0123456789abcdef0123456789ABCDEF");
        error.Actual.Should().Be(actual);
        error.Message.Should().Contain("0123456789abcdef0123456789ABCDEF").And.Contain(actual).And.Contain(path);
        RootShouldHoldOnly();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(-1)]
    public async Task Wrong_size_throws_ChecksumMismatchException_and_extracts_nothing(int offset)
    {
        var archive = BuildArchive(WriteCifarTree);
        var (path, options) = WriteSource(archive);
        options.ExpectedSize = archive.Length + offset;
        options.ExpectedMd5 = null;

        var act = () => new Cifar10Downloader().EnsureAsync(Root, options);

        var error = (await act.Should().ThrowAsync<ChecksumMismatchException>()).Which;
        error.Check.Should().Be("size");
        error.Message.Should()
            .Contain((archive.Length + offset).ToString("N0", CultureInfo.InvariantCulture) + " bytes")
            .And.Contain(archive.Length.ToString("N0", CultureInfo.InvariantCulture) + " bytes")
            .And.Contain(path);
        RootShouldHoldOnly();
    }

    [Fact]
    public async Task Checks_set_to_null_are_skipped_and_md5_compares_case_insensitively()
    {
        var (_, options) = WriteSource(BuildArchive(WriteCifarTree));
        options.ExpectedSize = null;
        options.ExpectedMd5 = options.ExpectedMd5!.ToUpperInvariant();

        var folder = await new Cifar10Downloader().EnsureAsync(Root, options);

        Directory.Exists(folder).Should().BeTrue();
    }

    // ---- Extraction -------------------------------------------------------------------------

    [Theory]
    [InlineData("../evil.txt")]
    [InlineData("cifar-10-batches-bin/../../evil.txt")]
    [InlineData("cifar-10-batches-bin/../../../evil.txt")]
    [InlineData("ABSOLUTE")]
    public async Task An_entry_leading_outside_the_extraction_folder_is_refused(string entryName)
    {
        var absolute = Path.Combine(_dir, "absolute", "evil.txt");
        if (entryName == "ABSOLUTE")
        {
            entryName = absolute;
        }

        // The bad entry comes last, after the complete tree has been extracted.
        var (_, options) = WriteSource(BuildArchive(tar =>
        {
            WriteCifarTree(tar);
            AddFile(tar, entryName, "evil");
        }));

        var act = () => new Cifar10Downloader().EnsureAsync(Root, options);

        (await act.Should().ThrowAsync<UnsafeArchiveEntryException>()).Which.EntryName.Should().Be(entryName);
        Directory.EnumerateFiles(Path.GetTempPath(), "evil.txt").Should().BeEmpty();
        Directory.EnumerateFiles(_dir, "evil.txt", SearchOption.AllDirectories).Should().BeEmpty();
        RootShouldHoldOnly();
    }

    [Theory]
    [InlineData(TarEntryType.SymbolicLink, "/etc/passwd", "symbolic link")]
    [InlineData(TarEntryType.SymbolicLink, "data_batch_1.bin", "symbolic link")]
    [InlineData(TarEntryType.HardLink, "cifar-10-batches-bin/data_batch_1.bin", "hard link")]
    public async Task Link_entries_are_refused(TarEntryType type, string linkName, string reason)
    {
        var (_, options) = WriteSource(BuildArchive(tar =>
        {
            WriteCifarTree(tar);
            tar.WriteEntry(new PaxTarEntry(type, "cifar-10-batches-bin/link") { LinkName = linkName });
        }));

        var act = () => new Cifar10Downloader().EnsureAsync(Root, options);

        var error = (await act.Should().ThrowAsync<UnsafeArchiveEntryException>()).Which;
        error.EntryName.Should().Be("cifar-10-batches-bin/link");
        error.Message.Should().Contain(reason).And.Contain(linkName);
        RootShouldHoldOnly();
    }

    [Fact]
    public async Task An_archive_without_test_batch_throws_a_DownloadException_naming_it()
    {
        var (_, options) = WriteSource(BuildArchive(tar =>
        {
            foreach (var name in ExpectedFiles.Where(name => name != "test_batch.bin"))
            {
                AddFile(tar, "cifar-10-batches-bin/" + name, "content of " + name);
            }
        }));

        var act = () => new Cifar10Downloader().EnsureAsync(Root, options);

        var error = (await act.Should().ThrowAsync<DownloadException>()).Which;
        error.Should().BeOfType<DownloadException>();
        error.Message.Should().Contain("cifar-10-batches-bin/test_batch.bin").And.NotContain("data_batch_1.bin");
        RootShouldHoldOnly();
    }

    [Fact]
    public async Task An_archive_without_the_top_folder_throws_a_DownloadException_naming_it()
    {
        var (_, options) = WriteSource(BuildArchive(tar =>
        {
            foreach (var name in ExpectedFiles)
            {
                AddFile(tar, name, "content of " + name);
            }
        }));

        var act = () => new Cifar10Downloader().EnsureAsync(Root, options);

        (await act.Should().ThrowAsync<DownloadException>()).WithMessage("*lacks cifar-10-batches-bin/*");
        RootShouldHoldOnly();
    }

    // ---- Progress, cancellation, leftovers --------------------------------------------------

    [Fact]
    public async Task Progress_ends_with_the_archive_size()
    {
        // One incompressible megabyte, so the copy takes several reads.
        var archive = BuildArchive(tar =>
        {
            WriteCifarTree(tar);
            AddFile(tar, "cifar-10-batches-bin/readme.html", RandomNumberGenerator.GetBytes(1 << 20));
        });
        var (_, options) = WriteSource(archive);
        var progress = new RecordingProgress();

        await new Cifar10Downloader().EnsureAsync(Root, options, progress);

        progress.Reports.Should().NotBeEmpty();
        progress.Reports[^1].Should().Be(new DownloadProgress(archive.Length, archive.Length));
        progress.Reports[^1].Fraction.Should().Be(1.0);
        progress.Reports.Select(report => report.BytesReceived).Should().BeInAscendingOrder();
    }

    [Fact]
    public async Task Cancellation_during_the_download_throws_and_leaves_no_temporary_files()
    {
        var stalling = new StallingStream(new byte[100_000]);
        var handler = new StubHandler((_, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(stalling) }));
        using var client = new HttpClient(handler);
        using var cancellation = new CancellationTokenSource();
        var options = new Cifar10DownloadOptions { Source = "https://mirror.example/cifar-10-binary.tar.gz" };

        var download = new Cifar10Downloader(client).EnsureAsync(Root, options, cancellationToken: cancellation.Token);
        await stalling.Stalled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Directory.EnumerateFiles(Root, "*.partial").Should().ContainSingle("the download is under way");
        await cancellation.CancelAsync();

        await download.Invoking(task => task).Should().ThrowAsync<OperationCanceledException>();
        RootShouldHoldOnly();
    }

    [Fact]
    public async Task An_already_cancelled_token_throws_before_any_work()
    {
        var (_, options) = WriteSource(BuildArchive(WriteCifarTree));

        var act = () => new Cifar10Downloader().EnsureAsync(Root, options, cancellationToken: new CancellationToken(canceled: true));

        await act.Should().ThrowAsync<OperationCanceledException>();
        Directory.Exists(Target).Should().BeFalse();
    }

    [Fact]
    public async Task A_stale_partial_file_is_never_taken_for_the_archive()
    {
        // A complete, valid archive left as a .partial by an earlier run: still not used.
        var archive = BuildArchive(WriteCifarTree);
        Directory.CreateDirectory(Root);
        var stale = Path.Combine(Root, "cifar-10-binary.tar.gz.0123456789ab.partial");
        File.WriteAllBytes(stale, archive);
        var options = OptionsFor(archive, Path.Combine(_dir, "unreachable.tar.gz"));

        var act = () => new Cifar10Downloader().EnsureAsync(Root, options);

        await act.Should().ThrowAsync<DownloadException>();
        File.Exists(stale).Should().BeFalse();
        RootShouldHoldOnly();
    }

    [Fact]
    public async Task Stale_leftovers_are_removed_and_a_fresh_download_is_used()
    {
        Directory.CreateDirectory(Root);
        File.WriteAllText(Path.Combine(Root, "cifar-10-binary.tar.gz.0123456789ab.partial"), "truncated");
        Directory.CreateDirectory(Path.Combine(Root, ".cifar-10-extract-0123456789ab", "cifar-10-batches-bin"));
        var (_, options) = WriteSource(BuildArchive(WriteCifarTree));

        var folder = await new Cifar10Downloader().EnsureAsync(Root, options);

        File.ReadAllText(Path.Combine(folder, "test_batch.bin")).Should().Be("content of test_batch.bin");
        RootShouldHoldOnly(Cifar10Downloader.FolderName);
    }

    [Fact]
    public async Task A_partial_file_held_open_by_another_run_is_left_alone()
    {
        Directory.CreateDirectory(Root);
        var busy = Path.Combine(Root, "cifar-10-binary.tar.gz.aaaaaaaaaaaa.partial");
        var busyExtract = Path.Combine(Root, ".cifar-10-extract-aaaaaaaaaaaa");
        Directory.CreateDirectory(busyExtract);
        var (_, options) = WriteSource(BuildArchive(WriteCifarTree));

        using (new FileStream(busy, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None))
        {
            await new Cifar10Downloader().EnsureAsync(Root, options);
        }

        File.Exists(busy).Should().BeTrue();
        Directory.Exists(busyExtract).Should().BeTrue();
        Directory.Exists(Target).Should().BeTrue();
    }

    // ---- Logging ----------------------------------------------------------------------------

    [Fact]
    public async Task The_steps_are_logged()
    {
        var (_, options) = WriteSource(BuildArchive(WriteCifarTree));
        var logger = new RecordingLogger();

        await new Cifar10Downloader(logger: logger).EnsureAsync(Root, options);

        logger.Entries.Select(entry => entry.EventId).Should().ContainInOrder(1, 2, 3, 4);
        logger.Entries.Should().Contain(entry => entry.Message.Contains(options.ExpectedMd5!, StringComparison.Ordinal));
        logger.Entries.Should().Contain(entry => entry.Message.Contains(Path.GetFullPath(Target), StringComparison.Ordinal));
    }

    // ---- Options ----------------------------------------------------------------------------

    [Fact]
    public void Defaults_are_the_official_archive_and_pass_validation()
    {
        var options = new Cifar10DownloadOptions();

        options.Source.Should().Be("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz");
        options.ExpectedSize.Should().Be(170_052_171);
        options.ExpectedMd5.Should().Be("c32a1d4ab5d03f1284b67883e8d87530");
        options.Timeout.Should().Be(TimeSpan.FromMinutes(30));
        options.Invoking(o => o.Validate()).Should().NotThrow();
    }

    public static TheoryData<Action<Cifar10DownloadOptions>, string> InvalidOptions() => new()
    {
        { o => o.Source = "", nameof(Cifar10DownloadOptions.Source) },
        { o => o.Source = "   ", nameof(Cifar10DownloadOptions.Source) },
        { o => o.Source = "ftp://mirror.example/cifar-10-binary.tar.gz", nameof(Cifar10DownloadOptions.Source) },
        { o => o.ExpectedSize = -1, nameof(Cifar10DownloadOptions.ExpectedSize) },
        { o => o.ExpectedMd5 = "", nameof(Cifar10DownloadOptions.ExpectedMd5) },
        { o => o.ExpectedMd5 = "c32a1d4ab5d03f1284b67883e8d8753", nameof(Cifar10DownloadOptions.ExpectedMd5) },
        { o => o.ExpectedMd5 = "c32a1d4ab5d03f1284b67883e8d875300", nameof(Cifar10DownloadOptions.ExpectedMd5) },
        { o => o.ExpectedMd5 = "g32a1d4ab5d03f1284b67883e8d87530", nameof(Cifar10DownloadOptions.ExpectedMd5) },
        { o => o.Timeout = TimeSpan.Zero, nameof(Cifar10DownloadOptions.Timeout) },
        { o => o.Timeout = TimeSpan.FromSeconds(-5), nameof(Cifar10DownloadOptions.Timeout) },
        { o => o.Timeout = TimeSpan.FromDays(30), nameof(Cifar10DownloadOptions.Timeout) },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public async Task Invalid_options_are_rejected_naming_the_property(Action<Cifar10DownloadOptions> spoil, string property)
    {
        var options = new Cifar10DownloadOptions();
        spoil(options);

        options.Invoking(o => o.Validate()).Should().Throw<ArgumentException>().Which.ParamName.Should().Be(property);
        var act = () => new Cifar10Downloader().EnsureAsync(Root, options);
        (await act.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be(property);
        Directory.Exists(Root).Should().BeFalse("invalid options are rejected before any I/O");
    }

    [Fact]
    public void Unchecked_and_infinite_settings_are_valid()
    {
        var options = new Cifar10DownloadOptions
        {
            Source = "relative/cifar-10-binary.tar.gz",
            ExpectedSize = null,
            ExpectedMd5 = null,
            Timeout = Timeout.InfiniteTimeSpan,
        };

        options.Invoking(o => o.Validate()).Should().NotThrow();
    }

    // ---- Helpers ----------------------------------------------------------------------------

    private static void WriteCifarTree(TarWriter tar)
    {
        tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "cifar-10-batches-bin/"));
        foreach (var name in ExpectedFiles)
        {
            AddFile(tar, "cifar-10-batches-bin/" + name, "content of " + name);
        }

        AddFile(tar, "cifar-10-batches-bin/readme.html", "<html></html>");
    }

    private static void AddFile(TarWriter tar, string name, string content) =>
        AddFile(tar, name, System.Text.Encoding.UTF8.GetBytes(content));

    private static void AddFile(TarWriter tar, string name, byte[] content) =>
        tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content) });

    private static byte[] BuildArchive(Action<TarWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
        {
            write(tar);
        }

        return buffer.ToArray();
    }

#pragma warning disable CA5351 // MD5 is the checksum CIFAR-10 publishes; the downloader checks it.
    private static Cifar10DownloadOptions OptionsFor(byte[] archive, string source) => new()
    {
        Source = source,
        ExpectedSize = archive.Length,
        ExpectedMd5 = Convert.ToHexString(MD5.HashData(archive)).ToLowerInvariant(),
    };
#pragma warning restore CA5351

    /// <summary>Writes the archive outside the root and returns options that check its size and MD5.</summary>
    private (string Path, Cifar10DownloadOptions Options) WriteSource(byte[] archive)
    {
        var path = Path.Combine(_dir, "source", "cifar-10-binary.tar.gz");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, archive);
        return (path, OptionsFor(archive, path));
    }

    /// <summary>The root holds exactly these entries: no temporary file or folder, nothing extracted elsewhere.</summary>
    private void RootShouldHoldOnly(params string[] names)
    {
        var entries = Directory.Exists(Root)
            ? Directory.EnumerateFileSystemEntries(Root).Select(path => Path.GetFileName(path)!).ToArray()
            : [];
        entries.Should().BeEquivalentTo(names);
    }

    private sealed class StubHandler(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> send) : HttpMessageHandler
    {
        public List<Uri?> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add(request.RequestUri);
            return send(request, cancellationToken);
        }
    }

    /// <summary>Serves its prefix, then waits until the read is cancelled.</summary>
    private sealed class StallingStream(byte[] prefix) : ReadOnlyStream
    {
        private int _position;

        public TaskCompletionSource Stalled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position < prefix.Length)
            {
                var count = Math.Min(buffer.Length, prefix.Length - _position);
                prefix.AsMemory(_position, count).CopyTo(buffer);
                _position += count;
                return count;
            }

            Stalled.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Records reports synchronously (<see cref="Progress{T}"/> posts them later, on the thread pool).</summary>
    private sealed class RecordingProgress : IProgress<DownloadProgress>
    {
        public List<DownloadProgress> Reports { get; } = [];

        public void Report(DownloadProgress value) => Reports.Add(value);
    }

    private sealed class RecordingLogger : ILogger<Cifar10Downloader>
    {
        public List<(int EventId, LogLevel Level, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((eventId.Id, logLevel, formatter(state, exception)));
    }
}
