using System.Globalization;

namespace Distillation.Diagnostics;

/// <summary>
/// The process's resident memory, as Linux reports it in <c>/proc/self/status</c>: to log it
/// across epochs and see whether a long run grows.
/// </summary>
/// <param name="ResidentMiB">VmRSS: the resident set now, in MiB.</param>
/// <param name="PeakResidentMiB">VmHWM: the largest resident set so far, in MiB.</param>
internal sealed record ProcessMemory(double ResidentMiB, double PeakResidentMiB)
{
    private const string StatusFile = "/proc/self/status";

    /// <summary>Reads the current figures.</summary>
    /// <returns>The figures, or null where there is no <c>/proc</c> (not Linux).</returns>
    public static ProcessMemory? Read()
    {
        if (!File.Exists(StatusFile))
        {
            return null;
        }

        double? resident = null, peak = null;
        foreach (var line in File.ReadLines(StatusFile))
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

        return resident is { } r && peak is { } p ? new ProcessMemory(r, p) : null;
    }

    // "VmRSS:	  123456 kB"
    private static double MiB(string line) =>
        double.Parse(line.Split(':')[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
}
