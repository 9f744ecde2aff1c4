using System.Diagnostics;
using System.Globalization;

namespace Distillation.Cifar10;

/// <summary>Another run holds the output folder.</summary>
internal sealed class OutputFolderInUseException(string message) : Exception(message);

/// <summary>
/// One run per output folder: a lock file holding the process id and its start time, created
/// exclusively and deleted when the run ends. A lock whose process is gone (or whose id now belongs
/// to a process started later) is stale and taken over; creating it also proves the folder writable
/// before any training.
/// </summary>
internal sealed class OutputLock : IDisposable
{
    /// <summary>The lock file's name in the output folder.</summary>
    public const string FileName = "distill-cifar10.lock";

    private readonly FileStream stream;

    private OutputLock(FileStream stream, string path)
    {
        this.stream = stream;
        Path = path;
    }

    /// <summary>The lock file.</summary>
    public string Path { get; }

    /// <summary>Takes the folder's lock, creating the folder; <paramref name="info"/> hears of a stale lock taken over.</summary>
    /// <exception cref="OutputFolderInUseException">A live process holds it.</exception>
    /// <exception cref="IOException">The folder cannot be created or written.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder is not writable.</exception>
    public static OutputLock Acquire(string folder, Action<string> info)
    {
        Directory.CreateDirectory(folder);
        var path = System.IO.Path.Combine(folder, FileName);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
                try
                {
                    using var self = Process.GetCurrentProcess();
                    var content = string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId} {self.StartTime.ToUniversalTime():O}\n");
                    stream.Write(System.Text.Encoding.UTF8.GetBytes(content));
                    stream.Flush(flushToDisk: true);
                    return new OutputLock(stream, path);
                }
                catch
                {
                    stream.Dispose();
                    File.Delete(path);
                    throw;
                }
            }
            catch (IOException) when (attempt == 0 && File.Exists(path))
            {
                var (holder, started) = Read(path);
                // A lock without a readable id may be one being written this instant: only an old one is stale.
                if (holder is null && File.GetLastWriteTimeUtc(path) > DateTime.UtcNow.AddSeconds(-5))
                {
                    throw new OutputFolderInUseException($"--output {folder} is being taken by another run (lock file {path}); choose another --output, or retry in a few seconds.");
                }

                if (holder is { } pid && IsAlive(pid, started))
                {
                    throw new OutputFolderInUseException(
                        $"--output {folder} is in use by another run (process {pid}{(started is { } s ? string.Create(CultureInfo.InvariantCulture, $", started {s.ToLocalTime():yyyy-MM-dd HH:mm:ss}") : "")}, lock file {path}): " +
                        "wait for it to finish or choose another --output; two runs in one folder would mix their checkpoints.");
                }

                info($"Removed a stale lock of process {holder?.ToString(CultureInfo.InvariantCulture) ?? "?"} (no longer running) from {folder}.");
                File.Delete(path);
            }
        }
    }

    /// <summary>Releases the lock: the file is deleted.</summary>
    public void Dispose()
    {
        stream.Dispose();
        File.Delete(Path);
    }

    private static (int? Pid, DateTime? Started) Read(string path)
    {
        try
        {
            var parts = File.ReadAllText(path).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            int? pid = parts.Length > 0 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : null;
            DateTime? started = parts.Length > 1 && DateTime.TryParse(parts[1], CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var t) ? t.ToUniversalTime() : null;
            return (pid, started);
        }
        catch (IOException)
        {
            return (null, null);
        }
    }

    /// <summary>Whether the process runs and is the one that took the lock (not a later one given the same id).</summary>
    private static bool IsAlive(int pid, DateTime? started)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited && (started is not { } s || Math.Abs((process.StartTime.ToUniversalTime() - s).TotalSeconds) < 2);
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
