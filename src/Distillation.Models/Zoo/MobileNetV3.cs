using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Models.Zoo;

/// <summary>
/// torchvision's MobileNetV3 (<c>torchvision.models.mobilenet_v3_small</c> and <c>_large</c>, width
/// 1.0): <c>features</c> = a 3×3 stride-2 stem with Hardswish, the inverted residuals of the paper's
/// tables 1 and 2 (ReLU or Hardswish, some with squeeze-and-excitation), and a 1×1 convolution to 6×
/// the last block's channels; then <c>avgpool</c> and <c>classifier</c> (Linear → Hardswish → dropout
/// 0.2 → Linear). BatchNorm uses eps 0.001 and momentum 0.01 as torchvision's. Names are torchvision's.
/// </summary>
internal sealed class MobileNetV3 : Module<Tensor, Tensor>
{
    internal const double NormEps = 0.001;
    internal const double NormMomentum = 0.01;

    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Sequential classifier;

    /// <summary>Creates the network.</summary>
    /// <param name="large">True for mobilenet_v3_large, false for mobilenet_v3_small.</param>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="dropout">The classifier's dropout probability (torchvision: 0.2).</param>
    public MobileNetV3(bool large, int numClasses, double dropout = 0.2)
        : base("MobileNetV3")
    {
        var setting = large ? LargeSetting : SmallSetting;
        var lastChannel = large ? 1280 : 1024;
        var layers = new List<Module<Tensor, Tensor>>
        {
            ZooLayers.ConvNormActivation(3, setting[0].Input, 3, stride: 2, activation: Hardswish(), eps: NormEps, momentum: NormMomentum),
        };
        layers.AddRange(setting.Select(config => new InvertedResidualV3(config)));
        var lastInput = setting[^1].Output;
        var lastOutput = 6 * lastInput;
        layers.Add(ZooLayers.ConvNormActivation(lastInput, lastOutput, 1, activation: Hardswish(), eps: NormEps, momentum: NormMomentum));
        features = ZooLayers.Numbered(layers);
        avgpool = AdaptiveAvgPool2d(1);
        classifier = Sequential(
            ("0", Linear(lastOutput, lastChannel)),
            ("1", Hardswish()),
            ("2", Dropout(dropout)),
            ("3", Linear(lastChannel, numClasses)));
        RegisterComponents();
        ZooLayers.Initialize(this, linearStd: 0.01);
    }

    /// <summary>mobilenet_v3_large's blocks (torchvision's <c>_mobilenet_v3_conf</c>).</summary>
    internal static IReadOnlyList<InvertedResidualConfig> LargeSetting { get; } =
    [
        new(16, 3, 16, 16, false, false, 1), new(16, 3, 64, 24, false, false, 2), new(24, 3, 72, 24, false, false, 1),
        new(24, 5, 72, 40, true, false, 2), new(40, 5, 120, 40, true, false, 1), new(40, 5, 120, 40, true, false, 1),
        new(40, 3, 240, 80, false, true, 2), new(80, 3, 200, 80, false, true, 1), new(80, 3, 184, 80, false, true, 1),
        new(80, 3, 184, 80, false, true, 1), new(80, 3, 480, 112, true, true, 1), new(112, 3, 672, 112, true, true, 1),
        new(112, 5, 672, 160, true, true, 2), new(160, 5, 960, 160, true, true, 1), new(160, 5, 960, 160, true, true, 1),
    ];

    /// <summary>mobilenet_v3_small's blocks (torchvision's <c>_mobilenet_v3_conf</c>).</summary>
    internal static IReadOnlyList<InvertedResidualConfig> SmallSetting { get; } =
    [
        new(16, 3, 16, 16, true, false, 2), new(16, 3, 72, 24, false, false, 2), new(24, 3, 88, 24, false, false, 1),
        new(24, 5, 96, 40, true, true, 2), new(40, 5, 240, 40, true, true, 1), new(40, 5, 240, 40, true, true, 1),
        new(40, 5, 120, 48, true, true, 1), new(48, 5, 144, 48, true, true, 1), new(48, 5, 288, 96, true, true, 2),
        new(96, 5, 576, 96, true, true, 1), new(96, 5, 576, 96, true, true, 1),
    ];

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var x = features.call(input);
        using var pooled = avgpool.call(x);
        using var flat = pooled.flatten(1);
        return classifier.call(flat);
    }
}

/// <summary>One row of MobileNetV3's block tables: channels in, kernel, expanded and out channels, squeeze-and-excitation, Hardswish (else ReLU), stride.</summary>
internal sealed record InvertedResidualConfig(int Input, int Kernel, int Expanded, int Output, bool UseSqueezeExcitation, bool UseHardswish, int Stride);

/// <summary>
/// torchvision's MobileNetV3 <c>InvertedResidual</c>: <c>block</c> = [1×1 expand with BN and the
/// activation, when the expanded width differs] → k×k depthwise with BN and the activation →
/// [<see cref="SqueezeExcitation"/>] → 1×1 project with BN; added to the input when the stride is 1
/// and the channels are unchanged.
/// </summary>
internal sealed class InvertedResidualV3 : Module<Tensor, Tensor>
{
    private readonly Sequential block;

    /// <summary>Creates the block from its table row.</summary>
    /// <param name="config">The row.</param>
    public InvertedResidualV3(InvertedResidualConfig config)
        : base("InvertedResidual")
    {
        ArgumentNullException.ThrowIfNull(config);
        Module<Tensor, Tensor> Activation() => config.UseHardswish ? Hardswish() : ReLU();
        var layers = new List<Module<Tensor, Tensor>>();
        if (config.Expanded != config.Input)
        {
            layers.Add(ZooLayers.ConvNormActivation(config.Input, config.Expanded, 1, activation: Activation(), eps: MobileNetV3.NormEps, momentum: MobileNetV3.NormMomentum));
        }

        layers.Add(ZooLayers.ConvNormActivation(
            config.Expanded, config.Expanded, config.Kernel, config.Stride, groups: config.Expanded, activation: Activation(), eps: MobileNetV3.NormEps, momentum: MobileNetV3.NormMomentum));
        if (config.UseSqueezeExcitation)
        {
            layers.Add(new SqueezeExcitation(config.Expanded, ZooLayers.MakeDivisible(config.Expanded / 4)));
        }

        layers.Add(ZooLayers.ConvNormActivation(config.Expanded, config.Output, 1, activation: null, eps: MobileNetV3.NormEps, momentum: MobileNetV3.NormMomentum));
        block = ZooLayers.Numbered(layers);
        UsesResidual = config.Stride == 1 && config.Input == config.Output;
        RegisterComponents();
    }

    /// <summary>True when the block adds its input to its output (stride 1, same channels).</summary>
    public bool UsesResidual { get; }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        if (!UsesResidual)
        {
            return block.call(input);
        }

        using var residual = block.call(input);
        return input + residual;
    }
}

/// <summary>
/// torchvision's <c>SqueezeExcitation</c> with MobileNetV3's Hardsigmoid gate: <c>avgpool</c> →
/// <c>fc1</c> (1×1 conv with bias) → <c>activation</c> (ReLU) → <c>fc2</c> → <c>scale_activation</c>
/// (Hardsigmoid), and the input multiplied by that per-channel scale.
/// </summary>
internal sealed class SqueezeExcitation : Module<Tensor, Tensor>
{
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Conv2d fc1;
    private readonly Conv2d fc2;
    private readonly ReLU activation;
#pragma warning disable IDE1006, SA1306 // torchvision's module name, which the state dict keys do not show but module paths do
    private readonly Hardsigmoid scale_activation;
#pragma warning restore IDE1006, SA1306

    /// <summary>Creates the block.</summary>
    /// <param name="channels">Input (and output) channels.</param>
    /// <param name="squeezeChannels">The bottleneck width.</param>
    public SqueezeExcitation(long channels, long squeezeChannels)
        : base("SqueezeExcitation")
    {
        avgpool = AdaptiveAvgPool2d(1);
        fc1 = Conv2d(channels, squeezeChannels, kernel_size: 1);
        fc2 = Conv2d(squeezeChannels, channels, kernel_size: 1);
        activation = ReLU();
        scale_activation = Hardsigmoid();
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var pooled = avgpool.call(input);
        using var squeezed = ZooLayers.Chain(pooled, fc1, activation);
        using var scale = ZooLayers.Chain(squeezed, fc2, scale_activation);
        return input * scale;
    }
}
