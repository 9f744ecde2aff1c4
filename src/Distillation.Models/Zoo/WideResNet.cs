using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Models.Zoo;

/// <summary>
/// The wide ResNet of the distillation benchmarks (RepDistiller's <c>wrn.py</c>, after Zagoruyko and
/// Komodakis 2016): a 3×3 stem, three stages of pre-activation blocks (<c>block1</c> to <c>block3</c>,
/// each holding its blocks in <c>layer</c> as RepDistiller's <c>NetworkBlock</c> does), then BN →
/// ReLU → global average pooling → <c>fc</c>. Depth 6n + 4, width k: wrn_16_2, wrn_40_2. No dropout
/// (the benchmarks train with drop rate 0).
/// </summary>
internal sealed class WideResNet : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly Sequential block1;
    private readonly Sequential block2;
    private readonly Sequential block3;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Linear fc;

    /// <summary>Creates the network.</summary>
    /// <param name="depth">6n + 4: 16, 40, …</param>
    /// <param name="widenFactor">The width multiplier k of the three stages (16k, 32k, 64k channels).</param>
    /// <param name="numClasses">Output classes.</param>
    public WideResNet(int depth, int widenFactor, int numClasses)
        : base("WideResNet")
    {
        if ((depth - 4) % 6 != 0 || depth < 10)
        {
            throw new ArgumentOutOfRangeException(nameof(depth), depth, "A wide ResNet has 6n + 4 layers (10, 16, 22, 28, 40, …).");
        }

        var blocks = (depth - 4) / 6;
        long[] channels = [16, 16 * widenFactor, 32 * widenFactor, 64 * widenFactor];
        conv1 = ZooLayers.Conv(3, channels[0], 3);
        block1 = NetworkBlock(blocks, channels[0], channels[1], stride: 1);
        block2 = NetworkBlock(blocks, channels[1], channels[2], stride: 2);
        block3 = NetworkBlock(blocks, channels[2], channels[3], stride: 2);
        bn1 = BatchNorm2d(channels[3]);
        relu = ReLU();
        avgpool = AdaptiveAvgPool2d(1);
        fc = Linear(channels[3], numClasses);
        RegisterComponents();
        ZooLayers.Initialize(this, zeroLinearBias: true);
    }

    /// <summary>RepDistiller's <c>NetworkBlock</c>, a module whose only child is the <c>layer</c> of blocks: the same names, one plain Sequential.</summary>
    private static Sequential NetworkBlock(int blocks, long input, long output, long stride)
    {
        var layer = Enumerable.Range(0, blocks)
            .Select(i => (Module<Tensor, Tensor>)new WideBasicBlock(i == 0 ? input : output, output, i == 0 ? stride : 1));
        return Sequential(("layer", ZooLayers.Numbered(layer)));
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var stem = conv1.call(input);
        using var x1 = block1.call(stem);
        using var x2 = block2.call(x1);
        using var x3 = block3.call(x2);
        using var activated = ZooLayers.Chain(x3, bn1, relu);
        using var pooled = avgpool.call(activated);
        using var flat = pooled.flatten(1);
        return fc.call(flat);
    }
}

/// <summary>
/// RepDistiller's wide-ResNet <c>BasicBlock</c>, pre-activation: BN → ReLU → conv3×3 → BN → ReLU →
/// conv3×3, added to the shortcut. When the channels change, the shortcut is <c>convShortcut</c>
/// (1×1, with the stride) applied to the pre-activated input; otherwise the identity on the raw input.
/// </summary>
internal sealed class WideBasicBlock : Module<Tensor, Tensor>
{
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu1;
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn2;
    private readonly ReLU relu2;
    private readonly Conv2d conv2;
    private readonly Conv2d? convShortcut;

    /// <summary>Creates the block.</summary>
    /// <param name="input">Input channels.</param>
    /// <param name="output">Output channels.</param>
    /// <param name="stride">The first convolution's (and the shortcut's) stride.</param>
    public WideBasicBlock(long input, long output, long stride)
        : base("BasicBlock")
    {
        bn1 = BatchNorm2d(input);
        relu1 = ReLU();
        conv1 = ZooLayers.Conv(input, output, 3, stride);
        bn2 = BatchNorm2d(output);
        relu2 = ReLU();
        conv2 = ZooLayers.Conv(output, output, 3);
        if (input != output)
        {
            // RepDistiller keys the shortcut on the channels only: a stride-2 block with equal
            // channels would add an identity of the wrong size, and no benchmark network has one.
            convShortcut = ZooLayers.Conv(input, output, 1, stride);
        }
        else if (stride != 1)
        {
            throw new ArgumentException($"A wide-ResNet block with {input} channels in and out cannot have stride {stride}: its shortcut is the identity.", nameof(stride));
        }

        RegisterComponents();
    }

    /// <summary>The 1×1 shortcut convolution when the channels change; null when the shortcut is the identity.</summary>
    public Conv2d? ConvShortcut => convShortcut;

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var preactivated = ZooLayers.Chain(input, bn1, relu1);
        using var a = ZooLayers.Chain(preactivated, conv1, bn2, relu2);
        using var b = conv2.call(a);
        if (convShortcut is null)
        {
            return input + b;
        }

        using var shortcut = convShortcut.call(preactivated);
        return shortcut + b;
    }
}
