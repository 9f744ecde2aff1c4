using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Distillation.Data;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Onnx;
using TorchSharp;

namespace Distillation.Onnx.Quantization;

/// <summary>
/// Static int8 quantization of an fp32 ONNX model (as <see cref="OnnxExporter"/> writes them) into the
/// QDQ format ONNX Runtime runs with integer kernels: QuantizeLinear/DequantizeLinear pairs around the
/// inputs of Conv, Gemm, MatMul and Add; weights int8, symmetric, per output channel; activations 8-bit
/// per tensor with ranges calibrated on your images; biases int32 at scale input_scale · weight_scale.
/// A BatchNormalization after a Conv is folded into it first. Nodes it cannot quantize stay in float
/// and the report lists them with the reason. The metadata of the source file is kept, and the
/// calibration is recorded under <see cref="QuantizationMetadataKeys"/>.
/// </summary>
/// <remarks>
/// Calibration runs the fp32 model in ONNX Runtime (the managed API; the application adds the native
/// Microsoft.ML.OnnxRuntime package), with every tensor to calibrate added as an output.
/// </remarks>
/// <example>
/// <code>
/// using var train = Cifar10Dataset.Load("data", Cifar10Split.Train);
/// using var calibration = train.Sample(1000, seed: 7);
/// var report = OnnxQuantizer.Quantize("student.onnx", "student.int8.onnx", calibration);
/// Console.WriteLine($"{report.SizeRatio:F1}x smaller; float: {report.FloatNodes.Count} nodes");
/// </code>
/// </example>
public static partial class OnnxQuantizer
{
    /// <summary>
    /// Quantizes the model at <paramref name="inputPath"/>, calibrating on the first
    /// <see cref="QuantizationOptions.CalibrationImages"/> images of <paramref name="calibration"/>
    /// (normalized as the source normalizes them, which is how the model was trained).
    /// </summary>
    /// <param name="inputPath">The fp32 .onnx file: one float input, opset 13 or later.</param>
    /// <param name="outputPath">The quantized file; written atomically, its folder created if needed.</param>
    /// <param name="calibration">Typical inputs, for example 1000 training images.</param>
    /// <param name="options">The calibration method (min-max, percentile, entropy), activation type and limits; default: min-max, uint8, 1000 images.</param>
    /// <param name="logger">Receives one line per quantization; default: none.</param>
    /// <param name="cancellationToken">Checked between calibration batches; nothing is written when cancelled.</param>
    /// <returns>What was quantized, what stayed float and why, and the file sizes.</returns>
    /// <exception cref="ArgumentException">A path is empty, an option is out of range, the source holds no images, or a batch does not fit the model's input (the message names the expected shape).</exception>
    /// <exception cref="FileNotFoundException">The input file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not an ONNX model this quantizer handles (not one float input, opset below 13, already quantized), or a tensor overflowed on the calibration images.</exception>
    public static QuantizationReport Quantize(string inputPath, string outputPath, IBatchSource calibration, QuantizationOptions? options = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        options = Checked(inputPath, outputPath, options);
        var model = Load(inputPath, out var input);
        var batches = CalibrationBatches.Read(calibration, options, input, cancellationToken);
        return Quantize(model, input, batches, inputPath, outputPath, options, logger ?? NullLogger.Instance, cancellationToken);
    }

    /// <summary>Quantizes the model at <paramref name="inputPath"/>, calibrating on every batch of <paramref name="calibration"/> (read once).</summary>
    /// <param name="inputPath">The fp32 .onnx file: one float input, opset 13 or later.</param>
    /// <param name="outputPath">The quantized file; written atomically, its folder created if needed.</param>
    /// <param name="calibration">Batches of typical inputs, already normalized, each [batch, …] as the model's input; any floating-point type, any device.</param>
    /// <param name="options">The calibration method and activation type; the image limits apply to an <see cref="IBatchSource"/> only.</param>
    /// <param name="logger">Receives one line per quantization; default: none.</param>
    /// <param name="cancellationToken">Checked between calibration batches; nothing is written when cancelled.</param>
    /// <returns>What was quantized, what stayed float and why, and the file sizes.</returns>
    /// <exception cref="ArgumentException">A path is empty, an option is out of range, the sequence holds no images, or a batch does not fit the model's input (the message names the expected shape).</exception>
    /// <exception cref="FileNotFoundException">The input file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not an ONNX model this quantizer handles, or a tensor overflowed on the calibration images.</exception>
    public static QuantizationReport QuantizeWithTensors(string inputPath, string outputPath, IEnumerable<torch.Tensor> calibration, QuantizationOptions? options = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        options = Checked(inputPath, outputPath, options);
        var model = Load(inputPath, out var input);
        var batches = CalibrationBatches.Read(calibration, input, cancellationToken);
        return Quantize(model, input, batches, inputPath, outputPath, options, logger ?? NullLogger.Instance, cancellationToken);
    }

    private static QuantizationOptions Checked(string inputPath, string outputPath, QuantizationOptions? options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(inputPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputPath);
        options ??= new QuantizationOptions();
        options.Validate();
        if (string.Equals(Path.GetFullPath(inputPath), Path.GetFullPath(outputPath), StringComparison.Ordinal))
        {
            throw new ArgumentException($"The quantized model must not overwrite its source {Path.GetFullPath(inputPath)}; give another output path.", nameof(outputPath));
        }

        return options;
    }

    internal static ModelProto Load(string path, out ModelInput input)
    {
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            throw new FileNotFoundException($"The ONNX model {fullPath} does not exist.", fullPath);
        }

        ModelProto model;
        try
        {
            using var stream = File.OpenRead(fullPath);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{fullPath} is not an ONNX model: {e.Message}", e);
        }

        var graph = model.Graph ?? throw new InvalidDataException($"{fullPath} holds no graph.");
        var opset = model.OpsetImport.FirstOrDefault(o => o.Domain.Length == 0 || o.Domain == "ai.onnx")?.Version ?? 0;
        if (opset < 13)
        {
            throw new InvalidDataException($"{fullPath} uses opset {opset}; per-channel QuantizeLinear/DequantizeLinear need opset 13 or later (export with opset 17).");
        }

        if (graph.Node.FirstOrDefault(n => n.OpType is "QuantizeLinear" or "DequantizeLinear" || n.OpType.StartsWith("QLinear", StringComparison.Ordinal)) is { } quantized)
        {
            throw new InvalidDataException($"{fullPath} is already quantized (node '{quantized.Name}' is {quantized.OpType}); quantize the fp32 model.");
        }

        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        if (inputs.Count != 1 || inputs[0].Type?.TensorType is not { } tensorType || tensorType.ElemType != TensorProtos.Float)
        {
            throw new InvalidDataException($"{fullPath} must take exactly one float32 tensor input; it takes {string.Join(", ", inputs.Select(i => $"'{i.Name}' ({i.Type?.TensorType?.ElemType})"))}.");
        }

        var shape = tensorType.Shape?.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : -1L).ToList() ?? [];
        input = new ModelInput(inputs[0].Name, shape);
        return model;
    }

    private static QuantizationReport Quantize(ModelProto source, ModelInput input, List<CalibrationBatch> batches, string inputPath, string outputPath, QuantizationOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        var model = source.Clone();
        var folded = GraphPreparation.Prepare(model.Graph);
        var plan = QdqPlan.Make(model.Graph, options);
        var ranges = plan.CalibratedTensors.ToDictionary(t => t, t => new TensorRange(t), StringComparer.Ordinal);
        using (var runner = new CalibrationRunner(model, input.Name, ranges.Keys, options.Threads))
        {
            foreach (var batch in batches)
            {
                cancellationToken.ThrowIfCancellationRequested();
                runner.Run(batch, (name, values) => ranges.GetValueOrDefault(name)?.AddToRange(values));
            }

            if (options.Method != CalibrationMethod.MinMax)
            {
                var holdZero = options.Method == CalibrationMethod.Entropy;
                foreach (var batch in batches)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    runner.Run(batch, (name, values) => ranges.GetValueOrDefault(name)?.AddToHistogram(values, options.HistogramBins, holdZero));
                }
            }
        }

        var (qmin, qmax) = QuantizationMath.RangeOf(options.Activations);
        var parameters = ranges.ToDictionary(
            p => p.Key,
            p =>
            {
                var (min, max) = p.Value.Calibrated(options.Method, options.Percentile, QuantizationOptions.EntropySteps);
                return QuantizationMath.Asymmetric(min, max, qmin, qmax);
            },
            StringComparer.Ordinal);
        QdqRewriter.Rewrite(model.Graph, plan, parameters, options.Activations);

        var images = batches.Sum(b => (int)b.Shape[0]);
        AddMetadata(model, options, images, plan.Float);
        model.DocString = (model.DocString.Length > 0 ? model.DocString + " " : string.Empty) + $"Quantized to int8 (QDQ) by {QuantizerName}.";
        cancellationToken.ThrowIfCancellationRequested();
        var fullOutput = Path.GetFullPath(outputPath);
        WriteAtomically(fullOutput, model.ToByteArray());

        var report = new QuantizationReport(fullOutput, new FileInfo(Path.GetFullPath(inputPath)).Length, new FileInfo(fullOutput).Length, images, batches.Count,
            options.DescribeMethod(), options.Activations, plan.Quantized, plan.Carried, plan.Float, folded);
        LogQuantized(logger, Path.GetFullPath(inputPath), fullOutput, report.QuantizedNodes.Count, report.FloatNodes.Count, images, report.Method, report.SourceBytes, report.QuantizedBytes);
        return report;
    }

    private static void AddMetadata(ModelProto model, QuantizationOptions options, int images, IReadOnlyList<QuantizedNodeInfo> floatNodes)
    {
        // A second quantization of the same source replaces the keys rather than repeating them.
        for (var i = model.MetadataProps.Count - 1; i >= 0; i--)
        {
            if (model.MetadataProps[i].Key.StartsWith("distillation.quantization.", StringComparison.Ordinal))
            {
                model.MetadataProps.RemoveAt(i);
            }
        }

        void Add(string key, string value) => model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        var activations = options.Activations == ActivationType.U8 ? "uint8" : "int8";
        Add(QuantizationMetadataKeys.Format, $"QDQ int8: weights int8 symmetric per output channel, activations {activations} asymmetric per tensor, biases int32");
        Add(QuantizationMetadataKeys.CalibrationMethod, options.DescribeMethod());
        Add(QuantizationMetadataKeys.CalibrationImages, images.ToString(CultureInfo.InvariantCulture));
        Add(QuantizationMetadataKeys.FloatNodes, JsonSerializer.Serialize(floatNodes.Select(n => $"{n.Name} ({n.OpType})").ToArray()));
        Add(QuantizationMetadataKeys.Quantizer, QuantizerName);
    }

    private static readonly string QuantizerName = "Distillation.Onnx.Quantization " + ReadVersion();

    private static string ReadVersion()
    {
        var version = typeof(OnnxQuantizer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? version : version[..plus];
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        var folder = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            File.WriteAllBytes(temporary, bytes);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Quantized {Source} to {Target}: {Quantized} nodes in 8-bit, {Float} in float, calibrated on {Images} images ({Method}); {SourceBytes} → {TargetBytes} bytes")]
    private static partial void LogQuantized(ILogger logger, string source, string target, int quantized, int @float, int images, string method, long sourceBytes, long targetBytes);
}
