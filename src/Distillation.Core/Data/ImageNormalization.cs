using System.Globalization;

namespace Distillation.Data;

/// <summary>
/// Per-channel normalization applied to images scaled to [0, 1]: <c>(x / 255 − mean) / std</c>,
/// as torchvision's <c>ToTensor()</c> followed by <c>Normalize(mean, std)</c>.
/// </summary>
public sealed record ImageNormalization
{
    /// <summary>Creates a normalization.</summary>
    /// <param name="mean">The per-channel mean, in [0, 1] units.</param>
    /// <param name="std">The per-channel standard deviation, in [0, 1] units; each value must be positive.</param>
    /// <exception cref="ArgumentException">The lists differ in length, are empty, or a value is not finite or a std is not positive.</exception>
    public ImageNormalization(IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Count == 0 || mean.Count != std.Count)
        {
            throw new ArgumentException($"Mean and std need one value per channel; got {mean.Count} and {std.Count}.", nameof(std));
        }

        for (var c = 0; c < mean.Count; c++)
        {
            if (!float.IsFinite(mean[c]))
            {
                throw new ArgumentException($"Mean of channel {c} must be finite, was {mean[c].ToString(CultureInfo.InvariantCulture)}.", nameof(mean));
            }

            if (!float.IsFinite(std[c]) || std[c] <= 0)
            {
                throw new ArgumentException($"Std of channel {c} must be finite and > 0, was {std[c].ToString(CultureInfo.InvariantCulture)}.", nameof(std));
            }
        }

        Mean = mean.ToArray();
        Std = std.ToArray();
    }

    /// <summary>The per-channel mean, in [0, 1] units.</summary>
    public IReadOnlyList<float> Mean { get; }

    /// <summary>The per-channel standard deviation, in [0, 1] units.</summary>
    public IReadOnlyList<float> Std { get; }

    /// <summary>
    /// ImageNet's statistics, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225): what the
    /// knowledge-distillation notebook uses for CIFAR-10, and so the default here.
    /// </summary>
    public static ImageNormalization ImageNet { get; } = new([0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]);

    /// <summary>CIFAR-10's own training-set statistics, mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616).</summary>
    public static ImageNormalization Cifar10 { get; } = new([0.4914f, 0.4822f, 0.4465f], [0.2470f, 0.2435f, 0.2616f]);

    /// <summary>Scaling to [0, 1] only (mean 0, std 1 for three channels).</summary>
    public static ImageNormalization UnitRange { get; } = new([0f, 0f, 0f], [1f, 1f, 1f]);

    /// <inheritdoc />
    public bool Equals(ImageNormalization? other) =>
        other is not null && Mean.SequenceEqual(other.Mean) && Std.SequenceEqual(other.Std);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Mean.Count, Mean[0], Std[0]);

    /// <inheritdoc />
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"mean ({string.Join(", ", Mean)}), std ({string.Join(", ", Std)})");
}
