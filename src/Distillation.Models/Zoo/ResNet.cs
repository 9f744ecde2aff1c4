using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Models.Zoo;

/// <summary>
/// torchvision's ResNet (<c>torchvision.models.resnet</c>, v1.5: the stride on the 3×3 convolution):
/// a 7×7 stride-2 stem and a 3×3 max-pool, four stages <c>layer1</c> to <c>layer4</c> (strides 4, 8,
/// 16, 32 from the input), global average pooling and <c>fc</c>. Any input of at least 32×32.
/// Module names are torchvision's, so its state dicts load with no renaming.
/// </summary>
internal sealed class ResNet : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly MaxPool2d maxpool;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Sequential layer4;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Linear fc;

    /// <summary>Creates the network.</summary>
    /// <param name="bottleneck">True for <see cref="Bottleneck"/> blocks (resnet50), false for <see cref="BasicBlock"/> (resnet18, resnet34).</param>
    /// <param name="layers">Blocks per stage: [2, 2, 2, 2] for resnet18, [3, 4, 6, 3] for resnet34 and resnet50.</param>
    /// <param name="numClasses">Output classes.</param>
    public ResNet(bool bottleneck, IReadOnlyList<int> layers, int numClasses)
        : base("ResNet")
    {
        var expansion = bottleneck ? Bottleneck.Expansion : 1;
        conv1 = Conv2d(3, 64, kernel_size: 7, stride: 2, padding: 3, bias: false);
        bn1 = BatchNorm2d(64);
        relu = ReLU();
        maxpool = MaxPool2d(kernel_size: 3, stride: 2, padding: 1);
        long channels = 64;
        layer1 = MakeLayer(bottleneck, ref channels, 64, layers[0], stride: 1);
        layer2 = MakeLayer(bottleneck, ref channels, 128, layers[1], stride: 2);
        layer3 = MakeLayer(bottleneck, ref channels, 256, layers[2], stride: 2);
        layer4 = MakeLayer(bottleneck, ref channels, 512, layers[3], stride: 2);
        avgpool = AdaptiveAvgPool2d(1);
        fc = Linear(512 * expansion, numClasses);
        RegisterComponents();
        ZooLayers.Initialize(this);
    }

    private static Sequential MakeLayer(bool bottleneck, ref long channels, long planes, int blocks, long stride)
    {
        var expansion = bottleneck ? Bottleneck.Expansion : 1;
        var layer = new List<Module<Tensor, Tensor>>();
        for (var i = 0; i < blocks; i++)
        {
            var blockStride = i == 0 ? stride : 1;
            Sequential? downsample = null;
            if (blockStride != 1 || channels != planes * expansion)
            {
                downsample = Sequential(("0", ZooLayers.Conv(channels, planes * expansion, 1, blockStride)), ("1", BatchNorm2d(planes * expansion)));
            }

            layer.Add(bottleneck
                ? new Bottleneck(channels, planes, blockStride, downsample)
                : new BasicBlock(channels, planes, blockStride, downsample));
            channels = planes * expansion;
        }

        return ZooLayers.Numbered(layer);
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var stem = ZooLayers.Chain(input, conv1, bn1, relu);
        using var pooledStem = maxpool.call(stem);
        using var x1 = layer1.call(pooledStem);
        using var x2 = layer2.call(x1);
        using var x3 = layer3.call(x2);
        using var x4 = layer4.call(x3);
        using var pooled = avgpool.call(x4);
        using var flat = pooled.flatten(1);
        return fc.call(flat);
    }
}

/// <summary>torchvision's <c>BasicBlock</c>: conv3×3 (stride) → BN → ReLU → conv3×3 → BN, plus the shortcut (identity or <c>downsample</c>), then ReLU.</summary>
internal sealed class BasicBlock : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Sequential? downsample;

    /// <summary>Creates the block.</summary>
    /// <param name="input">Input channels.</param>
    /// <param name="planes">Output channels.</param>
    /// <param name="stride">The first convolution's stride.</param>
    /// <param name="downsample">The projection shortcut (conv1×1 → BN), or null for the identity.</param>
    public BasicBlock(long input, long planes, long stride, Sequential? downsample)
        : base("BasicBlock")
    {
        conv1 = ZooLayers.Conv(input, planes, 3, stride);
        bn1 = BatchNorm2d(planes);
        relu = ReLU();
        conv2 = ZooLayers.Conv(planes, planes, 3);
        bn2 = BatchNorm2d(planes);
        this.downsample = downsample;
        RegisterComponents();
    }

    /// <summary>The projection shortcut, or null for the identity.</summary>
    public Sequential? Downsample => downsample;

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var a = ZooLayers.Chain(input, conv1, bn1, relu);
        using var b = ZooLayers.Chain(a, conv2, bn2);
        using var shortcut = downsample is null ? input.alias() : downsample.call(input);
        using var sum = b + shortcut;
        return relu.call(sum);
    }
}

/// <summary>
/// torchvision's <c>Bottleneck</c> (v1.5): conv1×1 → BN → ReLU → conv3×3 (stride) → BN → ReLU →
/// conv1×1 (×4 channels) → BN, plus the shortcut (identity or <c>downsample</c>), then ReLU.
/// </summary>
internal sealed class Bottleneck : Module<Tensor, Tensor>
{
    /// <summary>Output channels per plane.</summary>
    public const int Expansion = 4;

    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Conv2d conv3;
    private readonly BatchNorm2d bn3;
    private readonly ReLU relu;
    private readonly Sequential? downsample;

    /// <summary>Creates the block.</summary>
    /// <param name="input">Input channels.</param>
    /// <param name="planes">The inner width; the output has 4× as many channels.</param>
    /// <param name="stride">The 3×3 convolution's stride.</param>
    /// <param name="downsample">The projection shortcut (conv1×1 → BN), or null for the identity.</param>
    public Bottleneck(long input, long planes, long stride, Sequential? downsample)
        : base("Bottleneck")
    {
        conv1 = ZooLayers.Conv(input, planes, 1);
        bn1 = BatchNorm2d(planes);
        conv2 = ZooLayers.Conv(planes, planes, 3, stride);
        bn2 = BatchNorm2d(planes);
        conv3 = ZooLayers.Conv(planes, planes * Expansion, 1);
        bn3 = BatchNorm2d(planes * Expansion);
        relu = ReLU();
        this.downsample = downsample;
        RegisterComponents();
    }

    /// <summary>The projection shortcut, or null for the identity.</summary>
    public Sequential? Downsample => downsample;

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var a = ZooLayers.Chain(input, conv1, bn1, relu);
        using var b = ZooLayers.Chain(a, conv2, bn2, relu);
        using var c = ZooLayers.Chain(b, conv3, bn3);
        using var shortcut = downsample is null ? input.alias() : downsample.call(input);
        using var sum = c + shortcut;
        return relu.call(sum);
    }
}
