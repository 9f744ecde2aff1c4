namespace Distillation.Data;

/// <summary>How <see cref="Cifar10Dataset.Load"/> reads the binary files.</summary>
public sealed class Cifar10LoadOptions
{
    /// <summary>The normalization of every batch. Default: <see cref="ImageNormalization.ImageNet"/>, as the notebook does.</summary>
    public ImageNormalization Normalization { get; set; } = ImageNormalization.ImageNet;

    /// <summary>
    /// How many records each batch file must hold. Default: 10,000, as every official file does, so a
    /// file cut at a record boundary is caught too. Null accepts any whole number of records.
    /// </summary>
    public int? ExpectedRecordsPerFile { get; set; } = Cifar10Dataset.RecordsPerOfficialFile;

    /// <summary>Checks the options.</summary>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Normalization, nameof(Normalization));
        if (ExpectedRecordsPerFile is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(ExpectedRecordsPerFile), ExpectedRecordsPerFile, "Must be positive, or null for any count.");
        }

        if (Normalization.Mean.Count != Cifar10Dataset.Channels)
        {
            throw new ArgumentException($"CIFAR-10 has {Cifar10Dataset.Channels} channels; the normalization has {Normalization.Mean.Count}.", nameof(Normalization));
        }
    }
}
