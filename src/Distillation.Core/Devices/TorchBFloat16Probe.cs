using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Devices;

/// <summary>
/// The real probe: instruction support from the CPU's flags or the CUDA compute capability, and one
/// timed convolution per precision. Each answer is computed once per process and device.
/// </summary>
internal sealed class TorchBFloat16Probe : IBFloat16Probe
{
    /// <summary>The notebook teacher's middle layer (64 to 64 channels, 3x3, on 16x16 maps) at batch 32: about 0.6 GFLOP a run.</summary>
    internal static readonly long[] ProbeInputShape = [32, 64, 16, 16];

    private const int WarmUpRuns = 2;
    private const int TimedRuns = 5;

    private readonly ConcurrentDictionary<string, Lazy<NativeBFloat16Support>> supports = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<ConvolutionTiming>> timings = new(StringComparer.Ordinal);

    private TorchBFloat16Probe()
    {
    }

    /// <summary>The process's probe, whose answers are cached.</summary>
    public static TorchBFloat16Probe Instance { get; } = new();

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int CudaDeviceGetAttribute(out int value, int attribute, int device);

    /// <inheritdoc/>
    public NativeBFloat16Support Support(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return supports.GetOrAdd(device.ToString(), _ => new Lazy<NativeBFloat16Support>(() => Detect(device), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
    }

    /// <inheritdoc/>
    public ConvolutionTiming Time(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return timings.GetOrAdd(device.ToString(), _ => new Lazy<ConvolutionTiming>(() => Measure(device), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
    }

    /// <summary>The support read from the text of <c>/proc/cpuinfo</c>: x86 flags <c>avx512_bf16</c> or <c>amx_bf16</c>, or the Arm feature <c>bf16</c>.</summary>
    internal static NativeBFloat16Support FromCpuInfo(string cpuInfo)
    {
        var lines = cpuInfo.Split('\n');
        var x86 = lines.FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal) && l.Contains(':', StringComparison.Ordinal));
        if (x86 is not null)
        {
            var flags = x86[(x86.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var found = flags.Where(f => f is "avx512_bf16" or "amx_bf16").ToArray();
            return found.Length > 0
                ? new NativeBFloat16Support(true, $"CPU flags {string.Join(" and ", found)}")
                : new NativeBFloat16Support(false, "the CPU has neither avx512_bf16 nor amx_bf16 (/proc/cpuinfo)");
        }

        var arm = lines.FirstOrDefault(l => l.StartsWith("Features", StringComparison.Ordinal) && l.Contains(':', StringComparison.Ordinal));
        if (arm is not null)
        {
            var features = arm[(arm.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return features.Contains("bf16")
                ? new NativeBFloat16Support(true, "CPU feature bf16")
                : new NativeBFloat16Support(false, "the CPU lacks the bf16 feature (/proc/cpuinfo)");
        }

        return new NativeBFloat16Support(null, "no CPU flags in /proc/cpuinfo");
    }

    /// <summary>The support for a CUDA device of compute capability <paramref name="major"/>.<paramref name="minor"/>: bfloat16 tensor cores from 8.0 (Ampere).</summary>
    internal static NativeBFloat16Support FromComputeCapability(int major, int minor) => major >= 8
        ? new NativeBFloat16Support(true, string.Create(CultureInfo.InvariantCulture, $"CUDA compute capability {major}.{minor}"))
        : new NativeBFloat16Support(false, string.Create(CultureInfo.InvariantCulture, $"CUDA compute capability {major}.{minor} is below 8.0"));

    private static NativeBFloat16Support Detect(Device device)
    {
        switch (device.type)
        {
            case DeviceType.CPU:
                if (!OperatingSystem.IsLinux())
                {
                    // .NET 8 exposes no AVX512-BF16 check (System.Runtime.Intrinsics.X86 has no such class), so only the probe can tell.
                    return new NativeBFloat16Support(null, "bfloat16 instructions unknown off Linux");
                }

                try
                {
                    return FromCpuInfo(File.ReadAllText("/proc/cpuinfo"));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return new NativeBFloat16Support(null, $"/proc/cpuinfo unreadable ({e.Message})");
                }

            case DeviceType.CUDA:
                // TorchSharp has no get_device_capability; ask the CUDA runtime the CUDA backend package ships.
                return CudaComputeCapability(device.index < 0 ? 0 : device.index) is var (major, minor)
                    ? FromComputeCapability(major, minor)
                    : new NativeBFloat16Support(null, "CUDA compute capability unknown (no CUDA runtime library found)");

            default:
                return new NativeBFloat16Support(null, $"bfloat16 instructions unknown on {device.type}");
        }
    }

    private static (int Major, int Minor)? CudaComputeCapability(int index)
    {
        const int ComputeCapabilityMajor = 75, ComputeCapabilityMinor = 76;
        string[] names = ["libcudart.so.12", "libcudart.so.11.0", "libcudart.so", "cudart64_12.dll", "cudart64_110.dll"];
        foreach (var name in names)
        {
            if (NativeLibrary.TryLoad(name, typeof(torch).Assembly, DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories, out var handle)
                && NativeLibrary.TryGetExport(handle, "cudaDeviceGetAttribute", out var export))
            {
                var getAttribute = Marshal.GetDelegateForFunctionPointer<CudaDeviceGetAttribute>(export);
                return getAttribute(out var major, ComputeCapabilityMajor, index) == 0 && getAttribute(out var minor, ComputeCapabilityMinor, index) == 0
                    ? (major, minor)
                    : null;
            }
        }

        return null;
    }

    /// <summary>
    /// Times the convolution on one CPU thread in float32 (NCHW, as a float32 teacher runs) and in bfloat16 (channels-last
    /// input, as the bfloat16 teacher runs), alternating, after warm-up runs; the fastest run of each,
    /// because on a shared CPU other work only ever adds time (medians moved by 3x between runs of
    /// this probe on a machine with 5 users, see results/precision/probe-repeats.log). Its random
    /// values come from a private generator, so the global stream training draws from is untouched.
    /// </summary>
    internal static ConvolutionTiming Measure(Device device)
    {
        // On the CPU, one thread: the ratio is a property of the instructions, and with several threads
        // on a shared CPU every run waits for its slowest thread (2 threads gave 0.58x to 0.91x where
        // 1 thread gave 0.17x to 0.26x, results/precision/probe-repeats-min.log). The setting is the
        // process's, so it is put back at once; the probe runs while a run is set up, before it trains.
        var threads = get_num_threads();
        var singleThreaded = device.type == DeviceType.CPU && threads != 1;
        if (singleThreaded)
        {
            set_num_threads(1);
        }

        try
        {
            return MeasureOnThisThreadCount(device);
        }
        finally
        {
            if (singleThreaded)
            {
                set_num_threads(threads);
            }
        }
    }

    private static ConvolutionTiming MeasureOnThisThreadCount(Device device)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var generator = new Generator(0x5EED);
        var input = randn(ProbeInputShape, generator: generator).to(device);
        var weight = (randn([64, 64, 3, 3], generator: generator) * 0.05).to(device);
        var bias = zeros(64).to(device);

        var inputBFloat16 = input.to(ScalarType.BFloat16);
        if (device.type == DeviceType.CPU)
        {
            inputBFloat16 = inputBFloat16.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        }

        var weightBFloat16 = weight.to(ScalarType.BFloat16);
        var biasBFloat16 = bias.to(ScalarType.BFloat16);

        double Run(Tensor x, Tensor w, Tensor b)
        {
            using var inner = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            _ = nn.functional.conv2d(x, w, b, padding: [1, 1]);
            if (device.type == DeviceType.CUDA)
            {
                cuda.synchronize(device);
            }

            return clock.Elapsed.TotalSeconds;
        }

        for (var i = 0; i < WarmUpRuns; i++)
        {
            Run(input, weight, bias);
            Run(inputBFloat16, weightBFloat16, biasBFloat16);
        }

        var float32 = new double[TimedRuns];
        var bfloat16 = new double[TimedRuns];
        for (var i = 0; i < TimedRuns; i++)
        {
            float32[i] = Run(input, weight, bias);
            bfloat16[i] = Run(inputBFloat16, weightBFloat16, biasBFloat16);
        }

        return new ConvolutionTiming(float32.Min(), bfloat16.Min());
    }
}
