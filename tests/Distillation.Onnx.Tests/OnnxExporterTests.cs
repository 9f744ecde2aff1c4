using System.Text.Json;
using Distillation.Data;
using Distillation.Models;
using Distillation.Tests.TestSupport;
using Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static Distillation.Onnx.Tests.OnnxTestSupport;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Onnx.Tests;

public sealed class OnnxExporterTests
{
    public static TheoryData<string> Networks => ["teacher", "student", "every-layer"];

    private static (Module<Tensor, Tensor> Model, long[] InputShape) Build(string network) => network switch
    {
        "teacher" => (new TeacherNet(), [3, 32, 32]),
        "student" => (new StudentNet(), [3, 32, 32]),
        "every-layer" => (TestNetworks.EveryLayer(), TestNetworks.EveryLayerInput),
        _ => throw new ArgumentOutOfRangeException(nameof(network), network, null),
    };

    [Theory]
    [MemberData(nameof(Networks))]
    public void Export_runs_in_onnx_runtime_like_torchsharp_at_batch_1_and_7(string network)
    {
        manual_seed(1);
        var (model, inputShape) = Build(network);
        using var disposeModel = model;
        using var folder = new TempFolder();
        var path = folder.File(network + ".onnx");

        OnnxExporter.Export(model, path, new OnnxExportOptions { InputShape = inputShape });

        using var session = OpenSession(path);
        foreach (var batch in new long[] { 1, 7 })
        {
            using var scope = NewDisposeScope();
            var input = randn([batch, .. inputShape]);
            AssertSameOutputs(session, model, input);
        }
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void Export_leaves_the_module_in_its_mode(string network)
    {
        manual_seed(2);
        var (model, inputShape) = Build(network);
        using var disposeModel = model;
        using var folder = new TempFolder();
        model.train();

        OnnxExporter.Export(model, folder.File("model.onnx"), new OnnxExportOptions { InputShape = inputShape });

        model.training.Should().BeTrue("the export reads the module and must not switch it to eval");
    }

    [Fact]
    public void Student_and_teacher_agree_with_torchsharp_on_cifar10_format_batches()
    {
        using var folder = new TempFolder();
        var root = CifarFiles.Write(folder.File("cifar"), recordsPerFile: 96);
        using var test = Cifar10Dataset.Load(root, Cifar10Split.Test, CifarFiles.AnyCount);
        using var slice = test.Take(96);
        using var plan = slice.PlanBatches(32);
        manual_seed(3);
        using var teacher = new TeacherNet();
        using var student = new StudentNet();
        foreach (var (name, model) in new (string, FeatureClassifierNet)[] { ("teacher", teacher), ("student", student) })
        {
            var path = folder.File(name + ".onnx");
            OnnxExporter.Export(model, path, new OnnxExportOptions { ClassNames = test.ClassNames, Normalization = test.Normalization });
            using var session = OpenSession(path);
            for (var b = 0; b < plan.BatchCount; b++)
            {
                using var scope = NewDisposeScope();
                var batch = plan.GetBatch(b);
                AssertSameOutputs(session, model, batch.Images);
            }
        }
    }

    [Fact]
    public void Student_file_is_opset_17_ir_8_with_a_dynamic_batch_and_state_dict_names()
    {
        manual_seed(4);
        using var student = new StudentNet();
        using var folder = new TempFolder();
        var path = folder.File("student.onnx");

        OnnxExporter.Export(student, path);

        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        model.IrVersion.Should().Be(8);
        model.OpsetImport.Should().ContainSingle().Which.Version.Should().Be(17);
        model.ProducerName.Should().Be("Distillation.Onnx");
        model.ProducerVersion.Should().NotBeNullOrEmpty();
        var input = model.Graph.Input.Should().ContainSingle().Subject;
        input.Name.Should().Be("input");
        input.Type.TensorType.Shape.Dim.Select(d => d.HasDimValue ? d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture) : d.DimParam)
            .Should().Equal("batch", "3", "32", "32");
        var output = model.Graph.Output.Should().ContainSingle().Subject;
        output.Name.Should().Be("logits");
        output.Type.TensorType.Shape.Dim.Select(d => d.HasDimValue ? d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture) : d.DimParam)
            .Should().Equal("batch", "10");
        model.Graph.Initializer.Should().OnlyContain(t => t.DataType == (int)TensorProto.Types.DataType.Float);
        model.Graph.Initializer.Select(t => t.Name).Should().BeEquivalentTo(student.state_dict().Keys);
        model.Graph.Node.Select(n => n.OpType).Should().Equal("Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu", "Gemm");
    }

    [Fact]
    public void Metadata_round_trips_through_onnx_runtime()
    {
        manual_seed(5);
        using var student = new StudentNet();
        using var folder = new TempFolder();
        var path = folder.File("student.onnx");
        var options = new OnnxExportOptions
        {
            ClassNames = Cifar10Dataset.DefaultClassNames,
            Normalization = ImageNormalization.Cifar10,
            Metadata = { ["run"] = "distilled, 5 epochs" },
        };

        OnnxExporter.Export(student, path, options);

        using var session = OpenSession(path);
        var metadata = session.ModelMetadata;
        metadata.ProducerName.Should().Be(OnnxExporter.ProducerName);
        metadata.GraphName.Should().Be(nameof(StudentNet));
        var map = metadata.CustomMetadataMap;
        JsonSerializer.Deserialize<string[]>(map[OnnxMetadataKeys.ClassNames]).Should().Equal(Cifar10Dataset.DefaultClassNames);
        JsonSerializer.Deserialize<float[]>(map[OnnxMetadataKeys.NormalizationMean]).Should().Equal(ImageNormalization.Cifar10.Mean);
        JsonSerializer.Deserialize<float[]>(map[OnnxMetadataKeys.NormalizationStd]).Should().Equal(ImageNormalization.Cifar10.Std);
        map[OnnxMetadataKeys.NormalizationFormula].Should().Contain("255");
        JsonSerializer.Deserialize<long[]>(map[OnnxMetadataKeys.InputShape]).Should().Equal(3, 32, 32);
        map[OnnxMetadataKeys.ProducerName].Should().Be("Distillation.Onnx");
        map[OnnxMetadataKeys.ProducerVersion].Should().Be(OnnxExporter.ProducerVersion).And.MatchRegex(@"^\d+\.\d+\.\d+");
        map["run"].Should().Be("distilled, 5 epochs");
    }

    [Fact]
    public void Without_class_names_or_normalization_only_the_shape_and_producer_are_written()
    {
        manual_seed(6);
        using var student = new StudentNet();
        using var folder = new TempFolder();
        var path = folder.File("student.onnx");

        OnnxExporter.Export(student, path);

        using var session = OpenSession(path);
        session.ModelMetadata.CustomMetadataMap.Keys.Should().BeEquivalentTo(
            OnnxMetadataKeys.InputShape, OnnxMetadataKeys.ProducerName, OnnxMetadataKeys.ProducerVersion);
    }

    [Fact]
    public void An_unsupported_module_is_refused_with_its_path_and_type_and_nothing_is_written()
    {
        manual_seed(7);
        using var model = Sequential(
            ("features", Sequential(
                ("0", Conv2d(3, 4, kernel_size: 3, padding: 1)),
                ("1", ReLU()),
                ("2", Conv2d(4, 4, kernel_size: 3, padding: 1)),
                ("3", new TestNetworks.Doubler()))),
            ("classifier", Sequential(("0", Flatten()), ("1", Linear(4 * 32 * 32, 10)))));
        using var folder = new TempFolder();
        var path = folder.File("model.onnx");
        File.WriteAllText(path, "previous export");

        var act = () => OnnxExporter.Export(model, path);

        var error = act.Should().Throw<OnnxExportException>().Which;
        error.ModulePath.Should().Be("features.3");
        error.ModuleType.Should().Be<TestNetworks.Doubler>();
        error.Message.Should().Contain("'features.3'").And.Contain(nameof(TestNetworks.Doubler)).And.Contain("IOnnxModuleEmitter");
        File.ReadAllText(path).Should().Be("previous export", "a refused export must not touch an existing file");
        Directory.GetFiles(folder.Path).Should().ContainSingle("no temporary file may be left behind");
    }

    [Fact]
    public void A_refused_export_creates_no_file()
    {
        using var model = Sequential(("0", new TestNetworks.Doubler()));
        using var folder = new TempFolder();
        var path = folder.File("sub/model.onnx");

        var act = () => OnnxExporter.Export(model, path);

        act.Should().Throw<OnnxExportException>().Which.ModulePath.Should().Be("0");
        Directory.EnumerateFileSystemEntries(folder.Path, "*", SearchOption.AllDirectories).Should().BeEmpty();
    }

    [Fact]
    public void A_registered_emitter_exports_its_type_and_the_types_deriving_from_it()
    {
        manual_seed(8);
        using var model = Sequential(
            ("0", Conv2d(3, 4, kernel_size: 3)),
            ("1", new TestNetworks.Doubler()),
            ("2", new TestNetworks.DerivedDoubler()),
            ("3", Flatten()));
        using var folder = new TempFolder();
        var path = folder.File("model.onnx");
        var options = new OnnxExportOptions { Emitters = { [typeof(TestNetworks.Doubler)] = new TestNetworks.DoublerEmitter() } };

        OnnxExporter.Export(model, path, options);

        using var session = OpenSession(path);
        using var input = randn(3, 3, 32, 32);
        AssertSameOutputs(session, model, input);
        ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph.Initializer.Select(t => t.Name).Should().Contain(["1.factor", "2.factor"]);
    }

    [Fact]
    public void A_module_implementing_IOnnxExportable_exports_itself_and_its_children()
    {
        manual_seed(9);
        using var model = Sequential(
            ("stem", Conv2d(3, 6, kernel_size: 3, padding: 1)),
            ("block", new TestNetworks.ResidualBlock(6)),
            ("pool", AdaptiveAvgPool2d(4)),
            ("flatten", Flatten()),
            ("head", Linear(6 * 4 * 4, 5)));
        using var folder = new TempFolder();
        var path = folder.File("model.onnx");

        OnnxExporter.Export(model, path);

        using var session = OpenSession(path);
        using var input = randn(2, 3, 32, 32);
        AssertSameOutputs(session, model, input);
        ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph.Initializer.Select(t => t.Name).Should().Contain(["block.conv.weight", "block.conv.bias"]);
    }

    public static TheoryData<string, int, int, int, int, bool, bool> PoolCases => new()
    {
        // kind, kernel, stride (0 = PyTorch's default, the kernel), padding, dilation, ceil_mode, count_include_pad
        { "max", 2, 0, 0, 1, false, true },
        { "max", 3, 0, 0, 1, false, true },
        { "max", 3, 2, 1, 1, true, true },
        { "max", 2, 2, 0, 1, true, true },
        { "max", 3, 1, 1, 2, false, true },
        { "max", 3, 2, 1, 2, true, true },
        { "max", 4, 3, 2, 1, true, true },
        { "avg", 2, 0, 0, 1, false, true },
        { "avg", 3, 0, 0, 1, true, true },
        { "avg", 3, 2, 1, 1, false, true },
        { "avg", 3, 2, 1, 1, false, false },
        { "avg", 3, 2, 1, 1, true, true },
        { "avg", 3, 2, 1, 1, true, false },
        { "avg", 4, 3, 2, 1, true, true },
        { "avg", 4, 3, 2, 1, true, false },
    };

    [Theory]
    [MemberData(nameof(PoolCases))]
    public void Pools_follow_pytorch_semantics_on_odd_inputs(string kind, int kernel, int stride, int padding, int dilation, bool ceilMode, bool countIncludePad)
    {
        manual_seed(10);
        long? strideArgument = stride == 0 ? null : stride;
        Module<Tensor, Tensor> pool = kind == "max"
            ? MaxPool2d(kernel, strideArgument, padding, dilation, ceilMode)
            : AvgPool2d(kernel, strideArgument, padding, ceilMode, countIncludePad);
        using var model = Sequential(("pool", pool));
        using var folder = new TempFolder();
        foreach (var size in new long[] { 9, 10, 11 })
        {
            var path = folder.File($"pool-{size}.onnx");
            OnnxExporter.Export(model, path, new OnnxExportOptions { InputShape = [2, size, size + 2] });
            using var session = OpenSession(path);
            using var input = randn(3, 2, size, size + 2);
            AssertSameOutputs(session, model, input);
        }
    }

    public static TheoryData<int, int, int, int, int, bool> ConvCases => new()
    {
        // kernel, stride, padding, dilation, groups, bias
        { 3, 1, 0, 1, 1, true },
        { 3, 2, 1, 1, 1, false },
        { 5, 3, 2, 1, 1, true },
        { 3, 1, 2, 2, 1, true },
        { 3, 2, 3, 3, 2, false },
        { 1, 1, 0, 1, 4, true },
        { 2, 2, 0, 1, 4, true },
    };

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv2d_follows_pytorch_for_any_stride_padding_dilation_and_groups(int kernel, int stride, int padding, int dilation, int groups, bool bias)
    {
        manual_seed(11);
        using var model = Sequential(("conv", Conv2d(4, 8, kernel, stride, padding, dilation, groups: groups, bias: bias)));
        using var folder = new TempFolder();
        var path = folder.File("conv.onnx");

        OnnxExporter.Export(model, path, new OnnxExportOptions { InputShape = [4, 13, 15] });

        using var session = OpenSession(path);
        using var input = randn(2, 4, 13, 15);
        AssertSameOutputs(session, model, input);
    }

    [Fact]
    public void Flatten_over_inner_dimensions_and_linear_on_rank_3_follow_pytorch()
    {
        manual_seed(12);
        using var model = Sequential(
            ("conv", Conv2d(3, 4, kernel_size: 3)),
            ("flatten", Flatten(2, 3)),
            ("linear", Linear(36, 6)),
            ("softmax", Softmax(-1)));
        using var folder = new TempFolder();
        var path = folder.File("model.onnx");

        OnnxExporter.Export(model, path, new OnnxExportOptions { InputShape = [3, 8, 8] });

        using var session = OpenSession(path);
        using var input = randn(5, 3, 8, 8);
        AssertSameOutputs(session, model, input);
    }

    [Fact]
    public void Configurations_without_an_onnx_equivalent_are_refused_by_path()
    {
        using var folder = new TempFolder();
        var path = folder.File("model.onnx");
        (Module<Tensor, Tensor> Layer, string Reason)[] cases =
        [
            (Conv2d(3, 4, kernel_size: 3, padding_mode: PaddingModes.Reflect, padding: 1), "padding mode"),
            (Conv2d(5, 4, kernel_size: 3), "5 input channels"),
            (AvgPool2d(2, divisor_override: 3), "divisor_override"),
            (AdaptiveAvgPool2d(5), "divides the input"),
            (BatchNorm2d(3, track_running_stats: false), "running statistics"),
            (Linear(7, 2), "7 input features"),
        ];
        foreach (var (layer, reason) in cases)
        {
            using var model = Sequential(("body", Sequential(("0", Identity()), ("1", layer))));
            var act = () => OnnxExporter.Export(model, path);
            act.Should().Throw<OnnxExportException>().Where(e => e.ModulePath == "body.1" && e.Message.Contains(reason), reason);
        }

        File.Exists(path).Should().BeFalse();
    }

    [Fact]
    public void Class_names_that_do_not_match_the_output_are_refused_before_writing()
    {
        using var student = new StudentNet();
        using var folder = new TempFolder();
        var path = folder.File("student.onnx");

        var act = () => OnnxExporter.Export(student, path, new OnnxExportOptions { ClassNames = ["cat", "dog", "bird"] });

        act.Should().Throw<ArgumentException>().WithMessage("*3 class names*10 outputs*");
        File.Exists(path).Should().BeFalse();
    }

    [Fact]
    public void Invalid_options_are_refused_naming_the_option()
    {
        using var student = new StudentNet();
        using var folder = new TempFolder();
        var path = folder.File("student.onnx");
        (OnnxExportOptions Options, string Name)[] cases =
        [
            (new OnnxExportOptions { InputName = " " }, nameof(OnnxExportOptions.InputName)),
            (new OnnxExportOptions { OutputName = "input" }, nameof(OnnxExportOptions.OutputName)),
            (new OnnxExportOptions { InputShape = [3, 0, 32] }, nameof(OnnxExportOptions.InputShape)),
            (new OnnxExportOptions { Normalization = new ImageNormalization([0.5f], [0.5f]) }, nameof(OnnxExportOptions.Normalization)),
            (new OnnxExportOptions { Metadata = { ["distillation.class_names"] = "[]" } }, nameof(OnnxExportOptions.Metadata)),
        ];
        foreach (var (options, name) in cases)
        {
            var act = () => OnnxExporter.Export(student, path, options);
            act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be(name);
        }

        File.Exists(path).Should().BeFalse();
    }

    [Fact]
    public void A_cancelled_export_writes_nothing()
    {
        using var student = new StudentNet();
        using var folder = new TempFolder();
        var path = folder.File("student.onnx");
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();

        var act = () => OnnxExporter.Export(student, path, cancellationToken: cancellation.Token);

        act.Should().Throw<OperationCanceledException>();
        Directory.GetFiles(folder.Path).Should().BeEmpty();
    }

    [Fact]
    public void Cancellation_in_the_middle_of_an_export_stops_at_the_next_module_and_writes_nothing()
    {
        using var model = Sequential(
            ("0", new TestNetworks.Doubler()),
            ("1", new TestNetworks.Doubler()),
            ("2", new TestNetworks.Doubler()),
            ("3", new TestNetworks.Doubler()));
        using var folder = new TempFolder();
        var path = folder.File("model.onnx");
        using var cancellation = new CancellationTokenSource();
        var emitter = new CancellingEmitter(cancelAt: 2, cancellation);
        var options = new OnnxExportOptions { InputShape = [4], Emitters = { [typeof(TestNetworks.Doubler)] = emitter } };

        var act = () => OnnxExporter.Export(model, path, options, cancellationToken: cancellation.Token);

        act.Should().Throw<OperationCanceledException>();
        emitter.Emitted.Should().Equal(["0", "1"], "the modules after the signal are not exported");
        Directory.GetFiles(folder.Path).Should().BeEmpty("no partial or temporary file is left");
    }

    /// <summary>Exports <see cref="TestNetworks.Doubler"/> as the Doubler emitter does, and cancels the export after the <c>cancelAt</c>-th module, as a signal arriving mid-export would.</summary>
    private sealed class CancellingEmitter(int cancelAt, CancellationTokenSource cancellation) : IOnnxModuleEmitter
    {
        private readonly TestNetworks.DoublerEmitter inner = new();

        public List<string> Emitted { get; } = [];

        public OnnxValue Emit(OnnxEmitContext context, Module layer, OnnxValue input)
        {
            Emitted.Add(context.ModulePath);
            var output = inner.Emit(context, layer, input);
            if (Emitted.Count == cancelAt)
            {
                cancellation.Cancel();
            }

            return output;
        }
    }

    [Fact]
    public void An_empty_model_still_has_its_named_output()
    {
        using var model = Sequential(("0", Identity()), ("1", Dropout(0.2)));
        using var folder = new TempFolder();
        var path = folder.File("identity.onnx");

        OnnxExporter.Export(model, path, new OnnxExportOptions { InputShape = [4] });

        using var session = OpenSession(path);
        session.OutputNames.Should().Equal("logits");
        using var input = randn(3, 4);
        AssertSameOutputs(session, model, input);
    }
}
