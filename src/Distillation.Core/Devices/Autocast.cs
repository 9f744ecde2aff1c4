using System.Runtime.InteropServices;
using TorchSharp;

namespace Distillation.Devices;

/// <summary>
/// libtorch's own automatic mixed precision (the engine behind PyTorch's <c>torch.autocast</c>),
/// which TorchSharp does not expose: inside a region, the dispatcher runs the operations on
/// autocast's lower-precision list (convolutions, linear layers, matrix products) in the region's
/// dtype, casting their inputs and weights, and those on its float32 list (the losses, norms and
/// reductions) in float32; every other operation (BatchNorm among them) runs in the dtype it is
/// given. The casts are recorded by autograd, so float32 weights receive float32 gradients.
/// </summary>
/// <remarks>
/// The switches are libtorch's exported C++ functions, called by their Itanium-mangled names
/// (Linux and macOS); on a platform where they cannot be found, <see cref="Availability"/> says so.
/// Autocast's state is thread-local: a region covers the calls made on the thread that entered it.
/// </remarks>
internal static class Autocast
{
    private const string Library = "libtorch_cpu";

    private static readonly Lazy<string?> Problem = new(FindProblem);

    /// <summary>Null when autocast can be switched on in this process; otherwise why not, in one sentence.</summary>
    public static string? Availability => Problem.Value;

    /// <summary>
    /// Switches autocast on for <paramref name="deviceType"/> with <paramref name="dtype"/> until the
    /// returned region is disposed, which restores the previous state and, when the outermost region
    /// ends, clears autocast's cache of cast weights (they are stale after the next optimizer step).
    /// </summary>
    /// <exception cref="NotSupportedException">Autocast cannot be switched on here (<see cref="Availability"/> says why).</exception>
    public static Region Enter(DeviceType deviceType, torch.ScalarType dtype)
    {
        if (Availability is { } problem)
        {
            throw new NotSupportedException(problem);
        }

        return new Region(deviceType, dtype);
    }

    /// <summary>Whether autocast is on for <paramref name="deviceType"/> on this thread.</summary>
    public static bool IsEnabled(DeviceType deviceType) => NativeMethods.IsEnabled((sbyte)deviceType);

    private static string? FindProblem()
    {
        try
        {
            // Any call loads the library and resolves the symbol; this one changes nothing.
            _ = NativeMethods.IsEnabled((sbyte)DeviceType.CPU);
            _ = NativeMethods.GetDtype((sbyte)DeviceType.CPU);
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return $"libtorch's autocast functions could not be found on {RuntimeInformation.OSDescription} ({e.GetType().Name}: {e.Message.Split('\n', 2)[0]}); mixed precision needs TorchSharp's libtorch on Linux or macOS.";
        }
    }

    /// <summary>An autocast region on the current thread; dispose it on the same thread.</summary>
    public readonly struct Region : IDisposable
    {
        private readonly sbyte device;
        private readonly bool wasEnabled;
        private readonly sbyte previousDtype;

        internal Region(DeviceType deviceType, torch.ScalarType dtype)
        {
            device = (sbyte)deviceType;
            wasEnabled = NativeMethods.IsEnabled(device);
            previousDtype = NativeMethods.GetDtype(device);
            NativeMethods.SetDtype(device, (sbyte)dtype);
            NativeMethods.SetEnabled(device, true);
            _ = NativeMethods.IncrementNesting();
        }

        /// <summary>Restores the state before the region; the outermost region also clears the cache of cast weights.</summary>
        public void Dispose()
        {
            NativeMethods.SetEnabled(device, wasEnabled);
            NativeMethods.SetDtype(device, previousDtype);
            if (NativeMethods.DecrementNesting() == 0)
            {
                NativeMethods.ClearCache();
            }
        }
    }

    // c10::DeviceType and c10::ScalarType are enums of int8_t; their values are TorchSharp's.
    private static class NativeMethods
    {
        [DllImport(Library, EntryPoint = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb")]
        public static extern void SetEnabled(sbyte deviceType, [MarshalAs(UnmanagedType.U1)] bool enabled);

        [DllImport(Library, EntryPoint = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE")]
        [return: MarshalAs(UnmanagedType.U1)]
        public static extern bool IsEnabled(sbyte deviceType);

        [DllImport(Library, EntryPoint = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE")]
        public static extern void SetDtype(sbyte deviceType, sbyte dtype);

        [DllImport(Library, EntryPoint = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE")]
        public static extern sbyte GetDtype(sbyte deviceType);

        [DllImport(Library, EntryPoint = "_ZN2at8autocast17increment_nestingEv")]
        public static extern int IncrementNesting();

        [DllImport(Library, EntryPoint = "_ZN2at8autocast17decrement_nestingEv")]
        public static extern int DecrementNesting();

        [DllImport(Library, EntryPoint = "_ZN2at8autocast11clear_cacheEv")]
        public static extern void ClearCache();
    }
}
