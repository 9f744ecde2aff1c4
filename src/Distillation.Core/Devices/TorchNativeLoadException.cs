namespace Distillation.Devices;

/// <summary>
/// A <see cref="DllNotFoundException"/> (the type callers catch), thrown by the first Distillation call that needs TorchSharp when TorchSharp's native library
/// cannot be loaded. The message names the cause and the fix; the original TorchSharp exception,
/// with its full load trace, is the <see cref="Exception.InnerException"/>.
/// </summary>
internal sealed class TorchNativeLoadException : DllNotFoundException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="cause">The diagnosed cause.</param>
    /// <param name="message">What failed and how to fix it.</param>
    /// <param name="innerException">TorchSharp's own exception.</param>
    internal TorchNativeLoadException(NativeLoadFailureCause cause, string message, Exception? innerException)
        : base(message, innerException)
    {
        Cause = cause;
    }

    /// <summary>The diagnosed cause of the failure.</summary>
    internal NativeLoadFailureCause Cause { get; }
}
