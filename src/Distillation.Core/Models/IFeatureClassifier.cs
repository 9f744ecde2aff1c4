using TorchSharp;

namespace Distillation.Models;

/// <summary>
/// A classifier split into a feature extractor and a classification head, so that feature-based
/// distillation terms can reach the feature map: <c>Classify(Features(x))</c> equals the model's forward pass.
/// </summary>
public interface IFeatureClassifier
{
    /// <summary>The feature map of a batch of images, before flattening.</summary>
    /// <param name="input">Images, shape [N, C, H, W].</param>
    /// <returns>The feature map, shape [N, C', H', W'].</returns>
    torch.Tensor Features(torch.Tensor input);

    /// <summary>The logits for a feature map produced by <see cref="Features"/>.</summary>
    /// <param name="features">A feature map, shape [N, C', H', W'].</param>
    /// <returns>Logits, shape [N, classes].</returns>
    torch.Tensor Classify(torch.Tensor features);
}
