namespace Distillation.Devices;

/// <summary>The requested device is not available on this machine and CPU fallback was not allowed.</summary>
public sealed class DeviceNotAvailableException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="requested">The device asked for, e.g. <c>cuda:1</c>.</param>
    /// <param name="message">What is missing and what to do.</param>
    public DeviceNotAvailableException(string requested, string message)
        : base(message)
    {
        Requested = requested;
    }

    /// <summary>The device asked for, e.g. <c>cuda:1</c>.</summary>
    public string Requested { get; }
}
