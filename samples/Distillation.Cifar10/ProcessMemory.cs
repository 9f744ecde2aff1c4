using System.Globalization;

namespace Distillation.Cifar10;

/// <summary>The process's resident memory from /proc/self/status (Linux); null elsewhere.</summary>
internal static class ProcessMemory
{
    /// <summary>VmRSS and VmHWM (the peak so far) in MiB, or null without /proc.</summary>
    public static (double ResidentMiB, double PeakMiB)? Read()
    {
        const string path = "/proc/self/status";
        if (!File.Exists(path))
        {
            return null;
        }

        double? resident = null, peak = null;
        foreach (var line in File.ReadLines(path))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                resident = MiB(line);
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = MiB(line);
            }
        }

        return resident is { } r && peak is { } p ? (r, p) : null;
    }

    private static double MiB(string line) =>
        double.Parse(line.Split(':')[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
}
