using System.Runtime.InteropServices;
using Distillation.Devices;
using TorchSharp;

namespace Distillation.Tests.TestSupport;

/// <summary>Stands in for the hardware: a fixed instruction support and a fixed bfloat16/float32 time ratio, counting the timings asked for.</summary>
internal sealed class FakeBFloat16Probe(bool? support, double factor, bool fails = false) : IBFloat16Probe
{
    public int Timings { get; private set; }

    public NativeBFloat16Support Support(torch.Device device) =>
        new(support, support switch { true => "fake flag avx512_bf16", false => "fake: no bfloat16 flag", null => "fake: unknown" });

    public ConvolutionTiming Time(torch.Device device)
    {
        Timings++;
#pragma warning disable CA2201 // TorchSharp reports native errors as ExternalException; the fake throws what it would.
        return fails ? throw new ExternalException("bfloat16 convolution not implemented\nat native frame") : new ConvolutionTiming(0.010, 0.010 * factor);
#pragma warning restore CA2201
    }
}
