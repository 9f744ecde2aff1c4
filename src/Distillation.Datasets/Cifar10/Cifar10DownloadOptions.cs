namespace Distillation.Data;

/// <summary>
/// Where <see cref="Cifar10Downloader"/> gets CIFAR-10's binary archive from and how it checks it.
/// The defaults fetch the official archive and check its published size and MD5.
/// </summary>
public sealed class Cifar10DownloadOptions
{
    /// <summary>The official archive: <c>https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz</c>.</summary>
    public const string DefaultSource = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";

    /// <summary>The size of the official archive in bytes: 170,052,171.</summary>
    public const long DefaultExpectedSize = 170_052_171;

    /// <summary>The MD5 the CIFAR-10 site publishes for the official binary archive.</summary>
    public const string DefaultExpectedMd5 = "c32a1d4ab5d03f1284b67883e8d87530";

    /// <summary>
    /// Where to read the archive: an <c>http://</c> or <c>https://</c> URL, a <c>file://</c> URL, or a
    /// local file path (a mirror, or an archive put there by hand). Defaults to <see cref="DefaultSource"/>.
    /// </summary>
    public string Source { get; set; } = DefaultSource;

    /// <summary>The archive's expected size in bytes; <see langword="null"/> skips the check.</summary>
    public long? ExpectedSize { get; set; } = DefaultExpectedSize;

    /// <summary>
    /// The archive's expected MD5 as 32 hexadecimal digits (either case); <see langword="null"/> skips the check.
    /// </summary>
    public string? ExpectedMd5 { get; set; } = DefaultExpectedMd5;

    /// <summary>
    /// How long reading the whole archive from <see cref="Source"/> may take before the download fails;
    /// <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> for no limit. Defaults to 30 minutes.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Checks the options.</summary>
    /// <exception cref="ArgumentException">
    /// A property is invalid; <see cref="ArgumentException.ParamName"/> names it: an empty
    /// <see cref="Source"/> or one with a scheme other than http, https or file, a negative
    /// <see cref="ExpectedSize"/>, an <see cref="ExpectedMd5"/> that is not 32 hexadecimal digits,
    /// or a <see cref="Timeout"/> that is not positive (and not infinite) or is longer than <see cref="int.MaxValue"/> milliseconds.
    /// </exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Source))
        {
            throw new ArgumentException("The source of the CIFAR-10 archive must not be empty.", nameof(Source));
        }

        if (Source.Contains("://", StringComparison.Ordinal)
            && Uri.TryCreate(Source, UriKind.Absolute, out var uri)
            && uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeFile)
        {
            throw new ArgumentException(
                $"The source '{Source}' has the unsupported scheme '{uri.Scheme}': use an http, https or file URL, or a local path.",
                nameof(Source));
        }

        if (ExpectedSize < 0)
        {
            throw new ArgumentException($"The expected size must not be negative; it is {ExpectedSize}.", nameof(ExpectedSize));
        }

        if (ExpectedMd5 is { } md5 && (md5.Length != 32 || !md5.All(char.IsAsciiHexDigit)))
        {
            throw new ArgumentException(
                $"The expected MD5 must be 32 hexadecimal digits; it is '{md5}'.", nameof(ExpectedMd5));
        }

        if (Timeout != System.Threading.Timeout.InfiniteTimeSpan
            && (Timeout <= TimeSpan.Zero || Timeout.TotalMilliseconds > int.MaxValue))
        {
            throw new ArgumentException(
                $"The timeout must be positive (or Timeout.InfiniteTimeSpan) and at most {int.MaxValue} ms; it is {Timeout}.",
                nameof(Timeout));
        }
    }
}
