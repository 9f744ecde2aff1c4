namespace Distillation.Devices;

/// <summary>
/// Thrown by the first Distillation call that needs TorchSharp when TorchSharp's native library
/// cannot be loaded. The message names the cause and the fix; the original TorchSharp exception,
/// with its full load trace, is the <see cref="Exception.InnerException"/>.
/// </summary>
public sealed class TorchNativeLoadException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="cause">The diagnosed cause.</param>
    /// <param name="message">What failed and how to fix it.</param>
    /// <param name="innerException">TorchSharp's own exception.</param>
    public TorchNativeLoadException(NativeLoadFailureCause cause, string message, Exception? innerException)
        : base(message, innerException)
    {
        Cause = cause;
    }

    /// <summary>The diagnosed cause of the failure.</summary>
    public NativeLoadFailureCause Cause { get; }
}
