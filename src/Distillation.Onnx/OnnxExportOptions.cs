using Distillation.Data;

namespace Distillation.Onnx;

/// <summary>Settings of <see cref="OnnxExporter.Export"/>.</summary>
public sealed class OnnxExportOptions
{
    /// <summary>The graph input's name. Default: <c>input</c>.</summary>
    public string InputName { get; set; } = "input";

    /// <summary>The graph output's name. Default: <c>logits</c>.</summary>
    public string OutputName { get; set; } = "logits";

    /// <summary>
    /// The shape of one input without the batch dimension, which stays dynamic in the file. Default:
    /// 3, 32, 32 (C, H, W of a CIFAR-10 image); every value must be ≥ 1.
    /// </summary>
    public IReadOnlyList<long> InputShape { get; set; } = [3, 32, 32];

    /// <summary>
    /// The class names in output order, written as <see cref="OnnxMetadataKeys.ClassNames"/>. Default:
    /// null (not written). When the output is [batch, classes], their count must equal classes.
    /// </summary>
    public IReadOnlyList<string>? ClassNames { get; set; }

    /// <summary>
    /// The normalization the model expects on its input, written as
    /// <see cref="OnnxMetadataKeys.NormalizationMean"/> and <see cref="OnnxMetadataKeys.NormalizationStd"/>;
    /// the export does not apply it. Default: null (not written). Its channel count must equal <see cref="InputShape"/>[0].
    /// </summary>
    public ImageNormalization? Normalization { get; set; }

    /// <summary>
    /// Further <c>metadata_props</c> entries. Default: empty. Keys must be non-empty and must not start
    /// with <c>distillation.</c> (reserved for <see cref="OnnxMetadataKeys"/>).
    /// </summary>
    public IDictionary<string, string> Metadata { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// Emitters for module types the exporter does not know, keyed by module type. An emitter also
    /// serves types deriving from its key (the nearest registered base type wins), and takes precedence
    /// over <see cref="IOnnxExportable"/> and the built-in layers. Default: empty.
    /// </summary>
    public IDictionary<Type, IOnnxModuleEmitter> Emitters { get; } = new Dictionary<Type, IOnnxModuleEmitter>();

    /// <summary>Checks every value.</summary>
    /// <exception cref="ArgumentException">A value is missing or out of range; the message names it.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(InputName))
        {
            throw new ArgumentException("The input name must not be empty.", nameof(InputName));
        }

        if (string.IsNullOrWhiteSpace(OutputName))
        {
            throw new ArgumentException("The output name must not be empty.", nameof(OutputName));
        }

        if (string.Equals(InputName, OutputName, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The input and output names must differ; both are '{InputName}'.", nameof(OutputName));
        }

        if (InputShape is null || InputShape.Count == 0)
        {
            throw new ArgumentException("The input shape needs at least one dimension (C, H, W for images).", nameof(InputShape));
        }

        for (var i = 0; i < InputShape.Count; i++)
        {
            if (InputShape[i] < 1)
            {
                throw new ArgumentException($"Input dimension {i} must be ≥ 1, was {InputShape[i]}.", nameof(InputShape));
            }
        }

        if (ClassNames is not null)
        {
            for (var i = 0; i < ClassNames.Count; i++)
            {
                if (string.IsNullOrEmpty(ClassNames[i]))
                {
                    throw new ArgumentException($"Class name {i} is empty.", nameof(ClassNames));
                }
            }
        }

        if (Normalization is not null && Normalization.Mean.Count != InputShape[0])
        {
            throw new ArgumentException(
                $"The normalization has {Normalization.Mean.Count} channels but the input has {InputShape[0]} (InputShape[0]).", nameof(Normalization));
        }

        foreach (var key in Metadata.Keys)
        {
            if (string.IsNullOrWhiteSpace(key) || key.StartsWith(OnnxMetadataKeys.ReservedPrefix, StringComparison.Ordinal))
            {
                throw new ArgumentException($"Metadata key '{key}' is empty or uses the reserved prefix '{OnnxMetadataKeys.ReservedPrefix}'.", nameof(Metadata));
            }
        }

        foreach (var (type, emitter) in Emitters)
        {
            if (emitter is null)
            {
                throw new ArgumentException($"The emitter registered for {type.FullName} is null.", nameof(Emitters));
            }
        }
    }
}
