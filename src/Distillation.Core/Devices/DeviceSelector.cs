using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;

namespace Distillation.Devices;

/// <summary>What accelerators this process can use; replaceable in tests.</summary>
internal interface IAcceleratorProbe
{
    /// <summary>The number of usable CUDA devices (0 when CUDA is not available).</summary>
    int CudaDeviceCount { get; }

    /// <summary>Whether Apple's MPS backend is available.</summary>
    bool MpsAvailable { get; }
}

/// <summary>Resolves <see cref="DeviceOptions"/> to a TorchSharp device and applies the thread count.</summary>
internal static partial class DeviceSelector
{
    /// <summary>Asks TorchSharp what this process can use.</summary>
    internal static IAcceleratorProbe TorchProbe { get; } = new TorchAcceleratorProbe();

    /// <summary>
    /// <see cref="DeviceOptions.Resolve"/>, with what accelerators exist given by <paramref name="probe"/>
    /// (tests stand in for CUDA and MPS; null asks TorchSharp).
    /// </summary>
    internal static torch.Device Resolve(DeviceOptions? options, ILogger? logger, IAcceleratorProbe? probe)
    {
        options ??= new DeviceOptions();
        options.Validate();
        logger ??= NullLogger.Instance;
        TorchRuntime.EnsureAvailable();
        probe ??= TorchProbe;

        if (options.Threads is { } threads)
        {
            torch.set_num_threads(threads);
        }

        var device = Choose(options, probe, logger);
        if (device.type == DeviceType.CPU && options.TuneCpuAllocator)
        {
            CpuAllocatorTuning.Apply(logger);
        }

        LogDeviceChosen(logger, device, options, torch.get_num_threads());
        return device;
    }

    private static torch.Device Choose(DeviceOptions options, IAcceleratorProbe probe, ILogger logger)
    {
        switch (options.Kind)
        {
            case DeviceKind.Cpu:
                return torch.CPU;

            case DeviceKind.Auto:
                if (probe.CudaDeviceCount > 0)
                {
                    return new torch.Device(DeviceType.CUDA, 0);
                }

                return probe.MpsAvailable ? new torch.Device(DeviceType.MPS) : torch.CPU;

            case DeviceKind.Cuda:
                var count = probe.CudaDeviceCount;
                if (options.CudaIndex < count)
                {
                    return new torch.Device(DeviceType.CUDA, options.CudaIndex);
                }

                var why = count == 0
                    ? "CUDA is not available: no CUDA device, or the application references TorchSharp-cpu instead of a CUDA backend (TorchSharp-cuda-linux / TorchSharp-cuda-windows)."
                    : $"this machine has {count} CUDA device(s), numbered 0 to {count - 1}.";
                return Fallback(options, logger, $"cuda:{options.CudaIndex} was requested, but {why}");

            case DeviceKind.Mps:
                return probe.MpsAvailable
                    ? new torch.Device(DeviceType.MPS)
                    : Fallback(options, logger, "mps was requested, but MPS is not available (it needs Apple silicon with macOS 12.3 or later and an MPS-enabled libtorch).");

            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "Unknown device kind.");
        }
    }

    private static torch.Device Fallback(DeviceOptions options, ILogger logger, string reason)
    {
        if (!options.AllowCpuFallback)
        {
            throw new DeviceNotAvailableException(options.ToString(), reason + " Use the CPU, or allow CPU fallback.");
        }

        LogFallback(logger, reason);
        return torch.CPU;
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Device {Device} (requested {Requested}), {Threads} CPU threads")]
    private static partial void LogDeviceChosen(ILogger logger, torch.Device device, DeviceOptions requested, int threads);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "{Reason} Falling back to the CPU.")]
    private static partial void LogFallback(ILogger logger, string reason);

    private sealed class TorchAcceleratorProbe : IAcceleratorProbe
    {
        public int CudaDeviceCount => torch.cuda.is_available() ? torch.cuda.device_count() : 0;

        public bool MpsAvailable => torch.mps_is_available();
    }
}
