using static TorchSharp.torch;

namespace Distillation.Data;

/// <summary>
/// A labelled image set read in batches: resident in memory (<see cref="ImageDataset"/>) or
/// decoded from disk as it is read (<c>StreamingImageFolder</c> of Distillation.Datasets). Training and evaluation
/// take their batches through this, so either kind can feed them.
/// </summary>
public interface IBatchSource
{
    /// <summary>The number of images.</summary>
    int Count { get; }

    /// <summary>The class names, indexed by label.</summary>
    IReadOnlyList<string> ClassNames { get; }

    /// <summary>The normalization applied to every batch.</summary>
    ImageNormalization Normalization { get; }

    /// <summary>
    /// Plans one pass over the images in batches of <paramref name="batchSize"/> (the last one
    /// partial), in stored order, or shuffled through a permutation drawn from
    /// <paramref name="shuffle"/>. For the same generator state every source draws the same
    /// permutation, so a resident and a streamed copy of one set give the same batches.
    /// </summary>
    /// <param name="batchSize">Images per batch; must be positive.</param>
    /// <param name="shuffle">The generator of the permutation; null keeps the stored order.</param>
    /// <returns>The plan; dispose it after the pass.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is less than 1.</exception>
    /// <exception cref="ObjectDisposedException">The source has been disposed.</exception>
    BatchPlan PlanBatches(int batchSize, Generator? shuffle = null);

    /// <summary>
    /// Plans a training pass whose batches arrive already cropped and flipped by
    /// <paramref name="augmentation"/> (their plan's <see cref="BatchPlan.AugmentedBySource"/> is
    /// true), when this source can augment while it reads; null when it cannot, and the trainer
    /// augments the batches itself. The permutation is drawn from <paramref name="shuffle"/> as
    /// <see cref="PlanBatches"/> draws it; any draws of the augmentation come from <paramref name="draws"/>.
    /// The default returns null: implement it only for a source that can crop and flip cheaper while it
    /// decodes (the streamed image folder of Distillation.Datasets cuts torchvision's random-resized
    /// crops on its decode threads). Mixup and CutMix stay the trainer's, after the crop.
    /// </summary>
    /// <param name="batchSize">Images per batch; must be positive.</param>
    /// <param name="shuffle">The generator of the permutation; null keeps the stored order.</param>
    /// <param name="augmentation">The crop and flip to apply.</param>
    /// <param name="draws">The run's augmentation generator, for the source's own draws.</param>
    /// <returns>The plan, whose <see cref="BatchPlan.AugmentedBySource"/> is true; or null.</returns>
    BatchPlan? PlanAugmentedBatches(int batchSize, Generator? shuffle, AugmentationOptions augmentation, Generator draws) => null;
}
