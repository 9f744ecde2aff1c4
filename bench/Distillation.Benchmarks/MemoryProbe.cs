using Distillation.Diagnostics;
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
        var memory = ProcessMemory.Read();
        return new MemorySample(after, memory?.PeakResidentMiB ?? double.NaN, memory?.ResidentMiB ?? double.NaN, Tensor.TotalCount);
    }
}
