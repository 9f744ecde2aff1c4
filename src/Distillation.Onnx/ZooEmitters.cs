using Distillation.Models.Zoo;
using TorchSharp;

namespace Distillation.Onnx;

/// <summary>
/// The zoo's networks and blocks (<see cref="ModelZoo"/>): residual blocks, inverted residuals,
/// squeeze-and-excitation, and the networks' forward passes. The blocks keep their children in
/// private fields, so these follow the children's registered names, which are the state-dict names
/// the zoo promises (RepDistiller's and torchvision's); a renamed child fails the export with the
/// block's path rather than exporting something else.
/// </summary>
internal static class ZooEmitters
{
    /// <summary>A step of <see cref="Chain"/> that flattens to [N, features] (the networks' <c>flatten(1)</c> before the head).</summary>
    private const string FlattenStep = "(flatten)";

    private static readonly Dictionary<Type, Func<OnnxEmitContext, torch.nn.Module, OnnxValue, OnnxValue>> ByType = new()
    {
        // The networks: their forward passes call these children in this order.
        [typeof(CifarResNet)] = Chain("conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool", FlattenStep, "fc"),
        [typeof(ResNet)] = Chain("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", FlattenStep, "fc"),
        [typeof(WideResNet)] = Chain("conv1", "block1", "block2", "block3", "bn1", "relu", "avgpool", FlattenStep, "fc"),
        [typeof(MobileNetV2)] = Chain("features", "avgpool", FlattenStep, "classifier"),
        [typeof(MobileNetV3)] = Chain("features", "avgpool", FlattenStep, "classifier"),
        [typeof(CifarMobileNetV2)] = Chain("conv1", "blocks", "conv2", "avgpool", FlattenStep, "classifier"),
        [typeof(AirbenchNet)] = EmitAirbench,

        // The blocks.
        [typeof(BasicBlock)] = EmitBasicBlock,
        [typeof(CifarBasicBlock)] = EmitBasicBlock,
        [typeof(Bottleneck)] = EmitBottleneck,
        [typeof(WideBasicBlock)] = EmitWideBasicBlock,
        [typeof(InvertedResidualV2)] = (c, m, x) => EmitInvertedResidual(c, m, x, "conv", ((InvertedResidualV2)m).UsesResidual),
        [typeof(CifarInvertedResidual)] = (c, m, x) => EmitInvertedResidual(c, m, x, "conv", ((CifarInvertedResidual)m).UsesResidual),
        [typeof(InvertedResidualV3)] = (c, m, x) => EmitInvertedResidual(c, m, x, "block", ((InvertedResidualV3)m).UsesResidual),
        [typeof(SqueezeExcitation)] = EmitSqueezeExcitation,
    };

    internal static Func<OnnxEmitContext, torch.nn.Module, OnnxValue, OnnxValue>? Find(torch.nn.Module module) =>
        ByType.TryGetValue(module.GetType(), out var emit) ? emit : null;

    private static Func<OnnxEmitContext, torch.nn.Module, OnnxValue, OnnxValue> Chain(params string[] steps) => (context, module, input) =>
    {
        var children = new Children(context, module);
        var value = input;
        foreach (var step in steps)
        {
            value = step == FlattenStep ? context.Flatten(value) : children.Emit(step, value);
        }

        return value;
    };

    /// <summary>head(max over positions(block3(block2(block1(gelu(whiten(x))))))) / 9: airbench's net with a global max-pool.</summary>
    private static OnnxValue EmitAirbench(OnnxEmitContext context, torch.nn.Module module, OnnxValue x)
    {
        var children = new Children(context, module);
        var features = children.Emit("block3", children.Emit("block2", children.Emit("block1", children.Emit("activation", children.Emit("whiten", x)))));
        var pooled = context.AddNode("GlobalMaxPool", [features], [features.Shape[0], features.Shape[1], 1, 1]);
        var logits = children.Emit("head", context.Flatten(pooled));
        return context.Mul(logits, context.Constant((float)AirbenchNet.LogitScale));
    }

    /// <summary>relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); the shortcut is <c>downsample</c> when present (torchvision, RepDistiller).</summary>
    private static OnnxValue EmitBasicBlock(OnnxEmitContext context, torch.nn.Module module, OnnxValue x)
    {
        var children = new Children(context, module);
        var y = children.Emit("relu", children.Emit("bn1", children.Emit("conv1", x)));
        y = children.Emit("bn2", children.Emit("conv2", y));
        return children.Emit("relu", context.Add(y, children.EmitOptional("downsample", x) ?? x));
    }

    /// <summary>relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x)), torchvision's v1.5 bottleneck.</summary>
    private static OnnxValue EmitBottleneck(OnnxEmitContext context, torch.nn.Module module, OnnxValue x)
    {
        var children = new Children(context, module);
        var y = children.Emit("relu", children.Emit("bn1", children.Emit("conv1", x)));
        y = children.Emit("relu", children.Emit("bn2", children.Emit("conv2", y)));
        y = children.Emit("bn3", children.Emit("conv3", y));
        return children.Emit("relu", context.Add(y, children.EmitOptional("downsample", x) ?? x));
    }

    /// <summary>
    /// RepDistiller's pre-activation wide block: p = relu1(bn1(x)); conv2(relu2(bn2(conv1(p)))) plus
    /// <c>convShortcut(p)</c> where the channels change, else plus x itself.
    /// </summary>
    private static OnnxValue EmitWideBasicBlock(OnnxEmitContext context, torch.nn.Module module, OnnxValue x)
    {
        var children = new Children(context, module);
        var preactivated = children.Emit("relu1", children.Emit("bn1", x));
        var y = children.Emit("relu2", children.Emit("bn2", children.Emit("conv1", preactivated)));
        y = children.Emit("conv2", y);
        return context.Add(children.EmitOptional("convShortcut", preactivated) ?? x, y);
    }

    /// <summary>
    /// MobileNet's inverted residual: its sequence (<paramref name="body"/>), plus x when the block says so
    /// (its own flag, not a shape comparison: torchvision adds x only for stride 1 and equal channels).
    /// </summary>
    private static OnnxValue EmitInvertedResidual(OnnxEmitContext context, torch.nn.Module module, OnnxValue x, string body, bool usesResidual)
    {
        var y = new Children(context, module).Emit(body, x);
        return usesResidual ? context.Add(x, y) : y;
    }

    /// <summary>torchvision's SqueezeExcitation: x · scale_activation(fc2(activation(fc1(avgpool(x))))).</summary>
    private static OnnxValue EmitSqueezeExcitation(OnnxEmitContext context, torch.nn.Module module, OnnxValue x)
    {
        var children = new Children(context, module);
        var scale = children.Emit("fc1", children.Emit("avgpool", x));
        scale = children.Emit("scale_activation", children.Emit("fc2", children.Emit("activation", scale)));
        return context.Mul(x, scale);
    }

    /// <summary>A module's children by registered name.</summary>
    private readonly struct Children(OnnxEmitContext context, torch.nn.Module module)
    {
        private readonly Dictionary<string, torch.nn.Module> byName = module.named_children().ToDictionary(c => c.name, c => c.module, StringComparer.Ordinal);

        public OnnxValue Emit(string name, OnnxValue input) =>
            EmitOptional(name, input) ?? throw context.Unsupported(
                $"the zoo's {module.GetType().Name} has no child '{name}' (children: {string.Join(", ", byName.Keys)}); the exporter follows the zoo's module names.");

        public OnnxValue? EmitOptional(string name, OnnxValue input) =>
            byName.TryGetValue(name, out var child) ? context.EmitModule(name, child, input) : null;
    }
}
