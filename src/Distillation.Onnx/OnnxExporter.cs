using System.Reflection;
using System.Text.Json;
using Distillation.IO;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Onnx;
using TorchSharp;

namespace Distillation.Onnx;

/// <summary>
/// Writes a TorchSharp module tree as an ONNX file (opset 17, IR version 8) that ONNX Runtime and
/// other ONNX tools run without TorchSharp. Supported: <c>Sequential</c>, nested to any depth;
/// <c>Conv2d</c> (zero padding, any stride, dilation and groups); <c>Linear</c>; <c>ReLU</c>,
/// <c>ReLU6</c>, <c>LeakyReLU</c>, <c>GELU</c>, <c>SiLU</c>, <c>Sigmoid</c>,
/// <c>Hardsigmoid</c>, <c>Hardswish</c>, <c>Tanh</c>, <c>Softmax</c>; <c>MaxPool2d</c> and <c>AvgPool2d</c> with PyTorch's
/// stride, padding, <c>ceil_mode</c> and <c>count_include_pad</c> semantics; <c>AdaptiveAvgPool2d</c>
/// to 1×1 (or to sizes dividing the input); <c>Flatten</c>; <c>Identity</c>; <c>Dropout</c> and
/// <c>Dropout2d</c> (dropped); <c>BatchNorm1d</c> and <c>BatchNorm2d</c> with their running
/// statistics; the Distillation models (<c>FeatureClassifierNet</c>: features, then classifier);
/// every model of <c>Distillation.Models.Zoo.ModelZoo</c> (CIFAR and torchvision ResNets, wide
/// ResNets, MobileNetV2 and V3 with their residual, inverted-residual and squeeze-and-excitation
/// blocks); and any module made exportable through <see cref="IOnnxExportable"/> (with the typed
/// operators of <see cref="OnnxEmitContext"/>) or <see cref="OnnxExportOptions.Emitters"/>.
/// </summary>
/// <remarks>
/// The file encodes the eval-mode forward pass whatever the module's current mode; the module is
/// read, not run or changed. Parameters and buffers become float32 initializers named as in the
/// state dict (<c>features.0.weight</c>). The batch dimension of the input and the output is dynamic.
/// </remarks>
public static partial class OnnxExporter
{
    /// <summary>The ONNX operator set the files use.</summary>
    public const int OpsetVersion = 17;

    /// <summary>The ONNX IR version the files declare (the one that goes with opset 17).</summary>
    public const int IrVersion = 8;

    /// <summary>The <c>producer_name</c> written in every file.</summary>
    public const string ProducerName = "Distillation.Onnx";

    /// <summary>The <c>producer_version</c> written in every file: this library's version.</summary>
    public static string ProducerVersion { get; } = ReadProducerVersion();

    /// <summary>
    /// Exports <paramref name="module"/> to <paramref name="path"/>. The whole graph is built in memory
    /// first, so an unsupported module fails before anything is written; the file is then written
    /// atomically (a temporary file in the same folder, renamed over the target).
    /// </summary>
    /// <param name="module">The root module; typically a trained student.</param>
    /// <param name="path">The .onnx file to write; its folder is created if needed, an existing file is replaced.</param>
    /// <param name="options">Input shape, names and metadata; default: a 3×32×32 input named <c>input</c>, an output named <c>logits</c>, no class names or normalization.</param>
    /// <param name="logger">Receives one line per export; default: none.</param>
    /// <param name="cancellationToken">Stops the export between modules; nothing is written then.</param>
    /// <exception cref="ArgumentNullException"><paramref name="module"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty, an option is invalid, or the class names do not match the output.</exception>
    /// <exception cref="OnnxExportException">A module cannot be exported; the message names its path and type. Nothing was written.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled. Nothing was written.</exception>
    /// <exception cref="IOException">The file could not be written; any earlier file at <paramref name="path"/> is unchanged.</exception>
    public static void Export(torch.nn.Module module, string path, OnnxExportOptions? options = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        options ??= new OnnxExportOptions();
        options.Validate();
        logger ??= NullLogger.Instance;

        var model = Build(module, options, cancellationToken, out var parameters);
        cancellationToken.ThrowIfCancellationRequested();
        AtomicFile.Write(path, model.WriteTo);
        LogExported(logger, module.GetType().Name, Path.GetFullPath(path), model.Graph.Node.Count, parameters, model.CalculateSize());
    }

    /// <summary>Builds the whole model in memory; nothing is written.</summary>
    internal static ModelProto Build(torch.nn.Module module, OnnxExportOptions options, CancellationToken cancellationToken, out long parameters)
    {
        var builder = new OnnxGraphBuilder(options.Emitters.ToDictionary(), cancellationToken);
        builder.Reserve(options.InputName);
        builder.Reserve(options.OutputName);

        // Disposes the small constant tensors emitters create (GELU's coefficients, BatchNorm's defaults).
        using (torch.NewDisposeScope())
        {
            var input = builder.AddInput(options.InputName, options.InputShape);
            var result = builder.Emit(string.Empty, module, input);
            var output = builder.SetOutput(result, options.OutputName);
            CheckClassNames(options, output);
        }

        builder.Graph.Name = module.GetName();
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = ProducerName,
            ProducerVersion = ProducerVersion,
            DocString = $"{module.GetType().FullName} exported by {ProducerName} {ProducerVersion}.",
            Graph = builder.Graph,
            OpsetImport = { new OperatorSetIdProto { Domain = string.Empty, Version = OpsetVersion } },
        };
        AddMetadata(model, options);
        parameters = builder.InitializerValueCount;
        return model;
    }

    private static void CheckClassNames(OnnxExportOptions options, OnnxValue output)
    {
        if (options.ClassNames is { } names && output.Shape.Count == 2 && output.Shape[1] >= 0 && output.Shape[1] != names.Count)
        {
            throw new ArgumentException($"{names.Count} class names were given but the model has {output.Shape[1]} outputs.", nameof(options));
        }
    }

    private static void AddMetadata(ModelProto model, OnnxExportOptions options)
    {
        void Add(string key, string value) => model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });

        if (options.ClassNames is { } names)
        {
            Add(OnnxMetadataKeys.ClassNames, JsonSerializer.Serialize(names));
        }

        if (options.Normalization is { } normalization)
        {
            Add(OnnxMetadataKeys.NormalizationMean, JsonSerializer.Serialize(normalization.Mean));
            Add(OnnxMetadataKeys.NormalizationStd, JsonSerializer.Serialize(normalization.Std));
            Add(OnnxMetadataKeys.NormalizationFormula, "(byte / 255 - mean[c]) / std[c], channels first");
        }

        Add(OnnxMetadataKeys.InputShape, JsonSerializer.Serialize(options.InputShape));
        Add(OnnxMetadataKeys.ProducerName, ProducerName);
        Add(OnnxMetadataKeys.ProducerVersion, ProducerVersion);
        foreach (var (key, value) in options.Metadata.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            Add(key, value ?? string.Empty);
        }
    }

    private static string ReadProducerVersion()
    {
        var assembly = typeof(OnnxExporter).Assembly;
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString()
            ?? "0.0.0";

        // Source Link appends "+<commit>"; the version is what users match against.
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? version : version[..plus];
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Exported {ModuleType} to ONNX {Path}: {Nodes} nodes, {Parameters} parameter values, {Bytes} bytes")]
    private static partial void LogExported(ILogger logger, string moduleType, string path, int nodes, long parameters, int bytes);
}
