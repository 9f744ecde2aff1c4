using Distillation.Devices;

namespace Distillation.Training;

/// <summary>Settings of a <see cref="Trainer{TTeacher, TStudent}"/>. Defaults reproduce the notebook.</summary>
public sealed class TrainerOptions
{
    /// <summary>Passes over the training set. Default: 10.</summary>
    public int Epochs { get; set; } = 10;

    /// <summary>Images per training batch. Default: 128.</summary>
    public int BatchSize { get; set; } = 128;

    /// <summary>Images per evaluation batch (does not change results). Default: 256.</summary>
    public int EvaluationBatchSize { get; set; } = 256;

    /// <summary>Adam's learning rate. Default: 0.001.</summary>
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>The seed of the shuffling generator; each training call starts it afresh. Default: 42.</summary>
    public long Seed { get; set; } = 42;

    /// <summary>Whether to evaluate on the evaluation set after every epoch (else only after the last). Default: false.</summary>
    public bool EvaluateEveryEpoch { get; set; }

    /// <summary>Where to train. Default: <see cref="DeviceKind.Auto"/>.</summary>
    public DeviceOptions Device { get; set; } = new();

    /// <summary>Checks every value.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        if (Epochs < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be ≥ 1.");
        }

        if (BatchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "The batch size must be ≥ 1.");
        }

        if (EvaluationBatchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(EvaluationBatchSize), EvaluationBatchSize, "The evaluation batch size must be ≥ 1.");
        }

        if (!double.IsFinite(LearningRate) || LearningRate <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "The learning rate must be a finite number > 0.");
        }

        ArgumentNullException.ThrowIfNull(Device, nameof(Device));
        Device.Validate();
    }
}
