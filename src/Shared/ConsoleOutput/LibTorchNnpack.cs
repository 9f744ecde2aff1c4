using System.Runtime.InteropServices;

namespace Distillation.ConsoleOutput;

/// <summary>
/// libtorch's NNPACK switch (PyTorch's <c>torch.backends.nnpack.set_flags(False)</c>), which
/// TorchSharp does not expose. On CPUs where NNPACK cannot start, libtorch prints
/// "[W … NNPACK.cpp:…] Could not initialize NNPACK! Reason: Unsupported hardware." to standard error
/// each time a convolution asks whether NNPACK is there. Turned off, the question is never asked:
/// the convolutions run on oneDNN or ATen's own kernels, and no other message is hidden.
/// </summary>
internal static class LibTorchNnpack
{
    // at::globalContext() and at::Context's NNPACK flag, by their Itanium C++ names (Linux and macOS builds
    // of libtorch); a member function takes the Context as its first argument.
    private const string GlobalContext = "_ZN2at13globalContextEv";
    private const string SetEnabled = "_ZN2at7Context20setUserEnabledNNPACKEb";
    private const string GetEnabled = "_ZNK2at7Context17userEnabledNNPACKEv";

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr ContextFunction();

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void SetFlagFunction(IntPtr context, byte enabled);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate byte GetFlagFunction(IntPtr context);

    /// <summary>
    /// Turns NNPACK off before the first convolution, loading libtorch through TorchSharp if it is not
    /// yet loaded. Returns false, changing nothing, where libtorch cannot be loaded (the run then
    /// reports that itself) or does not export the switch (Windows builds).
    /// </summary>
    public static bool TryDisable() => TrySet(enabled: false);

    /// <summary>libtorch's NNPACK flag; null where it cannot be read.</summary>
    public static bool? IsEnabled()
    {
        if (!TryFind(GetEnabled, out var context, out var address))
        {
            return null;
        }

        return Marshal.GetDelegateForFunctionPointer<GetFlagFunction>(address)(context) != 0;
    }

    /// <summary>Sets libtorch's NNPACK flag; false where the switch cannot be reached.</summary>
    internal static bool TrySet(bool enabled)
    {
        if (!TryFind(SetEnabled, out var context, out var address))
        {
            return false;
        }

        Marshal.GetDelegateForFunctionPointer<SetFlagFunction>(address)(context, enabled ? (byte)1 : (byte)0);
        return true;
    }

    private static bool TryFind(string symbol, out IntPtr context, out IntPtr address)
    {
        context = IntPtr.Zero;
        address = IntPtr.Zero;

        // TorchSharp loads libtorch_cpu from the application's native assets; asked by name afterwards,
        // the loader returns that same library.
        if (OperatingSystem.IsWindows() || !TorchSharp.torch.TryInitializeDeviceType(TorchSharp.DeviceType.CPU))
        {
            return false;
        }

        var name = OperatingSystem.IsMacOS() ? "libtorch_cpu.dylib" : "libtorch_cpu.so";
        if (!NativeLibrary.TryLoad(name, out var library)
            || !NativeLibrary.TryGetExport(library, GlobalContext, out var globalContext)
            || !NativeLibrary.TryGetExport(library, symbol, out address))
        {
            return false;
        }

        context = Marshal.GetDelegateForFunctionPointer<ContextFunction>(globalContext)();
        return context != IntPtr.Zero;
    }
}
