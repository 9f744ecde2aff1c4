namespace Distillation.Training;

/// <summary>
/// Stops a run when the monitored score has not improved for <see cref="Patience"/> epochs. The
/// score is top-1 accuracy on the evaluation set (evaluated every epoch when early stopping is
/// on), or minus the training loss when no evaluation set is given. Carve the evaluation set from
/// the training data (<see cref="Data.ImageDataset.SplitValidation"/>) so the test set stays unseen.
/// </summary>
public sealed class EarlyStoppingOptions
{
    /// <summary>Epochs without improvement before stopping; at least 1. Default: 3.</summary>
    public int Patience { get; set; } = 3;

    /// <summary>The smallest rise of the score that counts as an improvement; at least 0. Default: 0.</summary>
    public double MinDelta { get; set; }

    /// <summary>Whether the model ends with the best epoch's weights rather than the last epoch's. Default: true.</summary>
    public bool RestoreBest { get; set; } = true;

    /// <summary>Checks every value.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        if (Patience < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Patience), Patience, "The patience must be ≥ 1 epoch.");
        }

        if (!(MinDelta >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(MinDelta), MinDelta, "The minimum improvement must be ≥ 0.");
        }
    }
}
