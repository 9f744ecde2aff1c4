using TorchSharp;

namespace Distillation.Models.Zoo;

/// <summary>The architecture family of a zoo model.</summary>
public enum ModelFamily
{
    /// <summary>The CIFAR ResNet of RepDistiller and mdistiller (basic blocks, three stages, 32×32 inputs).</summary>
    CifarResNet,

    /// <summary>The CIFAR wide ResNet of RepDistiller and mdistiller (pre-activation blocks, three stages).</summary>
    WideResNet,

    /// <summary>RepDistiller's CIFAR MobileNetV2 (<c>mobile_half</c>: width 0.5, ReLU).</summary>
    CifarMobileNetV2,

    /// <summary>torchvision's ImageNet ResNet (basic or bottleneck blocks, four stages).</summary>
    ResNet,

    /// <summary>torchvision's ImageNet MobileNetV2 (ReLU6).</summary>
    MobileNetV2,

    /// <summary>torchvision's ImageNet MobileNetV3 (Hardswish, squeeze-and-excitation).</summary>
    MobileNetV3,

    /// <summary>An airbench-style CIFAR net (Jordan 2024): a whitening stem initialised from the data, three conv groups, GELU; a fast, strong teacher.</summary>
    Airbench,
}

/// <summary>
/// A feature stage of a zoo model: a module path that the library's feature losses (for example
/// <c>HintLoss</c>) capture by forward hook, with the shape of its output.
/// </summary>
/// <param name="Module">The module path, as <c>named_modules()</c> names it (<c>layer2</c>, <c>features.6</c>, …).</param>
/// <param name="Channels">Channels of the stage's output.</param>
/// <param name="Stride">How many times smaller than the input the stage's output is, in each spatial dimension (for <c>airbench</c>, whose unpadded 2×2 stem first takes one pixel, of the input less one).</param>
public sealed record ZooFeatureStage(string Module, int Channels, int Stride);

/// <summary>One model of the <see cref="ModelZoo"/>: its name, family, size and the features it exposes.</summary>
public sealed class ZooModelInfo
{
    private readonly Func<int, torch.nn.Module<torch.Tensor, torch.Tensor>> factory;

    internal ZooModelInfo(
        string name,
        ModelFamily family,
        long parameterCount,
        int inputSize,
        int minimumInputSize,
        IReadOnlyList<ZooFeatureStage> featureStages,
        string description,
        Func<int, torch.nn.Module<torch.Tensor, torch.Tensor>> factory)
    {
        Name = name;
        Family = family;
        ParameterCount = parameterCount;
        InputSize = inputSize;
        MinimumInputSize = minimumInputSize;
        FeatureStages = featureStages;
        Description = description;
        this.factory = factory;
    }

    /// <summary>The registry name, as in RepDistiller (CIFAR models) or torchvision (ImageNet models): <c>resnet20</c>, <c>mobilenet_v3_small</c>, ….</summary>
    public string Name { get; }

    /// <summary>The architecture family.</summary>
    public ModelFamily Family { get; }

    /// <summary>True for the CIFAR-style models (designed for 32×32 inputs), false for the ImageNet-style ones.</summary>
    public bool IsCifarStyle => Family is ModelFamily.CifarResNet or ModelFamily.WideResNet or ModelFamily.CifarMobileNetV2 or ModelFamily.Airbench;

    /// <summary>Trainable parameters when created for 10 classes; equal to the reference implementation's.</summary>
    public long ParameterCount { get; }

    /// <summary>The input size, in pixels per side, the model is designed for: 32 (CIFAR-style) or 224 (ImageNet-style).</summary>
    public int InputSize { get; }

    /// <summary>
    /// The smallest input side at which every stage still downsamples: the model's total stride (4 or
    /// 16 for the CIFAR-style models, 32 for the ImageNet-style ones). Every model pools globally
    /// before its classifier, so any size from this one up works.
    /// </summary>
    public int MinimumInputSize { get; }

    /// <summary>The feature stages, shallowest first, for feature-based losses.</summary>
    public IReadOnlyList<ZooFeatureStage> FeatureStages { get; }

    /// <summary>One line saying what the model is and where its definition comes from.</summary>
    public string Description { get; }

    /// <summary>Creates the model with fresh weights, initialised as the reference implementation does (from torch's global generator).</summary>
    /// <param name="classes">Output classes, at least 1.</param>
    /// <returns>The model, in training mode.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="classes"/> is below 1.</exception>
    public torch.nn.Module<torch.Tensor, torch.Tensor> Create(int classes)
    {
        if (classes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(classes), classes, $"Model '{Name}' needs at least 1 output class, got {classes}.");
        }

        Devices.TorchRuntime.EnsureAvailable();
        return factory(classes);
    }

    /// <summary>
    /// Refuses an image size the model is not meant for: below <see cref="MinimumInputSize"/> its
    /// deepest stages would see a 1×1 map and stop downsampling.
    /// </summary>
    /// <param name="imageSize">The side of the (square) input images, in pixels.</param>
    /// <exception cref="ArgumentOutOfRangeException">The size is below <see cref="MinimumInputSize"/>; the one-line message says why.</exception>
    public void EnsureInputSize(int imageSize)
    {
        if (imageSize < MinimumInputSize)
        {
            throw new ArgumentOutOfRangeException(
                nameof(imageSize),
                imageSize,
                $"Model '{Name}' needs images of at least {MinimumInputSize}×{MinimumInputSize} pixels (below that its deepest stage would have no pixel left); got {imageSize}×{imageSize}.");
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Family}, {ParameterCount:N0} parameters for 10 classes, {InputSize}×{InputSize})";
}
