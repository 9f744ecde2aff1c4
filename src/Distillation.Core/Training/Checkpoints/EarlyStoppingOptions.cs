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
        OptionChecks.IntegerIn(Patience, nameof(Patience), 1, int.MaxValue);

        // An improvement of accuracy, a fraction: a threshold of 1 or more could never be met.
        OptionChecks.FractionIn(MinDelta, nameof(MinDelta), 0, 1);
    }
}
