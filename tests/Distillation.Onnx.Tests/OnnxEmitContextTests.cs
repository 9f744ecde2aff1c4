using Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static Distillation.Onnx.Tests.OnnxTestSupport;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Onnx.Tests;

/// <summary>The typed operators of <see cref="OnnxEmitContext"/> and the activation emitters built on them.</summary>
public sealed class OnnxEmitContextTests
{
    public static TheoryData<string> Activations => ["relu6", "hardswish", "hardsigmoid", "silu", "gelu", "gelu-tanh", "relu", "sigmoid", "tanh"];

    private static Module<Tensor, Tensor> Activation(string name) => name switch
    {
        "relu6" => ReLU6(),
        "hardswish" => Hardswish(),
        "hardsigmoid" => Hardsigmoid(),
        "silu" => SiLU(),
        "gelu" => GELU(),
        "gelu-tanh" => GELU(TorchSharp.Modules.GELU.Approximate.tanh),
        "relu" => ReLU(),
        "sigmoid" => Sigmoid(),
        "tanh" => Tanh(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    [Theory]
    [MemberData(nameof(Activations))]
    public void Activations_follow_pytorch_across_their_bends(string name)
    {
        manual_seed(30);
        using var model = Sequential(("conv", Conv2d(3, 4, kernel_size: 3, padding: 1)), ("act", Activation(name)));
        using var folder = new TempFolder();
        var path = folder.File(name + ".onnx");

        OnnxExporter.Export(model, path, new OnnxExportOptions { InputShape = [3, 6, 6] });

        using var session = OpenSession(path);
        foreach (var batch in new long[] { 1, 7 })
        {
            // Scaled so that values fall on both sides of every bend (±3 for the hard functions, 6 for ReLU6).
            using var input = randn(batch, 3, 6, 6) * 6;
            AssertSameOutputs(session, model, input);
        }
    }

    [Fact]
    public void A_composite_module_written_with_the_typed_operators_matches_torchsharp()
    {
        manual_seed(31);
        using var model = Sequential(
            ("stem", Conv2d(3, 8, kernel_size: 3, padding: 1)),
            ("block", new TypedOperatorNetworks.SqueezeExciteResidual(8)),
            ("mix", new TypedOperatorNetworks.ConcatShuffle(8)),
            ("pool", AdaptiveAvgPool2d(1)),
            ("flatten", Flatten()),
            ("head", Linear(16, 5)));
        TestNetworks.RandomizeBatchNormStatistics(model);
        using var folder = new TempFolder();
        var path = folder.File("composite.onnx");

        OnnxExporter.Export(model, path, new OnnxExportOptions { InputShape = [3, 8, 8] });

        using var session = OpenSession(path);
        foreach (var batch in new long[] { 1, 7 })
        {
            using var input = randn(batch, 3, 8, 8);
            AssertSameOutputs(session, model, input);
        }

        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph;
        graph.Initializer.Select(t => t.Name).Should().Contain(["block.conv.weight", "block.squeeze.weight", "block.expand.bias", "mix.branches.1.weight"]);
        graph.Node.Select(n => n.OpType).Should().Contain(["GlobalAveragePool", "HardSigmoid", "Mul", "Add", "Concat", "Reshape", "Transpose"]);
    }

    [Fact]
    public void Inferred_shapes_reach_the_graph_output()
    {
        manual_seed(32);
        using var model = Sequential(("mix", new TypedOperatorNetworks.ConcatShuffle(6)));
        using var folder = new TempFolder();
        var path = folder.File("mix.onnx");

        OnnxExporter.Export(model, path, new OnnxExportOptions { InputShape = [6, 5, 7] });

        var output = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph.Output.Should().ContainSingle().Subject;
        output.Type.TensorType.Shape.Dim.Select(d => d.HasDimValue ? d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture) : d.DimParam)
            .Should().Equal("batch", "12", "5", "7");
    }

    [Fact]
    public void Adding_mismatched_shapes_fails_naming_the_module_and_both_shapes()
    {
        using var model = Sequential(("stage", Sequential(("0", new TypedOperatorNetworks.BrokenResidual(4)))));
        using var folder = new TempFolder();
        var path = folder.File("broken.onnx");

        var act = () => OnnxExporter.Export(model, path, new OnnxExportOptions { InputShape = [4, 8, 8] });

        var error = act.Should().Throw<OnnxExportException>().Which;
        error.ModulePath.Should().Be("stage.0");
        error.ModuleType.Should().Be<TypedOperatorNetworks.BrokenResidual>();
        error.Message.Should().Contain("Add").And.Contain("[batch, 4, 8, 8]").And.Contain("[batch, 4, 4, 4]");
        File.Exists(path).Should().BeFalse();
    }

    [Fact]
    public void Emitting_a_module_that_is_not_registered_fails_naming_the_parent()
    {
        using var model = Sequential(("body", new TypedOperatorNetworks.UnregisteredChild()));
        using var folder = new TempFolder();

        var act = () => OnnxExporter.Export(model, folder.File("model.onnx"), new OnnxExportOptions { InputShape = [3, 4, 4] });

        act.Should().Throw<OnnxExportException>()
            .Where(e => e.ModulePath == "body" && e.Message.Contains("not registered") && e.Message.Contains("RegisterComponents"));
    }

    [Fact]
    public void A_child_without_an_emitter_fails_with_its_own_path()
    {
        using var model = Sequential(("body", new TypedOperatorNetworks.WithUnknownChild()));
        using var folder = new TempFolder();

        var act = () => OnnxExporter.Export(model, folder.File("model.onnx"), new OnnxExportOptions { InputShape = [3, 4, 4] });

        act.Should().Throw<OnnxExportException>().Where(e => e.ModulePath == "body.inner" && e.ModuleType == typeof(TestNetworks.Doubler));
    }

    public static TheoryData<string, string> ShapeErrors => new()
    {
        { "concat", "differ outside axis 1" },
        { "reshape-count", "different number of elements" },
        { "reshape-batch", "fixes" },
        { "reshape-two-inferred", "more than one" },
        { "transpose", "not a permutation" },
        { "flatten-axis", "out of range" },
        { "softmax-axis", "out of range" },
        { "pool-rank", "GlobalAveragePool" },
        { "clip", "min ≤ max" },
    };

    [Theory]
    [MemberData(nameof(ShapeErrors))]
    public void Operators_refuse_inputs_that_do_not_fit(string operation, string reason)
    {
        using var model = Sequential(("op", new TypedOperatorNetworks.SingleOperation(operation)));
        using var folder = new TempFolder();

        var act = () => OnnxExporter.Export(model, folder.File("model.onnx"), new OnnxExportOptions { InputShape = [4, 6, 6] });

        act.Should().Throw<OnnxExportException>().Where(e => e.ModulePath == "op" && e.Message.Contains(reason), reason);
    }

    [Theory]
    [InlineData(new long[] { -1, 3, 4, 4 }, new long[] { 3, 1, 1 }, new long[] { -1, 3, 4, 4 })]
    [InlineData(new long[] { -1, 3, 4, 4 }, new long[] { -1, 3, 1, 1 }, new long[] { -1, 3, 4, 4 })]
    [InlineData(new long[] { -1, 3, 1, 1 }, new long[] { 2, 1, 4, 4 }, new long[] { 2, 3, 4, 4 })]
    [InlineData(new long[] { 5 }, new long[] { }, new long[] { 5 })]
    public void Broadcasting_follows_numpy(long[] a, long[] b, long[] expected)
    {
        OnnxShapes.Broadcast(a, b, out var error).Should().Equal(expected);
        error.Should().BeNull();
    }

    [Theory]
    [InlineData(new long[] { -1, 8, 2, 3 }, new long[] { 0, -1 }, new long[] { -1, 48 })]
    [InlineData(new long[] { -1, 8, 2, 3 }, new long[] { 0, 2, 4, 6 }, new long[] { -1, 2, 4, 6 })]
    [InlineData(new long[] { -1, 8, 2, 3 }, new long[] { -1, 6 }, new long[] { -1, 6 })]
    [InlineData(new long[] { 4, 6 }, new long[] { 3, -1 }, new long[] { 3, 8 })]
    public void Reshape_infers_copied_and_remaining_dimensions(long[] input, long[] target, long[] expected)
    {
        OnnxShapes.Reshape(input, target, out var error).Should().Equal(expected);
        error.Should().BeNull();
    }
}

/// <summary>Users' composite modules, written with the typed operators only (no shapes by hand).</summary>
internal static class TypedOperatorNetworks
{
    /// <summary>x + SE(relu(bn(conv(x)))): a residual connection around a squeeze-and-excitation gate.</summary>
    public sealed class SqueezeExciteResidual : Module<Tensor, Tensor>, IOnnxExportable
    {
        private readonly Conv2d conv;
        private readonly BatchNorm2d bn;
        private readonly Conv2d squeeze;
        private readonly Conv2d expand;

        public SqueezeExciteResidual(long channels)
            : base(nameof(SqueezeExciteResidual))
        {
            conv = Conv2d(channels, channels, kernel_size: 3, padding: 1, bias: false);
            bn = BatchNorm2d(channels);
            squeeze = Conv2d(channels, channels / 4, kernel_size: 1);
            expand = Conv2d(channels / 4, channels, kernel_size: 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            var y = functional.relu(bn.call(conv.call(input)));
            var gate = functional.hardsigmoid(expand.call(functional.relu6(squeeze.call(functional.adaptive_avg_pool2d(y, 1)))));
            return input + y * gate;
        }

        public OnnxValue EmitOnnx(OnnxEmitContext context, OnnxValue input)
        {
            var y = context.Relu(context.EmitModule(bn, context.EmitModule(conv, input)));
            var gate = context.HardSigmoid(context.EmitModule(expand, context.Relu6(context.EmitModule(squeeze, context.GlobalAveragePool(y)))));
            return context.Add(input, context.Mul(y, gate));
        }
    }

    /// <summary>
    /// Two branches (a SiLU and a GELU-tanh convolution) joined along the channels, then ShuffleNet's
    /// channel shuffle (reshape, transpose, reshape back); the branches live in a ModuleList.
    /// </summary>
    public sealed class ConcatShuffle : Module<Tensor, Tensor>, IOnnxExportable
    {
        private readonly ModuleList<Module<Tensor, Tensor>> branches;

        public ConcatShuffle(long channels)
            : base(nameof(ConcatShuffle))
        {
            branches = ModuleList<Module<Tensor, Tensor>>(Conv2d(channels, channels, kernel_size: 1), Conv2d(channels, channels, kernel_size: 3, padding: 1));
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            var joined = cat([functional.silu(branches[0].call(input)), functional.gelu(branches[1].call(input), approximate: TorchSharp.Modules.GELU.Approximate.tanh)], 1);
            var (n, c, h, w) = (joined.shape[0], joined.shape[1], joined.shape[2], joined.shape[3]);
            return joined.reshape(n, 2, c / 2, h, w).transpose(1, 2).reshape(n, c, h, w) - joined / 3;
        }

        public OnnxValue EmitOnnx(OnnxEmitContext context, OnnxValue input)
        {
            var joined = context.Concat([context.Silu(context.EmitModule(branches[0], input)), context.Gelu(context.EmitModule(branches[1], input), tanhApproximation: true)]);
            var (c, h, w) = (joined.Shape[1], joined.Shape[2], joined.Shape[3]);
            var grouped = context.Reshape(joined, [0, 2, c / 2, h, w]);
            var shuffled = context.Reshape(context.Transpose(grouped, [0, 2, 1, 3, 4]), [0, c, h, w]);
            return context.Sub(shuffled, context.Div(joined, context.Constant(3f)));
        }
    }

    /// <summary>Adds a strided convolution's output to its input: the shapes differ, as a residual block without its projection.</summary>
    public sealed class BrokenResidual : Module<Tensor, Tensor>, IOnnxExportable
    {
        private readonly Conv2d conv;

        public BrokenResidual(long channels)
            : base(nameof(BrokenResidual))
        {
            conv = Conv2d(channels, channels, kernel_size: 3, stride: 2, padding: 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input) => input + conv.call(input);

        public OnnxValue EmitOnnx(OnnxEmitContext context, OnnxValue input) => context.Add(input, context.EmitModule(conv, input));
    }

    /// <summary>Emits a convolution it never registered.</summary>
    public sealed class UnregisteredChild() : Module<Tensor, Tensor>(nameof(UnregisteredChild)), IOnnxExportable
    {
        private readonly Conv2d stray = Conv2d(3, 3, kernel_size: 1);

        public override Tensor forward(Tensor input) => stray.call(input);

        public OnnxValue EmitOnnx(OnnxEmitContext context, OnnxValue input) => context.EmitModule(stray, input);
    }

    /// <summary>Holds a module no exporter knows.</summary>
    public sealed class WithUnknownChild : Module<Tensor, Tensor>, IOnnxExportable
    {
        private readonly TestNetworks.Doubler inner = new();

        public WithUnknownChild()
            : base(nameof(WithUnknownChild)) => RegisterComponents();

        public override Tensor forward(Tensor input) => inner.call(input);

        public OnnxValue EmitOnnx(OnnxEmitContext context, OnnxValue input) => context.Relu(context.EmitModule(inner, input));
    }

    /// <summary>One operator applied to inputs that do not fit it (input [batch, 4, 6, 6]).</summary>
    public sealed class SingleOperation(string operation) : Module<Tensor, Tensor>(nameof(SingleOperation)), IOnnxExportable
    {
        public override Tensor forward(Tensor input) => throw new NotSupportedException("Only exported.");

        public OnnxValue EmitOnnx(OnnxEmitContext context, OnnxValue x) => operation switch
        {
            "concat" => context.Concat([x, context.GlobalAveragePool(x)]),
            "reshape-count" => context.Reshape(x, [0, 4, 35]),
            "reshape-batch" => context.Reshape(x, [2, 144]),
            "reshape-two-inferred" => context.Reshape(x, [0, -1, -1]),
            "transpose" => context.Transpose(x, [0, 1, 1, 3]),
            "flatten-axis" => context.Flatten(x, 5),
            "softmax-axis" => context.Softmax(x, 4),
            "pool-rank" => context.GlobalAveragePool(context.Flatten(x)),
            "clip" => context.Clip(x, 1f, 0f),
            _ => throw new InvalidOperationException("Unknown operation " + operation),
        };
    }
}
