namespace Distillation.Devices;

/// <summary>
/// Evidence gathered about a native-load failure: TorchSharp's message, the dynamic loader's own
/// error (TorchSharp does not show it) and whether the process's libstdc++ exports the symbol
/// version libtorch 2.10 needs.
/// </summary>
/// <param name="TorchSharpMessage">The message of TorchSharp's exception (the innermost one).</param>
/// <param name="LoaderError">The dynamic loader's error from loading LibTorchSharp directly, if one was obtained.</param>
/// <param name="LibStdCxxHasRequiredSymbol">
/// Whether the libstdc++ mapped into this process exports <c>GLIBCXX_3.4.32</c>; null where unknown (not Linux, or not mapped).
/// </param>
/// <param name="LibStdCxxPath">The path of that libstdc++, if known.</param>
internal sealed record NativeLoadEvidence(
    string TorchSharpMessage,
    string? LoaderError,
    bool? LibStdCxxHasRequiredSymbol,
    string? LibStdCxxPath);

/// <summary>A diagnosis: the cause and a message that says how to fix it.</summary>
/// <param name="Cause">The cause.</param>
/// <param name="Message">The message for the user.</param>
internal sealed record NativeLoadDiagnosis(NativeLoadFailureCause Cause, string Message);

/// <summary>Turns TorchSharp's long native-load trace into one cause and one fix.</summary>
internal static class NativeLoadDiagnostics
{
    /// <summary>The libstdc++ symbol version that libtorch 2.10 (TorchSharp 0.107.0) requires.</summary>
    public const string RequiredLibStdCxxSymbol = "GLIBCXX_3.4.32";

    internal const string BackendFix =
        "Add a native backend package to the application (not to a library): " +
        "'dotnet add package TorchSharp-cpu' for the CPU, or TorchSharp-cuda-linux / TorchSharp-cuda-windows for CUDA, " +
        "at the same version as TorchSharp.";

    internal const string LibStdCxxFix =
        "libtorch 2.10 needs libstdc++ from GCC 13.2 or later (symbol version " + RequiredLibStdCxxSymbol + "). " +
        "Ubuntu 24.04+, Debian 13+ and Fedora 39+ have it; on Debian 12 run 'bash eng/install-native-deps.sh' " +
        "as root from the Distillation repository (its build does that for you as root), which installs libstdc++6 from Debian 13.";

    /// <summary>Diagnoses a native-load failure from the evidence.</summary>
    /// <param name="evidence">What was observed.</param>
    /// <returns>The cause and a message naming it and the fix.</returns>
    public static NativeLoadDiagnosis Diagnose(NativeLoadEvidence evidence)
    {
        ArgumentNullException.ThrowIfNull(evidence);

        // The loader's error is the most direct evidence; TorchSharp's own message blames a missing
        // package even when the package is there and libstdc++ is what failed.
        var loaderMentionsSymbol = evidence.LoaderError is { } loader
            && loader.Contains("GLIBCXX_", StringComparison.Ordinal)
            && loader.Contains("not found", StringComparison.OrdinalIgnoreCase);
        var torchMentionsSymbol = evidence.TorchSharpMessage.Contains("GLIBCXX_", StringComparison.Ordinal);

        if (loaderMentionsSymbol || torchMentionsSymbol || evidence.LibStdCxxHasRequiredSymbol == false)
        {
            var where = evidence.LibStdCxxPath is { } path ? $" The process loaded {path}." : "";
            var detail = FirstLineContaining(evidence.LoaderError, "GLIBCXX_") ?? FirstLineContaining(evidence.TorchSharpMessage, "GLIBCXX_");
            var quoted = detail is null ? "" : $" Loader: {detail.Trim()}";
            return new NativeLoadDiagnosis(
                NativeLoadFailureCause.LibStdCxxTooOld,
                "TorchSharp's native library could not be loaded because this system's libstdc++ is too old." +
                where + " " + LibStdCxxFix + quoted);
        }

        if (IsMissingBackend(evidence.TorchSharpMessage))
        {
            return new NativeLoadDiagnosis(
                NativeLoadFailureCause.MissingBackendPackage,
                "TorchSharp's native library (libtorch) was not found: the application references TorchSharp " +
                "without a native backend package. " + BackendFix);
        }

        var firstLine = evidence.TorchSharpMessage.Split('\n', 2)[0].Trim();
        var loaderLine = evidence.LoaderError is null ? "" : " Loader: " + evidence.LoaderError.Split('\n', 2)[0].Trim();
        return new NativeLoadDiagnosis(
            NativeLoadFailureCause.Unknown,
            "TorchSharp's native library could not be loaded: " + firstLine + loaderLine +
            " Check that the application references TorchSharp-cpu (or a CUDA backend) at TorchSharp's version. " +
            "The inner exception holds TorchSharp's full trace.");
    }

    private static bool IsMissingBackend(string message) =>
        message.Contains("is not restored on this system", StringComparison.Ordinal)
        || message.Contains("doesn't contain a reference to libtorch", StringComparison.Ordinal)
        || message.Contains("TorchSharp-cpu", StringComparison.Ordinal);

    private static string? FirstLineContaining(string? text, string needle) =>
        text?.Split('\n').FirstOrDefault(line => line.Contains(needle, StringComparison.Ordinal));
}
