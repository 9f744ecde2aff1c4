using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Distillation.Devices;

/// <summary>
/// Keeps glibc's malloc from handing freed training buffers back to the kernel. A CNN step on the
/// CPU allocates activations of tens of megabytes; with glibc's defaults each is mmap'ed and
/// unmapped every step, so every step page-faults and zeroes them afresh. Raising the mmap and
/// trim thresholds lets freed buffers be reused: teacher training went from about 60 to about 400
/// images/s on 2 cores here. Both thresholds are needed; either alone changes nothing.
/// </summary>
internal static partial class CpuAllocatorTuning
{
    // glibc's mallopt parameters (malloc.h).
    private const int TrimThreshold = -1;
    private const int MmapThreshold = -3;

    /// <summary>The threshold set for both: allocations up to 1 GiB come from the heap, and up to 1 GiB of free heap is kept.</summary>
    internal const int ThresholdBytes = 1 << 30;

    private static readonly object Gate = new();
    private static bool? applied;

    /// <summary>Applies the tuning once per process on Linux with glibc; elsewhere does nothing.</summary>
    /// <returns>Whether the tuning is in effect.</returns>
    public static bool Apply(ILogger logger)
    {
        lock (Gate)
        {
            if (applied is { } done)
            {
                return done;
            }

            applied = OperatingSystem.IsLinux() && TrySet(logger);
            return applied.Value;
        }
    }

    private static bool TrySet(ILogger logger)
    {
        try
        {
            var ok = mallopt(MmapThreshold, ThresholdBytes) == 1 && mallopt(TrimThreshold, ThresholdBytes) == 1;
            if (ok)
            {
                LogApplied(logger, ThresholdBytes);
            }
            else
            {
                LogRefused(logger);
            }

            return ok;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            // Not glibc (musl has no mallopt): nothing to tune.
            LogUnavailable(logger, e.Message);
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int param, int value);

    [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "CPU allocator: glibc mmap and trim thresholds raised to {Bytes} bytes so freed training buffers are reused")]
    private static partial void LogApplied(ILogger logger, int bytes);

    [LoggerMessage(EventId = 13, Level = LogLevel.Warning, Message = "CPU allocator: glibc refused the raised mmap/trim thresholds; CPU training may run several times slower")]
    private static partial void LogRefused(ILogger logger);

    [LoggerMessage(EventId = 14, Level = LogLevel.Debug, Message = "CPU allocator: mallopt is not available ({Reason}); left as it is")]
    private static partial void LogUnavailable(ILogger logger, string reason);
}
