using System.Runtime.InteropServices;
using TorchSharp;

namespace Distillation.Devices;

/// <summary>
/// The one gate every Distillation entry point that touches torch passes first: it loads
/// TorchSharp's native library once and turns a failure into a <see cref="TorchNativeLoadException"/>
/// that names the cause and the fix.
/// </summary>
internal static class TorchRuntime
{
    private static readonly Lazy<NativeLoadFailure?> LoadOutcome = new(TryLoad, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Loads TorchSharp's native library if it is not loaded yet.</summary>
    /// <exception cref="DllNotFoundException">The native library cannot be loaded.</exception>
    public static void EnsureAvailable()
    {
        if (LoadOutcome.Value is { } failure)
        {
            // A fresh exception per call, so each caller gets its own stack trace.
            throw new TorchNativeLoadException(failure.Diagnosis.Cause, failure.Diagnosis.Message, failure.Original);
        }
    }

    /// <summary>
    /// Calls <see cref="EnsureAvailable"/> and returns <paramref name="value"/>; for use in a
    /// constructor's base-call arguments, before a TorchSharp base constructor runs.
    /// </summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="value">Any value, returned unchanged.</param>
    /// <returns><paramref name="value"/>.</returns>
    public static T EnsureAvailable<T>(T value)
    {
        EnsureAvailable();
        return value;
    }

    private sealed record NativeLoadFailure(NativeLoadDiagnosis Diagnosis, Exception Original);

    private static NativeLoadFailure? TryLoad()
    {
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
            return null;
        }
        catch (Exception e) when (e is TypeInitializationException or NotSupportedException or DllNotFoundException or BadImageFormatException)
        {
            var innermost = e;
            while (innermost.InnerException is not null)
            {
                innermost = innermost.InnerException;
            }

            var (libStdCxxPath, hasSymbol) = InspectLoadedLibStdCxx();
            var evidence = new NativeLoadEvidence(innermost.Message, LoaderErrorForLibTorchSharp(), hasSymbol, libStdCxxPath);
            return new NativeLoadFailure(NativeLoadDiagnostics.Diagnose(evidence), e);
        }
    }

    /// <summary>
    /// Loads LibTorchSharp the way the runtime would, to get the dynamic loader's message, which
    /// names a missing symbol version where TorchSharp only reports "failed to load".
    /// </summary>
    private static string? LoaderErrorForLibTorchSharp()
    {
        try
        {
            NativeLibrary.Free(NativeLibrary.Load("LibTorchSharp", typeof(torch).Assembly, DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories));
            return null;
        }
        catch (DllNotFoundException e)
        {
            return e.Message;
        }
        catch (BadImageFormatException e)
        {
            return e.Message;
        }
    }

    /// <summary>The libstdc++ mapped into this process (the .NET host loads it), and whether it has the symbol.</summary>
    private static (string? Path, bool? HasSymbol) InspectLoadedLibStdCxx()
    {
        if (!OperatingSystem.IsLinux())
        {
            return (null, null);
        }

        try
        {
            var path = File.ReadLines("/proc/self/maps")
                .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(fields => fields.Length >= 6 && fields[^1].Contains("libstdc++.so", StringComparison.Ordinal))
                .Select(fields => fields[^1])
                .FirstOrDefault();
            return path is null ? (null, null) : (path, FileContainsAscii(path, NativeLoadDiagnostics.RequiredLibStdCxxSymbol));
        }
        catch (IOException)
        {
            return (null, null);
        }
        catch (UnauthorizedAccessException)
        {
            return (null, null);
        }
    }

    internal static bool FileContainsAscii(string path, string text)
    {
        var needle = System.Text.Encoding.ASCII.GetBytes(text);
        return File.ReadAllBytes(path).AsSpan().IndexOf(needle) >= 0;
    }

}
