using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Onnx.Tests;

/// <summary>Networks the tests export.</summary>
internal static class TestNetworks
{
    /// <summary>The input (C, H, W) of <see cref="EveryLayer"/>: 20×20, so that ceil-mode windows overhang.</summary>
    public static readonly long[] EveryLayerInput = [3, 20, 20];

    /// <summary>
    /// Every supported layer, in configurations where PyTorch and a naive ONNX translation differ:
    /// dilated, strided, grouped convolution without bias; 'same' padding; ceil-mode pools whose last
    /// window overhangs the input; count_include_pad both ways; BatchNorm with non-trivial statistics.
    /// </summary>
    public static Sequential EveryLayer()
    {
        var features = Sequential(
            ("0", Conv2d(3, 8, kernel_size: 3, padding: 1)),
            ("1", BatchNorm2d(8)),
            ("2", ReLU()),
            ("3", Conv2d(8, 8, kernel_size: 3, stride: 2, padding: 2, dilation: 2, groups: 2, bias: false)),
            ("4", LeakyReLU(0.1)),
            ("5", MaxPool2d(kernel_size: 3, stride: 2, padding: 1, ceil_mode: true)),
            ("6", GELU()),
            ("7", Conv2d(8, 8, kernel_size: 3, Padding.Same)),
            ("8", AvgPool2d(kernel_size: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: true)),
            ("9", Tanh()),
            ("10", Dropout2d(0.3)),
            ("11", Conv2d(8, 16, kernel_size: 1)),
            ("12", AvgPool2d(kernel_size: 2, stride: 1, padding: 1, ceil_mode: true, count_include_pad: false)),
            ("13", Sigmoid()),
            ("14", AdaptiveAvgPool2d(1)));
        var classifier = Sequential(
            ("0", Flatten()),
            ("1", Dropout(0.5)),
            ("2", Linear(16, 32)),
            ("3", BatchNorm1d(32)),
            ("4", GELU(TorchSharp.Modules.GELU.Approximate.tanh)),
            ("5", Identity()),
            ("6", Linear(32, 10)),
            ("7", Softmax(1)));
        var model = Sequential(("features", features), ("classifier", classifier));
        RandomizeBatchNormStatistics(model);
        return model;
    }

    /// <summary>Gives every BatchNorm running statistics and affine parameters far from their defaults, so an export that ignores them fails.</summary>
    public static void RandomizeBatchNormStatistics(Module model)
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in model.named_modules())
        {
            if (module is BatchNorm norm)
            {
                var channels = norm.num_features;
                norm.running_mean!.copy_(randn(channels) * 0.5);
                norm.running_var!.copy_(rand(channels) + 0.5);
                norm.weight!.copy_(rand(channels) + 0.5);
                norm.bias!.copy_(randn(channels) * 0.2);
            }
        }
    }

    /// <summary>Multiplies by two: a module no exporter knows.</summary>
    public class Doubler() : Module<Tensor, Tensor>(nameof(Doubler))
    {
        public override Tensor forward(Tensor input) => input * 2;
    }

    /// <summary>A <see cref="Doubler"/> subclass, to check that an emitter registered for a base type serves it.</summary>
    public sealed class DerivedDoubler : Doubler
    {
    }

    /// <summary>Exports <see cref="Doubler"/> as a Mul by a constant.</summary>
    public sealed class DoublerEmitter : IOnnxModuleEmitter
    {
        public OnnxValue Emit(OnnxEmitContext context, Module layer, OnnxValue input)
        {
            using var two = tensor(2f);
            var factor = context.AddInitializer("factor", two);
            return context.AddNode("Mul", [input, factor], input.Shape);
        }
    }

    /// <summary>x + conv(x): a user's module that exports itself, and exports a child through the context.</summary>
    public sealed class ResidualBlock : Module<Tensor, Tensor>, IOnnxExportable
    {
        private readonly Conv2d conv;

        public ResidualBlock(long channels)
            : base(nameof(ResidualBlock))
        {
            conv = Conv2d(channels, channels, kernel_size: 3, padding: 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input) => input + conv.call(input);

        public OnnxValue EmitOnnx(OnnxEmitContext context, OnnxValue input)
        {
            var convolved = context.EmitModule(nameof(conv), conv, input);
            return context.AddNode("Add", [input, convolved], input.Shape);
        }
    }
}
