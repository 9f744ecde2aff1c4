using System.Globalization;
using System.Runtime.InteropServices;
using TorchSharp;

namespace Distillation.Devices;

/// <summary>
/// Whether a device runs bfloat16 faster than float32: its instruction support, confirmed by a
/// short timing probe of one convolution in each precision. Used by <c>TeacherPrecision.Auto</c>,
/// and by an explicit bfloat16 request to warn where it is slow.
/// </summary>
internal sealed class BFloat16Decision
{
    internal BFloat16Decision(bool useBFloat16, bool? nativeSupport, double? factor, string reason)
    {
        UseBFloat16 = useBFloat16;
        NativeSupport = nativeSupport;
        Factor = factor;
        Reason = reason;
    }

    /// <summary>True when the device has bfloat16 instructions (or their absence is unknown) and the probe measured bfloat16 faster by the margin.</summary>
    public bool UseBFloat16 { get; }

    /// <summary>Whether the device has bfloat16 instructions (x86: AVX512-BF16 or AMX-BF16; CUDA: compute capability 8.0 or later); null where unknown.</summary>
    public bool? NativeSupport { get; }

    /// <summary>The probe's bfloat16 time over its float32 time (below 1: bfloat16 is faster); null when the probe did not run.</summary>
    public double? Factor { get; }

    /// <summary>Why, in one line: the evidence for the support and the measured factor.</summary>
    public string Reason { get; }

    /// <inheritdoc/>
    public override string ToString() => Reason;
}

/// <summary>What <see cref="IBFloat16Probe.Support"/> found: whether the device has bfloat16 instructions, and the evidence.</summary>
/// <param name="Present">True or false where known; null where it cannot be told (the timing probe alone decides).</param>
/// <param name="Evidence">Where it was read, for the decision's reason.</param>
internal sealed record NativeBFloat16Support(bool? Present, string Evidence);

/// <summary>The probe's times: one convolution in float32 (NCHW) and in bfloat16 (channels-last), the fastest of a few runs each.</summary>
/// <param name="Float32Seconds">Time of the float32 convolution.</param>
/// <param name="BFloat16Seconds">Time of the bfloat16 convolution.</param>
internal sealed record ConvolutionTiming(double Float32Seconds, double BFloat16Seconds)
{
    /// <summary>bfloat16 time over float32 time.</summary>
    public double Factor => BFloat16Seconds / Float32Seconds;
}

/// <summary>The two measurements a decision needs; tests stand in for the hardware.</summary>
internal interface IBFloat16Probe
{
    /// <summary>Whether <paramref name="device"/> has bfloat16 instructions.</summary>
    NativeBFloat16Support Support(torch.Device device);

    /// <summary>Times one convolution in each precision on <paramref name="device"/>.</summary>
    ConvolutionTiming Time(torch.Device device);
}

/// <summary>
/// Decides whether bfloat16 is fast on a device. The answer is measured, so it may differ between
/// machines (and, near the margin, between runs on a busy one): a run that must reproduce to the bit
/// elsewhere sets its precision explicitly.
/// </summary>
internal static class BFloat16Speed
{
    /// <summary>
    /// bfloat16 is chosen only when its probe time is below this fraction of float32's. The margin
    /// covers what the one-layer probe leaves out (the teacher converts its inputs, outputs and weights
    /// every run) and the noise of five short runs on a shared CPU, so that Auto is not
    /// slower than float32 where the gain is marginal.
    /// </summary>
    public const double FasterBelow = 0.9;

    /// <summary>
    /// The decision for <paramref name="device"/>, measured once per process and device (thread-safe):
    /// the instruction support, then, unless it is known to be absent, a probe of well under a second.
    /// </summary>
    /// <param name="device">The device the model runs on.</param>
    /// <returns>The decision, with the measured factor and the reason.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="device"/> is null.</exception>
    public static BFloat16Decision Decide(torch.Device device) => Decide(device, TorchBFloat16Probe.Instance, measureWithoutSupport: false);

    /// <summary>
    /// The decision from <paramref name="probe"/>. Without instruction support, bfloat16 is never
    /// chosen, and the probe runs only when <paramref name="measureWithoutSupport"/> (to give an
    /// explicit request's warning a factor).
    /// </summary>
    internal static BFloat16Decision Decide(torch.Device device, IBFloat16Probe probe, bool measureWithoutSupport)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(probe);
        var support = probe.Support(device);
        if (support.Present == false && !measureWithoutSupport)
        {
            return new BFloat16Decision(false, false, null, $"float32: {support.Evidence} (not timed)");
        }

        ConvolutionTiming timing;
        try
        {
            timing = probe.Time(device);
        }
        catch (Exception e) when (e is ExternalException or NotSupportedException or InvalidOperationException)
        {
            return new BFloat16Decision(false, support.Present, null, $"float32: {support.Evidence}; the bfloat16 convolution failed: {e.Message.Split('\n', 2)[0]}");
        }

        var factor = timing.Factor;
        if (!double.IsFinite(factor) || factor <= 0)
        {
            return new BFloat16Decision(false, support.Present, null, $"float32: {support.Evidence}; the probe gave no usable time ({timing.BFloat16Seconds} s over {timing.Float32Seconds} s)");
        }

        var measured = string.Create(CultureInfo.InvariantCulture, $"a bfloat16 convolution took {factor:F2}x the float32 time");
        if (support.Present == false)
        {
            return new BFloat16Decision(false, false, factor, $"float32: {support.Evidence}; {measured}");
        }

        return factor < FasterBelow
            ? new BFloat16Decision(true, support.Present, factor, $"bfloat16: {support.Evidence}; {measured}")
            : new BFloat16Decision(false, support.Present, factor, string.Create(CultureInfo.InvariantCulture, $"float32: {support.Evidence}; {measured}, not below {FasterBelow:F2}"));
    }
}
