using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Models.Zoo;

/// <summary>
/// torchvision's MobileNetV2 (<c>torchvision.models.mobilenet_v2</c>, width 1.0): <c>features</c> =
/// a 3×3 stride-2 stem, 17 inverted residuals and a 1×1 convolution to 1280 channels (each
/// convolution with BatchNorm and ReLU6 as torchvision's <c>Conv2dNormActivation</c>), then global
/// average pooling and <c>classifier</c> (dropout 0.2, Linear). Names are torchvision's.
/// </summary>
internal sealed class MobileNetV2 : Module<Tensor, Tensor>
{
    private static readonly (int Expansion, int Channels, int Blocks, int Stride)[] Setting =
    [
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ];

    private readonly Sequential features;
    private readonly Sequential classifier;

    // torchvision pools functionally; a module here (no parameters, so no state-dict key) keeps the graph walkable.
    private readonly AdaptiveAvgPool2d avgpool;

    /// <summary>Creates the network.</summary>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="dropout">The classifier's dropout probability (torchvision: 0.2).</param>
    public MobileNetV2(int numClasses, double dropout = 0.2)
        : base("MobileNetV2")
    {
        const long lastChannel = 1280;
        long channels = 32;
        var layers = new List<Module<Tensor, Tensor>> { ZooLayers.ConvNormActivation(3, channels, 3, stride: 2, activation: ReLU6()) };
        foreach (var (t, c, n, s) in Setting)
        {
            for (var i = 0; i < n; i++)
            {
                layers.Add(new InvertedResidualV2(channels, c, i == 0 ? s : 1, t));
                channels = c;
            }
        }

        layers.Add(ZooLayers.ConvNormActivation(channels, lastChannel, 1, activation: ReLU6()));
        features = ZooLayers.Numbered(layers);
        classifier = Sequential(("0", Dropout(dropout)), ("1", Linear(lastChannel, numClasses)));
        avgpool = AdaptiveAvgPool2d(1);
        RegisterComponents();
        ZooLayers.Initialize(this, linearStd: 0.01);
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var x = features.call(input);
        using var pooled = avgpool.call(x);
        using var flat = pooled.flatten(1);
        return classifier.call(flat);
    }
}

/// <summary>
/// torchvision's MobileNetV2 <c>InvertedResidual</c>: <c>conv</c> = [1×1 expand with BN and ReLU6,
/// unless the expansion is 1] → 3×3 depthwise with BN and ReLU6 → 1×1 project → BN; added to the
/// input when the stride is 1 and the channels are unchanged.
/// </summary>
internal sealed class InvertedResidualV2 : Module<Tensor, Tensor>
{
    private readonly Sequential conv;

    /// <summary>Creates the block.</summary>
    /// <param name="input">Input channels.</param>
    /// <param name="output">Output channels.</param>
    /// <param name="stride">The depthwise convolution's stride, 1 or 2.</param>
    /// <param name="expansion">The hidden width as a multiple of <paramref name="input"/>.</param>
    public InvertedResidualV2(long input, long output, long stride, int expansion)
        : base("InvertedResidual")
    {
        var hidden = input * expansion;
        var layers = new List<Module<Tensor, Tensor>>();
        if (expansion != 1)
        {
            layers.Add(ZooLayers.ConvNormActivation(input, hidden, 1, activation: ReLU6()));
        }

        layers.Add(ZooLayers.ConvNormActivation(hidden, hidden, 3, stride, groups: hidden, activation: ReLU6()));
        layers.Add(ZooLayers.Conv(hidden, output, 1));
        layers.Add(BatchNorm2d(output));
        conv = ZooLayers.Numbered(layers);
        UsesResidual = stride == 1 && input == output;
        RegisterComponents();
    }

    /// <summary>True when the block adds its input to its output (stride 1, same channels).</summary>
    public bool UsesResidual { get; }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        if (!UsesResidual)
        {
            return conv.call(input);
        }

        using var residual = conv.call(input);
        return input + residual;
    }
}
