using Distillation.Models;
using TorchSharp;

namespace Distillation.Onnx;

/// <summary>
/// The zoo's networks and blocks (<c>Distillation.Models.Zoo</c>): residual blocks, inverted residuals,
/// squeeze-and-excitation, and the networks' forward passes. The zoo's types are internal to
/// Distillation.Models, so they are recognised by full name, and their children by their registered
/// names, which are the state-dict names the zoo promises (RepDistiller's and torchvision's); a
/// renamed type or child fails the zoo's export tests rather than exporting something else.
/// </summary>
internal static class ZooEmitters
{
    private const string Namespace = "Distillation.Models.Zoo.";

    /// <summary>A step of <see cref="Chain"/> that flattens to [N, features] (the networks' <c>flatten(1)</c> before the head).</summary>
    private const string FlattenStep = "(flatten)";

    private static readonly Dictionary<string, Func<OnnxEmitContext, torch.nn.Module, OnnxValue, OnnxValue>> ByTypeName = new(StringComparer.Ordinal)
    {
        // The networks: their forward passes call these children in this order.
        [Namespace + "CifarResNet"] = Chain("conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool", FlattenStep, "fc"),
        [Namespace + "ResNet"] = Chain("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", FlattenStep, "fc"),
        [Namespace + "WideResNet"] = Chain("conv1", "block1", "block2", "block3", "bn1", "relu", "avgpool", FlattenStep, "fc"),
        [Namespace + "MobileNetV2"] = Chain("features", "avgpool", FlattenStep, "classifier"),
        [Namespace + "MobileNetV3"] = Chain("features", "avgpool", FlattenStep, "classifier"),
        [Namespace + "CifarMobileNetV2"] = Chain("conv1", "blocks", "conv2", "avgpool", FlattenStep, "classifier"),

        // The blocks.
        [Namespace + "BasicBlock"] = EmitBasicBlock,
        [Namespace + "CifarBasicBlock"] = EmitBasicBlock,
        [Namespace + "Bottleneck"] = EmitBottleneck,
        [Namespace + "WideBasicBlock"] = EmitWideBasicBlock,
        [Namespace + "InvertedResidualV2"] = (c, m, x) => EmitInvertedResidual(c, m, x, "conv"),
        [Namespace + "CifarInvertedResidual"] = (c, m, x) => EmitInvertedResidual(c, m, x, "conv"),
        [Namespace + "InvertedResidualV3"] = (c, m, x) => EmitInvertedResidual(c, m, x, "block"),
        [Namespace + "SqueezeExcitation"] = EmitSqueezeExcitation,
    };

    internal static Func<OnnxEmitContext, torch.nn.Module, OnnxValue, OnnxValue>? Find(torch.nn.Module module)
    {
        var type = module.GetType();
        return type.Assembly == typeof(FeatureClassifierNet).Assembly && type.FullName is { } name && ByTypeName.TryGetValue(name, out var emit) ? emit : null;
    }

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

    /// <summary>MobileNet's inverted residual: its sequence (<paramref name="body"/>), plus x when the block keeps the shape (<c>UsesResidual</c>).</summary>
    private static OnnxValue EmitInvertedResidual(OnnxEmitContext context, torch.nn.Module module, OnnxValue x, string body)
    {
        var children = new Children(context, module);
        var y = children.Emit(body, x);

        // The block's own flag, not a shape comparison: torchvision adds x only for stride 1 and equal channels.
        if (module.GetType().GetProperty("UsesResidual")?.GetValue(module) is not bool residual)
        {
            throw context.Unsupported("the zoo's inverted residual has no UsesResidual property to say whether it adds its input.");
        }

        return residual ? context.Add(x, y) : y;
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
