using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Benchmarks;

/// <summary>One reading of the process's memory and of TorchSharp's live tensors.</summary>
/// <param name="After">What had just run.</param>
/// <param name="PeakResidentMiB">VmHWM: the peak resident set so far.</param>
/// <param name="ResidentMiB">VmRSS: the resident set now.</param>
/// <param name="LiveTensors">Tensor handles alive in TorchSharp (created and not disposed).</param>
internal sealed record MemorySample(string After, double PeakResidentMiB, double ResidentMiB, long LiveTensors)
{
    public static MemorySample Take(string after)
    {
        var (peak, resident) = ReadStatus();
        return new MemorySample(after, peak, resident, Tensor.TotalCount);
    }

    /// <summary>VmHWM and VmRSS from /proc/self/status, in MiB (NaN where there is no /proc).</summary>
    private static (double Peak, double Resident) ReadStatus()
    {
        const string path = "/proc/self/status";
        if (!File.Exists(path))
        {
            return (double.NaN, double.NaN);
        }

        double peak = double.NaN, resident = double.NaN;
        foreach (var line in File.ReadLines(path))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = Kilobytes(line) / 1024.0;
            }
            else if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                resident = Kilobytes(line) / 1024.0;
            }
        }

        return (peak, resident);
    }

    private static double Kilobytes(string line) =>
        double.Parse(line.Split(':')[1].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
}
