using static TorchSharp.torch;

namespace Distillation.Data;

/// <summary>
/// Turns uint8 images into a normalized float32 batch on a device, with the scale and shift kept
/// per device. Every source uses it, so the same bytes give bit-identical batches whatever their source.
/// </summary>
internal sealed class BatchNormalizer(ImageNormalization normalization) : IDisposable
{
    private readonly Dictionary<string, (Tensor Scale, Tensor Shift)> constantsByDevice = [];
    private readonly object gate = new();

    /// <summary>Moves <paramref name="images"/> (uint8 [B, C, H, W]) and <paramref name="labels"/> to <paramref name="device"/> and normalizes the images; the results join the caller's dispose scope.</summary>
    public Batch Normalize(Tensor images, Tensor labels, Device device)
    {
        // Move as uint8 (a quarter of the bytes), then scale and shift on the device:
        // (x / 255 − mean) / std  ==  x · (1 / (255·std)) − mean / std.
        using var onDevice = images.to(device);
        var (scale, shift) = ConstantsOn(device);
        var normalized = onDevice.to_type(ScalarType.Float32).mul_(scale).sub_(shift);
        return new Batch(normalized, labels.to(device));
    }

    private (Tensor Scale, Tensor Shift) ConstantsOn(Device device)
    {
        lock (gate)
        {
            var key = device.ToString();
            if (!constantsByDevice.TryGetValue(key, out var constants))
            {
                var channels = normalization.Mean.Count;
                var scale = normalization.Std.Select(s => 1f / (255f * s)).ToArray();
                var shift = normalization.Mean.Zip(normalization.Std, (m, s) => m / s).ToArray();
                constants = (
                    tensor(scale, [1, channels, 1, 1]).to(device).DetachFromDisposeScope(),
                    tensor(shift, [1, channels, 1, 1]).to(device).DetachFromDisposeScope());
                constantsByDevice[key] = constants;
            }

            return constants;
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            foreach (var (scale, shift) in constantsByDevice.Values)
            {
                scale.Dispose();
                shift.Dispose();
            }

            constantsByDevice.Clear();
        }
    }
}
