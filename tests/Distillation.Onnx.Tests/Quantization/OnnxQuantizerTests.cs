using Distillation.Data;
using Distillation.Onnx.Quantization;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static Distillation.Onnx.Tests.OnnxTestSupport;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Onnx.Tests.Quantization;

/// <summary>Quantizes exported networks and runs both copies in ONNX Runtime.</summary>
public sealed class OnnxQuantizerTests
{
    private static readonly long[] InputShape = [3, 16, 16];

    /// <summary>The defaults: every Conv quantized, 3-channel stems included.</summary>
    private static QuantizationOptions EveryConv() => new();

    /// <summary>Conv, folded BatchNorm, ReLU, MaxPool, a residual Add, a global pool, two Linear layers.</summary>
    private static Sequential ResidualNet()
    {
        var model = Sequential(
            ("0", Conv2d(3, 8, kernel_size: 3, padding: 1)),
            ("1", BatchNorm2d(8)),
            ("2", ReLU()),
            ("3", MaxPool2d(kernel_size: 2, stride: 2)),
            ("4", new TestNetworks.ResidualBlock(8)),
            ("5", ReLU()),
            ("6", AdaptiveAvgPool2d(1)),
            ("7", Flatten()),
            ("8", Linear(8, 32)),
            ("9", ReLU()),
            ("10", Linear(32, 10)));
        TestNetworks.RandomizeBatchNormStatistics(model);
        return model;
    }

    /// <summary>Conv, Sigmoid (no 8-bit form here), Conv, Flatten, Linear.</summary>
    private static Sequential SigmoidNet() => Sequential(
        ("0", Conv2d(3, 4, kernel_size: 3, padding: 1)),
        ("1", Sigmoid()),
        ("2", Conv2d(4, 4, kernel_size: 3, stride: 2, padding: 1)),
        ("3", ReLU()),
        ("4", Flatten()),
        ("5", Linear(4 * 8 * 8, 10)));

    private static string Export(Module<Tensor, Tensor> model, TempFolder folder, string name = "model.onnx")
    {
        var path = folder.File(name);
        OnnxExporter.Export(model, path, new OnnxExportOptions
        {
            InputShape = InputShape,
            ClassNames = [.. Enumerable.Range(0, 10).Select(i => "class" + i)],
            Normalization = ImageNormalization.Cifar10,
        });
        return path;
    }

    private static List<Tensor> Batches(int count, int size, long seed)
    {
        using var generator = new Generator((ulong)seed);
        return [.. Enumerable.Range(0, count).Select(_ => randn([size, .. InputShape], generator: generator).DetachFromDisposeScope())];
    }

    private static ModelProto Read(string path)
    {
        using var stream = File.OpenRead(path);
        return ModelProto.Parser.ParseFrom(stream);
    }

    private static List<string> OptimizedOpTypes(string path, string optimizedPath)
    {
        using (var options = new SessionOptions { IntraOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, OptimizedModelFilePath = optimizedPath })
        using (new InferenceSession(path, options))
        {
        }

        return [.. Read(optimizedPath).Graph.Node.Select(n => n.OpType)];
    }

    [Fact]
    public void The_int8_model_gives_nearly_the_fp32_outputs_and_the_same_class_on_most_rows()
    {
        manual_seed(11);
        using var model = ResidualNet();
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        var int8 = folder.File("model.int8.onnx");
        var calibration = Batches(4, 32, seed: 1);

        var report = OnnxQuantizer.QuantizeWithTensors(fp32, int8, calibration, EveryConv());

        using var fp32Session = OpenSession(fp32);
        using var int8Session = OpenSession(int8);
        using var input = Batches(1, 200, seed: 2)[0];
        var (expected, shape) = Run(fp32Session, input);
        var (actual, actualShape) = Run(int8Session, input);
        actualShape.Should().Equal(shape);
        var spread = expected.Max() - expected.Min();
        MaxAbsDiff(expected, actual).Should().BeLessThan(0.05f * spread, "8-bit steps are about 1/255 of each range");
        var rows = (int)shape[0];
        var agree = Enumerable.Range(0, rows).Count(r => ArgMax(expected.AsSpan(r * 10, 10)) == ArgMax(actual.AsSpan(r * 10, 10)));
        agree.Should().BeGreaterThanOrEqualTo((int)(0.9 * rows));

        report.QuantizedNodes.Select(n => n.OpType).Should().Equal("Conv", "Conv", "Add", "GlobalAveragePool", "Gemm", "Gemm");
        report.FoldedNodes.Should().ContainSingle(n => n.OpType == "BatchNormalization");
        report.CarriedNodes.Select(n => n.OpType).Should().Equal("Relu", "MaxPool", "Relu", "Flatten", "Relu");
        report.FloatNodes.Should().BeEmpty();
        report.CalibrationImages.Should().Be(128);
        report.CalibrationBatches.Should().Be(4);
        if (Environment.GetEnvironmentVariable("DISTILLATION_KEEP_QUANTIZED") is { Length: > 0 } keep)
        {
            // For the reference checker (eng/check-onnx-model.py), run by hand.
            CopyTo(keep, fp32, int8);
        }

        calibration.ForEach(t => t.Dispose());
    }

    private static void CopyTo(string folder, params string[] files)
    {
        Directory.CreateDirectory(folder);
        foreach (var file in files)
        {
            File.Copy(file, Path.Combine(folder, "residual-net." + Path.GetFileName(file)), overwrite: true);
        }
    }

    [Fact]
    public void Onnx_runtime_fuses_the_qdq_pairs_into_integer_kernels()
    {
        manual_seed(12);
        using var model = ResidualNet();
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        var int8 = folder.File("model.int8.onnx");
        OnnxQuantizer.QuantizeWithTensors(fp32, int8, Batches(2, 16, seed: 3), EveryConv());

        var ops = OptimizedOpTypes(int8, folder.File("optimized.onnx"));

        ops.Should().Contain("QLinearConv").And.Contain("QLinearAdd").And.Contain("QLinearGlobalAveragePool");
        ops.Should().Contain(op => op == "QGemm" || op == "QLinearMatMul" || op == "MatMulIntegerToFloat", "the Linear layers run on integers");
        ops.Should().NotContain(["Conv", "FusedConv", "Gemm", "FusedGemm", "Add", "Relu", "BatchNormalization"], "every quantized node and ReLU is folded into an integer kernel");
        ops.Should().ContainSingle(op => op == "QuantizeLinear", "only the float input is quantized; 8-bit values flow from there to the last Linear");
    }

    [Fact]
    public void The_zoo_resnet20_is_quantized_whole_and_runs_on_integer_kernels()
    {
        manual_seed(22);
        using var model = Models.Zoo.ModelZoo.Create("resnet20", classes: 10);
        TestNetworks.RandomizeBatchNormStatistics(model);
        model.eval();
        using var folder = new TempFolder();
        var fp32 = folder.File("resnet20.onnx");
        OnnxExporter.Export(model, fp32);
        var int8 = folder.File("resnet20.int8.onnx");
        using var generator = new Generator(23);
        var calibration = new List<Tensor> { randn([8, 3, 32, 32], generator: generator), randn([8, 3, 32, 32], generator: generator) };

        var report = OnnxQuantizer.QuantizeWithTensors(fp32, int8, calibration);

        // 19 convolutions and 2 projection shortcuts, 9 residual sums, the pool, the classifier; every BatchNorm folded.
        report.QuantizedNodes.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count()).Should().Equal(
            new Dictionary<string, int> { ["Conv"] = 21, ["Add"] = 9, ["GlobalAveragePool"] = 1, ["Gemm"] = 1 });
        report.FoldedNodes.Should().HaveCount(21).And.OnlyContain(n => n.OpType == "BatchNormalization");
        report.FloatNodes.Should().BeEmpty();
        var ops = OptimizedOpTypes(int8, folder.File("optimized.onnx"));
        ops.Count(op => op == "QLinearConv").Should().Be(21);
        ops.Count(op => op == "QLinearAdd").Should().Be(9);
        ops.Should().NotContain(["Conv", "FusedConv", "Add", "Relu", "DequantizeLinear"], "every node runs on 8-bit values");
        ops.Should().ContainSingle(op => op == "QuantizeLinear");
        using var fp32Session = OpenSession(fp32);
        using var int8Session = OpenSession(int8);
        var (expected, _) = Run(fp32Session, calibration[0]);
        var (actual, _) = Run(int8Session, calibration[0]);
        MaxAbsDiff(expected, actual).Should().BeLessThan(0.1f * (expected.Max() - expected.Min()));
        calibration.ForEach(t => t.Dispose());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_batch_norm_after_a_linear_layer_is_folded_into_its_gemm(bool transposedWeight)
    {
        manual_seed(24);
        using var model = Sequential(
            ("0", Flatten()),
            ("1", Linear(3 * 16 * 16, 32)),
            ("2", BatchNorm1d(32)),
            ("3", ReLU()),
            ("4", Linear(32, 10)));
        TestNetworks.RandomizeBatchNormStatistics(model);
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        var source = Read(fp32);
        if (!transposedWeight)
        {
            // The same Gemm with B stored [in, out] (transB = 0), as other exporters write it.
            StoreFirstGemmUntransposed(source.Graph);
            fp32 = folder.File("untransposed.onnx");
            File.WriteAllBytes(fp32, source.ToByteArray());
        }

        var prepared = source.Clone();
        var folded = GraphPreparation.Prepare(prepared.Graph);
        var preparedPath = folder.File("prepared.onnx");
        File.WriteAllBytes(preparedPath, prepared.ToByteArray());

        folded.Should().ContainSingle().Which.Note.Should().StartWith("folded into the Gemm");
        prepared.Graph.Node.Select(n => n.OpType).Should().Equal("Flatten", "Gemm", "Relu", "Gemm");
        using var input = Batches(1, 20, seed: 25)[0];
        using var fp32Session = OpenSession(fp32);
        using var preparedSession = OpenSession(preparedPath);
        var (expected, _) = Run(fp32Session, input);
        var (actual, _) = Run(preparedSession, input);
        MaxAbsDiff(expected, actual).Should().BeLessThan(1e-4f * (expected.Max() - expected.Min()), "folding changes only the rounding");

        var report = OnnxQuantizer.QuantizeWithTensors(fp32, folder.File("model.int8.onnx"), Batches(2, 16, seed: 26));
        report.QuantizedNodes.Select(n => n.OpType).Should().Equal("Gemm", "Gemm");
        report.FloatNodes.Select(n => n.OpType).Should().Equal(["Flatten"], "it runs on the float input, before the first quantization");
        report.FoldedNodes.Should().ContainSingle(n => n.OpType == "BatchNormalization");
    }

    private static void StoreFirstGemmUntransposed(GraphProto graph)
    {
        var gemm = graph.Node.First(n => n.OpType == "Gemm");
        var weight = graph.Initializer.Single(t => t.Name == gemm.Input[1]);
        var (rows, columns) = ((int)weight.Dims[0], (int)weight.Dims[1]);
        var values = TensorProtos.ReadFloats(weight);
        var transposed = new float[values.Length];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                transposed[(c * rows) + r] = values[(r * columns) + c];
            }
        }

        graph.Initializer.Remove(weight);
        graph.Initializer.Add(TensorProtos.Floats(weight.Name, transposed, [columns, rows]));
        gemm.Attribute.Single(a => a.Name == "transB").I = 0;
    }

    [Fact]
    public void A_conv_with_fewer_input_channels_than_asked_stays_float_and_its_output_is_quantized()
    {
        manual_seed(24);
        using var model = ResidualNet();
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        var int8 = folder.File("model.int8.onnx");

        var report = OnnxQuantizer.QuantizeWithTensors(fp32, int8, Batches(2, 16, seed: 11), new QuantizationOptions { MinConvInputChannels = 4 });

        report.FloatNodes.Select(n => n.OpType).Should().Equal(["Conv", "Relu", "MaxPool"], "the stem's ReLU and pool run in float too, and the pool's output is quantized");
        var stem = report.FloatNodes[0];
        stem.Note.Should().Contain("3 input channels").And.Contain("MinConvInputChannels");
        report.QuantizedNodes.Select(n => n.OpType).Should().Equal("Conv", "Add", "GlobalAveragePool", "Gemm", "Gemm");
        var ops = OptimizedOpTypes(int8, folder.File("optimized.onnx"));
        ops.Should().ContainSingle(op => op == "QLinearConv");
        ops.Should().Contain(op => op.Contains("Conv") && op != "QLinearConv", "the stem runs ONNX Runtime's float convolution");
    }

    [Fact]
    public void Weights_are_stored_as_int8_and_the_file_is_about_four_times_smaller()
    {
        manual_seed(13);
        using var model = Sequential(("0", Conv2d(3, 64, kernel_size: 3, padding: 1)), ("1", ReLU()), ("2", Flatten()), ("3", Linear(64 * 16 * 16, 10)));
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        var int8 = folder.File("model.int8.onnx");

        var report = OnnxQuantizer.QuantizeWithTensors(fp32, int8, Batches(1, 8, seed: 4), EveryConv());

        report.SizeRatio.Should().BeGreaterThan(3.5);
        report.SourceBytes.Should().Be(new FileInfo(fp32).Length);
        report.QuantizedBytes.Should().Be(new FileInfo(int8).Length);
        Read(int8).Graph.Initializer.Where(t => t.DataType == (int)TensorProto.Types.DataType.Float).Sum(t => t.RawData.Length)
            .Should().BeLessThan(1000, "only scales stay float");
    }

    [Fact]
    public void The_input_scale_and_zero_point_are_the_hand_computed_ones_of_its_calibrated_range()
    {
        manual_seed(14);
        using var model = SigmoidNet();
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        var int8 = folder.File("model.int8.onnx");
        using var batch = rand([2, .. InputShape]);
        batch[0, 0, 0, 0] = tensor(-2f);
        batch[1, 2, 3, 4] = tensor(6f);

        OnnxQuantizer.QuantizeWithTensors(fp32, int8, [batch], EveryConv());

        var graph = Read(int8).Graph;
        var quantizeInput = graph.Node.Single(n => n.OpType == "QuantizeLinear" && n.Input[0] == "input");
        var scale = graph.Initializer.Single(t => t.Name == quantizeInput.Input[1]);
        var zeroPoint = graph.Initializer.Single(t => t.Name == quantizeInput.Input[2]);
        BitConverter.ToSingle(scale.RawData.Span).Should().BeApproximately(8f / 255f, 1e-7f);
        zeroPoint.DataType.Should().Be((int)TensorProto.Types.DataType.Uint8);
        zeroPoint.RawData.Span[0].Should().Be(64, "round(2 / (8 / 255)) = round(63.75)");
    }

    [Fact]
    public void An_operator_it_cannot_quantize_stays_float_and_the_report_and_metadata_say_so()
    {
        manual_seed(15);
        using var model = SigmoidNet();
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        var int8 = folder.File("model.int8.onnx");

        var report = OnnxQuantizer.QuantizeWithTensors(fp32, int8, Batches(2, 16, seed: 5), EveryConv());

        var sigmoid = report.FloatNodes.Should().ContainSingle().Which;
        sigmoid.OpType.Should().Be("Sigmoid");
        sigmoid.Note.Should().Contain("no 8-bit form");
        report.QuantizedNodes.Select(n => n.OpType).Should().Equal("Conv", "Conv", "Gemm");
        var model8 = Read(int8);
        model8.Graph.Node.Should().ContainSingle(n => n.OpType == "Sigmoid");
        model8.MetadataProps.Single(p => p.Key == QuantizationMetadataKeys.FloatNodes).Value.Should().Contain("Sigmoid");

        using var fp32Session = OpenSession(fp32);
        using var int8Session = OpenSession(int8);
        using var input = Batches(1, 50, seed: 6)[0];
        var (expected, _) = Run(fp32Session, input);
        var (actual, _) = Run(int8Session, input);
        MaxAbsDiff(expected, actual).Should().BeLessThan(0.05f * (expected.Max() - expected.Min()));
    }

    [Fact]
    public void An_excluded_node_stays_float()
    {
        manual_seed(16);
        using var model = SigmoidNet();
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        var firstConv = Read(fp32).Graph.Node.First(n => n.OpType == "Conv").Name;
        var options = EveryConv();
        options.ExcludedNodes.Add(firstConv);

        var report = OnnxQuantizer.QuantizeWithTensors(fp32, folder.File("model.int8.onnx"), Batches(1, 8, seed: 7), options);

        report.FloatNodes.Should().Contain(n => n.Name == firstConv && n.Note.Contains("excluded"));
        report.QuantizedNodes.Should().NotContain(n => n.Name == firstConv);
    }

    [Fact]
    public void The_metadata_is_kept_and_the_calibration_is_recorded()
    {
        manual_seed(17);
        using var model = SigmoidNet();
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        var int8 = folder.File("model.int8.onnx");

        OnnxQuantizer.QuantizeWithTensors(fp32, int8, Batches(3, 5, seed: 8), new QuantizationOptions { Method = CalibrationMethod.Percentile, Percentile = 99.9 });

        var source = Read(fp32).MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        var quantized = Read(int8).MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        source.Keys.Should().Contain([OnnxMetadataKeys.ClassNames, OnnxMetadataKeys.NormalizationMean, OnnxMetadataKeys.InputShape]);
        quantized.Should().Contain(source);
        quantized[QuantizationMetadataKeys.CalibrationMethod].Should().Be("percentile 99.9 (4096-bin histogram)");
        quantized[QuantizationMetadataKeys.CalibrationImages].Should().Be("15");
        quantized[QuantizationMetadataKeys.Format].Should().Contain("per output channel").And.Contain("uint8");

        using var session = OpenSession(int8);
        session.ModelMetadata.CustomMetadataMap[OnnxMetadataKeys.ClassNames].Should().Be(source[OnnxMetadataKeys.ClassNames]);
    }

    [Fact]
    public void Entropy_calibration_is_recorded_and_gives_nearly_the_fp32_outputs()
    {
        manual_seed(21);
        using var model = ResidualNet();
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        var int8 = folder.File("model.entropy.onnx");
        var minMax = folder.File("model.minmax.onnx");
        var calibration = Batches(4, 32, seed: 1);

        var report = OnnxQuantizer.QuantizeWithTensors(fp32, int8, calibration, new QuantizationOptions { Method = CalibrationMethod.Entropy, HistogramBins = 1024 });
        OnnxQuantizer.QuantizeWithTensors(fp32, minMax, calibration, new QuantizationOptions());

        report.Method.Should().Be("entropy (KL divergence, 1024-bin histogram, 255 steps)");
        Read(int8).MetadataProps.Single(p => p.Key == QuantizationMetadataKeys.CalibrationMethod).Value.Should().Be(report.Method);
        var scales = ActivationScales(int8);
        var minMaxScales = ActivationScales(minMax);
        scales.Keys.Should().BeEquivalentTo(minMaxScales.Keys);
        scales.Should().OnlyContain(p => p.Value <= minMaxScales[p.Key] * (1 + 1e-6), "a range inside [min, max] has finer steps");
        scales.Should().Contain(p => p.Value < minMaxScales[p.Key] * 0.999, "some tensor has a tail worth clipping");
        using var fp32Session = OpenSession(fp32);
        using var int8Session = OpenSession(int8);
        using var input = Batches(1, 200, seed: 2)[0];
        var (expected, _) = Run(fp32Session, input);
        var (actual, _) = Run(int8Session, input);
        MaxAbsDiff(expected, actual).Should().BeLessThan(0.05f * (expected.Max() - expected.Min()));
        calibration.ForEach(t => t.Dispose());
    }

    /// <summary>The scale of every activation QuantizeLinear, by the tensor it quantizes.</summary>
    private static Dictionary<string, float> ActivationScales(string path)
    {
        var graph = Read(path).Graph;
        return graph.Node.Where(n => n.OpType == "QuantizeLinear")
            .ToDictionary(n => n.Input[0], n => BitConverter.ToSingle(graph.Initializer.Single(t => t.Name == n.Input[1]).RawData.Span));
    }

    [Fact]
    public void Signed_activations_use_int8_zero_points_and_still_fuse()
    {
        manual_seed(18);
        using var model = ResidualNet();
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        var int8 = folder.File("model.s8.onnx");

        OnnxQuantizer.QuantizeWithTensors(fp32, int8, Batches(2, 16, seed: 9), new QuantizationOptions { Activations = ActivationType.S8 });

        var graph = Read(int8).Graph;
        var zeroPoints = graph.Node.Where(n => n.OpType == "QuantizeLinear").Select(n => graph.Initializer.Single(t => t.Name == n.Input[2]));
        zeroPoints.Should().OnlyContain(t => t.DataType == (int)TensorProto.Types.DataType.Int8);
        // ONNX Runtime 1.31's CPU provider fuses the first Conv (as an NHWC QLinearConv) but leaves the
        // int8 MaxPool → Conv → Add chain as DequantizeLinear → op → QuantizeLinear: uint8 is the default.
        OptimizedOpTypes(int8, folder.File("optimized.onnx")).Should().Contain("QLinearConv").And.Contain("QGemm");
    }

    [Fact]
    public void A_batch_source_is_read_up_to_the_calibration_image_count()
    {
        manual_seed(19);
        using var model = SigmoidNet();
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        using var images = randint(0, 256, [50, .. InputShape], dtype: ScalarType.Byte);
        using var labels = zeros(50, dtype: ScalarType.Int64);
        using var source = new ImageDataset(images, labels, [.. Enumerable.Range(0, 10).Select(i => "class" + i)], ImageNormalization.Cifar10);

        var report = OnnxQuantizer.Quantize(fp32, folder.File("model.int8.onnx"), source, new QuantizationOptions { CalibrationImages = 30, CalibrationBatchSize = 16 });

        report.CalibrationImages.Should().Be(30);
        report.CalibrationBatches.Should().Be(2);
    }

    [Fact]
    public void An_empty_calibration_source_is_refused_and_nothing_is_written()
    {
        manual_seed(20);
        using var model = SigmoidNet();
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        var int8 = folder.File("model.int8.onnx");

        var act = () => OnnxQuantizer.QuantizeWithTensors(fp32, int8, []);

        act.Should().Throw<ArgumentException>().WithMessage("The calibration source holds no images*");
        File.Exists(int8).Should().BeFalse();
    }

    [Fact]
    public void An_empty_batch_source_is_refused()
    {
        manual_seed(21);
        using var model = SigmoidNet();
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        using var source = new ImageDataset(zeros([0, .. InputShape], dtype: ScalarType.Byte), zeros(0, dtype: ScalarType.Int64), ["a"]);

        var act = () => OnnxQuantizer.Quantize(fp32, folder.File("model.int8.onnx"), source);

        act.Should().Throw<ArgumentException>().WithMessage("The calibration source holds no images*");
    }

    [Fact]
    public void A_batch_of_the_wrong_shape_names_the_expected_shape()
    {
        manual_seed(22);
        using var model = SigmoidNet();
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        using var good = randn([2, .. InputShape]);
        using var bad = randn(2, 1, 16, 16);

        var act = () => OnnxQuantizer.QuantizeWithTensors(fp32, folder.File("model.int8.onnx"), [good, bad]);

        var message = act.Should().Throw<ArgumentException>().Which.Message;
        message.Should().Be("Calibration batch 1 has shape [2, 1, 16, 16]; the model's input 'input' takes [batch, 3, 16, 16].");
    }

    [Fact]
    public void An_already_quantized_model_and_an_output_over_the_input_are_refused()
    {
        manual_seed(23);
        using var model = SigmoidNet();
        using var folder = new TempFolder();
        var fp32 = Export(model, folder);
        var int8 = folder.File("model.int8.onnx");
        OnnxQuantizer.QuantizeWithTensors(fp32, int8, Batches(1, 4, seed: 10));

        var again = () => OnnxQuantizer.QuantizeWithTensors(int8, folder.File("twice.onnx"), Batches(1, 4, seed: 10));
        var over = () => OnnxQuantizer.QuantizeWithTensors(fp32, fp32, Batches(1, 4, seed: 10));
        var missing = () => OnnxQuantizer.QuantizeWithTensors(folder.File("none.onnx"), int8, Batches(1, 4, seed: 10));

        again.Should().Throw<InvalidDataException>().WithMessage("*already quantized*");
        over.Should().Throw<ArgumentException>().WithMessage("*must not overwrite its source*");
        missing.Should().Throw<FileNotFoundException>();
    }
}
