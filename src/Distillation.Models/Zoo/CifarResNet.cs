using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Models.Zoo;

/// <summary>
/// The CIFAR ResNet of the distillation benchmarks (RepDistiller's and mdistiller's
/// <c>models/cifar/resnet.py</c>, after He et al. 2016): a 3×3 stem, three stages of basic blocks
/// (<c>layer1</c> to <c>layer3</c>, strides 1, 2, 2), global average pooling and <c>fc</c>. Where a
/// block changes the shape, its shortcut is a 1×1 convolution and BatchNorm ("option B", as both
/// benchmarks use), so resnet20 has 0.27 M parameters for 10 classes. Module and parameter names
/// are RepDistiller's, so its checkpoints load as they are.
/// </summary>
/// <remarks>
/// RepDistiller pools with a fixed 8×8 window, valid for 32×32 inputs only; this pools globally,
/// which is the same at 32×32 and lets the model take larger images.
/// </remarks>
internal sealed class CifarResNet : Module<Tensor, Tensor>
{
    // Field order is PyTorch's registration order, so state_dict() lists keys as PyTorch does.
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Linear fc;

    /// <summary>Creates the network.</summary>
    /// <param name="depth">6n + 2 layers: 20, 32, 56, 110, or 8.</param>
    /// <param name="filters">The stem's channels, then each stage's: [16, 16, 32, 64], or [32, 64, 128, 256] for the ×4 variants.</param>
    /// <param name="numClasses">Output classes.</param>
    public CifarResNet(int depth, IReadOnlyList<int> filters, int numClasses)
        : base("CifarResNet")
    {
        if ((depth - 2) % 6 != 0 || depth < 8)
        {
            throw new ArgumentOutOfRangeException(nameof(depth), depth, "A CIFAR ResNet of basic blocks has 6n + 2 layers (8, 20, 32, 56, 110, …).");
        }

        var blocks = (depth - 2) / 6;
        conv1 = ZooLayers.Conv(3, filters[0], 3);
        bn1 = BatchNorm2d(filters[0]);
        relu = ReLU();
        long channels = filters[0];
        layer1 = MakeLayer(ref channels, filters[1], blocks, stride: 1);
        layer2 = MakeLayer(ref channels, filters[2], blocks, stride: 2);
        layer3 = MakeLayer(ref channels, filters[3], blocks, stride: 2);
        avgpool = AdaptiveAvgPool2d(1);
        fc = Linear(filters[3], numClasses);
        RegisterComponents();
        ZooLayers.Initialize(this);
    }

    private static Sequential MakeLayer(ref long channels, long planes, int blocks, long stride)
    {
        var layer = new List<Module<Tensor, Tensor>>();
        for (var i = 0; i < blocks; i++)
        {
            layer.Add(new CifarBasicBlock(channels, planes, i == 0 ? stride : 1));
            channels = planes;
        }

        return ZooLayers.Numbered(layer);
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var stem = ZooLayers.Chain(input, conv1, bn1, relu);
        using var x1 = layer1.call(stem);
        using var x2 = layer2.call(x1);
        using var x3 = layer3.call(x2);
        using var pooled = avgpool.call(x3);
        using var flat = pooled.flatten(1);
        return fc.call(flat);
    }
}

/// <summary>
/// RepDistiller's CIFAR <c>BasicBlock</c>: conv3×3 → BN → ReLU → conv3×3 → BN, plus the shortcut
/// (identity, or <c>downsample</c>: conv1×1 with the stride → BN), then ReLU.
/// </summary>
internal sealed class CifarBasicBlock : Module<Tensor, Tensor>
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
    /// <param name="stride">The first convolution's stride (2 where a stage halves the resolution).</param>
    public CifarBasicBlock(long input, long planes, long stride)
        : base("BasicBlock")
    {
        conv1 = ZooLayers.Conv(input, planes, 3, stride);
        bn1 = BatchNorm2d(planes);
        relu = ReLU();
        conv2 = ZooLayers.Conv(planes, planes, 3);
        bn2 = BatchNorm2d(planes);
        if (stride != 1 || input != planes)
        {
            downsample = Sequential(("0", ZooLayers.Conv(input, planes, 1, stride)), ("1", BatchNorm2d(planes)));
        }

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
