namespace Distillation.Devices;

/// <summary>Why TorchSharp could not load its native library.</summary>
internal enum NativeLoadFailureCause
{
    /// <summary>The cause could not be told from the failure; the original message is kept.</summary>
    Unknown,

    /// <summary>No native backend package (<c>TorchSharp-cpu</c> or a CUDA one) is referenced by the application.</summary>
    MissingBackendPackage,

    /// <summary>The system's libstdc++ is older than GCC 13.2 and lacks the <c>GLIBCXX_3.4.32</c> symbol version.</summary>
    LibStdCxxTooOld,
}
