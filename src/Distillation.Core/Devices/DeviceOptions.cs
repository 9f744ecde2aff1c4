using System.Globalization;
using Microsoft.Extensions.Logging;
using TorchSharp;

namespace Distillation.Devices;

/// <summary>Which kind of device to train on.</summary>
public enum DeviceKind
{
    /// <summary>CUDA if available, then MPS (Apple silicon), then the CPU.</summary>
    Auto,

    /// <summary>The CPU.</summary>
    Cpu,

    /// <summary>An NVIDIA GPU through CUDA; <see cref="DeviceOptions.CudaIndex"/> picks which.</summary>
    Cuda,

    /// <summary>Apple's Metal Performance Shaders.</summary>
    Mps,
}

/// <summary>Where computation runs and with how many CPU threads.</summary>
public sealed class DeviceOptions
{
    /// <summary>The kind of device. Default: <see cref="DeviceKind.Auto"/>.</summary>
    public DeviceKind Kind { get; set; } = DeviceKind.Auto;

    /// <summary>The CUDA device index when <see cref="Kind"/> is <see cref="DeviceKind.Cuda"/>. Default: 0.</summary>
    public int CudaIndex { get; set; }

    /// <summary>
    /// Whether an explicitly requested CUDA or MPS device that is not available falls back to the
    /// CPU (with a warning) instead of failing. Default: false.
    /// </summary>
    public bool AllowCpuFallback { get; set; }

    /// <summary>
    /// The intra-op thread count of the CPU backend (<c>torch.set_num_threads</c>); null leaves
    /// libtorch's default (one per core). Fix it for reproducible CPU runs. At most
    /// <see cref="Environment.ProcessorCount"/>: more threads than cores contend for them, and a run
    /// with 1,000 threads on 2 cores was reported 20 times slower (issue 29), so it is refused.
    /// </summary>
    public int? Threads { get; set; }

    /// <summary>
    /// Whether to tune glibc's allocator for CPU training when the CPU is chosen (Linux only):
    /// raises malloc's mmap and trim thresholds to 1 GiB so that the large buffers freed after each
    /// step are reused instead of being returned to the kernel and faulted in again. Measured here,
    /// teacher training ran about 6× faster with it. It is process-wide, and freed memory stays with
    /// the process. Default: true.
    /// </summary>
    public bool TuneCpuAllocator { get; set; } = true;

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        if (!Enum.IsDefined(Kind))
        {
            throw OptionChecks.OutOfRange(nameof(Kind), Kind, "one of Auto, Cpu, Cuda, Mps");
        }

        OptionChecks.IntegerIn(CudaIndex, nameof(CudaIndex), 0, int.MaxValue);
        if (Threads is { } threads)
        {
            // More compute threads than cores only contend: libtorch's kernels then run many times slower.
            OptionChecks.IntegerIn(threads, nameof(Threads), 1, Environment.ProcessorCount,
                $"the {Environment.ProcessorCount} cores of this machine: more threads than cores contend and slow every step down");
        }
    }

    /// <summary>
    /// The device these options select, for the model and batches of your own code (the trainer
    /// resolves its own): sets the thread count, tunes the CPU allocator when asked, and logs the choice.
    /// </summary>
    /// <param name="logger">Receives the chosen device; none when null.</param>
    /// <returns>The device to use.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it.</exception>
    /// <exception cref="DeviceNotAvailableException">CUDA or MPS was asked for, is not available, and CPU fallback is off.</exception>
    /// <exception cref="DllNotFoundException">TorchSharp's native library cannot be loaded.</exception>
    public torch.Device Resolve(ILogger? logger = null) => DeviceSelector.Resolve(this, logger, probe: null);

    /// <summary>Parses <c>auto</c>, <c>cpu</c>, <c>cuda</c>, <c>cuda:N</c> or <c>mps</c> (case-insensitive).</summary>
    /// <param name="text">The device text.</param>
    /// <returns>Options with <see cref="Kind"/> and <see cref="CudaIndex"/> set.</returns>
    /// <exception cref="FormatException">The text is none of those.</exception>
    public static DeviceOptions Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var value = text.Trim().ToLowerInvariant();
        switch (value)
        {
            case "auto": return new DeviceOptions { Kind = DeviceKind.Auto };
            case "cpu": return new DeviceOptions { Kind = DeviceKind.Cpu };
            case "cuda": return new DeviceOptions { Kind = DeviceKind.Cuda };
            case "mps": return new DeviceOptions { Kind = DeviceKind.Mps };
        }

        if (value.StartsWith("cuda:", StringComparison.Ordinal)
            && int.TryParse(value.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
        {
            return new DeviceOptions { Kind = DeviceKind.Cuda, CudaIndex = index };
        }

        throw new FormatException($"Unknown device '{text}': use auto, cpu, cuda, cuda:N or mps.");
    }

    /// <inheritdoc />
    public override string ToString() => Kind == DeviceKind.Cuda
        ? string.Create(CultureInfo.InvariantCulture, $"cuda:{CudaIndex}")
        : Kind.ToString().ToLowerInvariant();
}
