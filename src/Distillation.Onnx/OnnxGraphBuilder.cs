using System.Globalization;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using TorchSharp;

namespace Distillation.Onnx;

/// <summary>
/// Builds the ONNX graph in memory, module by module. Nothing touches the disk here: a failure at any
/// module leaves no trace.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    private const string BatchDimensionName = "batch";

    private readonly IReadOnlyDictionary<Type, IOnnxModuleEmitter> emitters;
    private readonly CancellationToken cancellationToken;
    private readonly HashSet<string> usedNames = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProto> producers = new(StringComparer.Ordinal);

    internal OnnxGraphBuilder(IReadOnlyDictionary<Type, IOnnxModuleEmitter> emitters, CancellationToken cancellationToken)
    {
        this.emitters = emitters;
        this.cancellationToken = cancellationToken;
    }

    internal GraphProto Graph { get; } = new();

    /// <summary>Number of float values in the initializers: the exported parameters and buffers.</summary>
    internal long InitializerValueCount { get; private set; }

    internal static string JoinPath(string parent, string child) => parent.Length == 0 ? child : parent + "." + child;

    /// <summary>Keeps names for the graph's own input and output, so no node or initializer takes them.</summary>
    internal void Reserve(string name) => usedNames.Add(name);

    internal OnnxValue AddInput(string name, IReadOnlyList<long> shapeWithoutBatch)
    {
        long[] shape = [OnnxValue.DynamicDimension, .. shapeWithoutBatch];
        Graph.Input.Add(ValueInfo(name, shape));
        return new OnnxValue(this, name, shape);
    }

    /// <summary>
    /// Makes <paramref name="result"/> the graph output named <paramref name="outputName"/>: the node
    /// producing it is renamed, or an Identity node is added when no node does (an empty model).
    /// </summary>
    internal OnnxValue SetOutput(OnnxValue result, string outputName)
    {
        if (producers.TryGetValue(result.Name, out var producer))
        {
            foreach (var node in Graph.Node)
            {
                Rename(node.Input, result.Name, outputName);
            }

            Rename(producer.Output, result.Name, outputName);
        }
        else
        {
            Graph.Node.Add(new NodeProto { Name = outputName, OpType = "Identity", Input = { result.Name }, Output = { outputName } });
        }

        var output = new OnnxValue(this, outputName, result.Shape);
        Graph.Output.Add(ValueInfo(outputName, output.Shape));
        return output;
    }

    internal void CheckOwned(OnnxValue value, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(value, parameterName);
        if (!ReferenceEquals(value.Owner, this))
        {
            throw new ArgumentException($"The value '{value.Name}' belongs to another ONNX export.", parameterName);
        }
    }

    /// <summary>Exports one module: a registered emitter (nearest base type), then <see cref="IOnnxExportable"/>, then the built-in layers.</summary>
    internal OnnxValue Emit(string path, torch.nn.Module module, OnnxValue input)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var context = new OnnxEmitContext(this, path, module);
        OnnxValue output;
        if (FindEmitter(module.GetType()) is { } emitter)
        {
            output = emitter.Emit(context, module, input);
        }
        else if (module is IOnnxExportable exportable)
        {
            output = exportable.EmitOnnx(context, input);
        }
        else if (StandardEmitters.Find(module) is { } standard)
        {
            output = standard(context, module, input);
        }
        else
        {
            throw context.Unsupported(
                "no ONNX emitter for this module type. Register an IOnnxModuleEmitter for it in OnnxExportOptions.Emitters, or implement IOnnxExportable on it.");
        }

        if (output is null || !ReferenceEquals(output.Owner, this))
        {
            throw context.Unsupported("its emitter returned no value of this export; it must return a value created through its OnnxEmitContext.");
        }

        return output;
    }

    internal OnnxValue AddNode(string path, string opType, IReadOnlyList<OnnxValue> inputs, IReadOnlyList<long> outputShape, IReadOnlyDictionary<string, object>? attributes)
    {
        var name = UniqueName((path.Length == 0 ? string.Empty : path + "/") + opType);
        var node = new NodeProto { Name = name, OpType = opType, Output = { name } };
        foreach (var input in inputs)
        {
            node.Input.Add(input.Name);
        }

        if (attributes is not null)
        {
            foreach (var (key, value) in attributes)
            {
                node.Attribute.Add(Attribute(key, value));
            }
        }

        Graph.Node.Add(node);
        producers.Add(name, node);
        return new OnnxValue(this, name, outputShape);
    }

    internal OnnxValue AddFloatInitializer(string name, torch.Tensor tensor)
    {
        if (!tensor.is_floating_point())
        {
            throw new ArgumentException($"The initializer '{name}' must be floating-point, is {tensor.dtype}.", nameof(tensor));
        }

        float[] values;
        using (torch.no_grad())
        using (var scope = torch.NewDisposeScope())
        {
            values = tensor.detach().to(torch.ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        }

        return AddFloatInitializer(name, values, tensor.shape);
    }

    internal OnnxValue AddFloatInitializer(string name, float[] values, long[] shape)
    {
        var unique = UniqueName(name);
        var proto = new TensorProto { Name = unique, DataType = (int)TensorProto.Types.DataType.Float };
        proto.Dims.AddRange(shape);
        // ONNX raw_data is little-endian, as is every platform .NET runs TorchSharp on.
        proto.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        Graph.Initializer.Add(proto);
        InitializerValueCount += values.LongLength;
        return new OnnxValue(this, unique, shape);
    }

    internal OnnxValue AddInt64Initializer(string name, IReadOnlyList<long> values)
    {
        var unique = UniqueName(name);
        var proto = new TensorProto { Name = unique, DataType = (int)TensorProto.Types.DataType.Int64 };
        proto.Dims.Add(values.Count);
        proto.Int64Data.AddRange(values);
        Graph.Initializer.Add(proto);
        return new OnnxValue(this, unique, [values.Count]);
    }

    private IOnnxModuleEmitter? FindEmitter(Type moduleType)
    {
        for (var type = moduleType; type is not null; type = type.BaseType)
        {
            if (emitters.TryGetValue(type, out var emitter))
            {
                return emitter;
            }
        }

        return null;
    }

    private string UniqueName(string hint)
    {
        var name = hint;
        for (var i = 1; !usedNames.Add(name); i++)
        {
            name = hint + "_" + i.ToString(CultureInfo.InvariantCulture);
        }

        return name;
    }

    private static void Rename(Google.Protobuf.Collections.RepeatedField<string> names, string from, string to)
    {
        for (var i = 0; i < names.Count; i++)
        {
            if (names[i] == from)
            {
                names[i] = to;
            }
        }
    }

    private static ValueInfoProto ValueInfo(string name, IReadOnlyList<long> shape)
    {
        var tensorShape = new TensorShapeProto();
        for (var i = 0; i < shape.Count; i++)
        {
            var dimension = new TensorShapeProto.Types.Dimension();
            if (shape[i] >= 0)
            {
                dimension.DimValue = shape[i];
            }
            else if (i == 0)
            {
                dimension.DimParam = BatchDimensionName;
            }

            tensorShape.Dim.Add(dimension);
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = tensorShape } },
        };
    }

    private static AttributeProto Attribute(string name, object value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var attribute = new AttributeProto { Name = name };
        switch (value)
        {
            case long l:
                attribute.Type = AttributeProto.Types.AttributeType.Int;
                attribute.I = l;
                break;
            case int i:
                attribute.Type = AttributeProto.Types.AttributeType.Int;
                attribute.I = i;
                break;
            case float f:
                attribute.Type = AttributeProto.Types.AttributeType.Float;
                attribute.F = f;
                break;
            case double d:
                attribute.Type = AttributeProto.Types.AttributeType.Float;
                attribute.F = (float)d;
                break;
            case string s:
                attribute.Type = AttributeProto.Types.AttributeType.String;
                attribute.S = ByteString.CopyFromUtf8(s);
                break;
            case IEnumerable<long> longs:
                attribute.Type = AttributeProto.Types.AttributeType.Ints;
                attribute.Ints.AddRange(longs);
                break;
            case IEnumerable<int> ints:
                attribute.Type = AttributeProto.Types.AttributeType.Ints;
                attribute.Ints.AddRange(ints.Select(x => (long)x));
                break;
            case IEnumerable<float> floats:
                attribute.Type = AttributeProto.Types.AttributeType.Floats;
                attribute.Floats.AddRange(floats);
                break;
            default:
                throw new ArgumentException(
                    $"Attribute '{name}' has type {value?.GetType().FullName ?? "null"}; use long, int, float, double, string, or a sequence of long, int or float.", nameof(value));
        }

        return attribute;
    }
}
