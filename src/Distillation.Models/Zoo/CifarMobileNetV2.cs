using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Models.Zoo;

/// <summary>
/// The CIFAR MobileNetV2 of the distillation benchmarks (RepDistiller's <c>mobilenetv2.py</c>,
/// <c>mobile_half</c>: expansion 6, width 0.5): <c>conv1</c> (3×3, stride 2), seven stages of
/// inverted residuals in <c>blocks</c>, <c>conv2</c> (1×1 to 1280), global average pooling and
/// <c>classifier</c>. Unlike torchvision's, every block (expansion 1 included) has the expanding
/// 1×1 convolution and uses ReLU, not ReLU6. Names are RepDistiller's (its <c>blocks</c> is a
/// ModuleList of Sequentials; here a Sequential of Sequentials, with the same keys).
/// </summary>
internal sealed class CifarMobileNetV2 : Module<Tensor, Tensor>
{
    // RepDistiller's setting: expansion t (the model's T for all but the first), channels c, blocks n, stride s.
    private static readonly (bool Expand, int Channels, int Blocks, int Stride)[] Setting =
    [
        (false, 16, 1, 1), (true, 24, 2, 1), (true, 32, 3, 2), (true, 64, 4, 2), (true, 96, 3, 1), (true, 160, 3, 2), (true, 320, 1, 1),
    ];

    private readonly Sequential conv1;
    private readonly Sequential blocks;
    private readonly Sequential conv2;
    private readonly Sequential classifier;
    private readonly AdaptiveAvgPool2d avgpool;

    /// <summary>Creates the network; <c>mobile_half</c> is expansion 6 and width 0.5.</summary>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="expansion">The expansion ratio T of all blocks but the first.</param>
    /// <param name="widthMultiplier">The channel multiplier.</param>
    public CifarMobileNetV2(int numClasses, int expansion = 6, double widthMultiplier = 0.5)
        : base("MobileNetV2")
    {
        long channels = (long)(32 * widthMultiplier);
        conv1 = ConvBnRelu(3, channels, 3, stride: 2);
        var stages = new List<Module<Tensor, Tensor>>();
        foreach (var (expand, c, n, s) in Setting)
        {
            long output = (long)(c * widthMultiplier);
            var stage = new List<Module<Tensor, Tensor>>();
            for (var i = 0; i < n; i++)
            {
                stage.Add(new CifarInvertedResidual(channels, output, i == 0 ? s : 1, expand ? expansion : 1));
                channels = output;
            }

            stages.Add(ZooLayers.Numbered(stage));
        }

        blocks = ZooLayers.Numbered(stages);
        var last = widthMultiplier > 1.0 ? (long)(1280 * widthMultiplier) : 1280;
        conv2 = ConvBnRelu(channels, last, 1, stride: 1);
        classifier = Sequential(("0", Linear(last, numClasses)));
        avgpool = AdaptiveAvgPool2d(1);
        RegisterComponents();
        ZooLayers.Initialize(this, linearStd: 0.01);
    }

    private static Sequential ConvBnRelu(long input, long output, long kernel, long stride) =>
        Sequential(("0", ZooLayers.Conv(input, output, kernel, stride)), ("1", BatchNorm2d(output)), ("2", ReLU()));

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var stem = conv1.call(input);
        using var features = blocks.call(stem);
        using var head = conv2.call(features);
        using var pooled = avgpool.call(head);
        using var flat = pooled.flatten(1);
        return classifier.call(flat);
    }
}

/// <summary>
/// RepDistiller's CIFAR <c>InvertedResidual</c>: <c>conv</c> = 1×1 expand → BN → ReLU → 3×3 depthwise
/// (with the stride) → BN → ReLU → 1×1 project → BN, added to the input when the stride is 1 and the
/// channels are unchanged.
/// </summary>
internal sealed class CifarInvertedResidual : Module<Tensor, Tensor>
{
    private readonly Sequential conv;

    /// <summary>Creates the block.</summary>
    /// <param name="input">Input channels.</param>
    /// <param name="output">Output channels.</param>
    /// <param name="stride">The depthwise convolution's stride, 1 or 2.</param>
    /// <param name="expansion">The hidden width, as a multiple of <paramref name="input"/>.</param>
    public CifarInvertedResidual(long input, long output, long stride, int expansion)
        : base("InvertedResidual")
    {
        var hidden = input * expansion;
        conv = Sequential(
            ("0", ZooLayers.Conv(input, hidden, 1)),
            ("1", BatchNorm2d(hidden)),
            ("2", ReLU()),
            ("3", ZooLayers.Conv(hidden, hidden, 3, stride, groups: hidden)),
            ("4", BatchNorm2d(hidden)),
            ("5", ReLU()),
            ("6", ZooLayers.Conv(hidden, output, 1)),
            ("7", BatchNorm2d(output)));
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
