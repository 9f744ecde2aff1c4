using Onnx;

namespace Distillation.Onnx.Quantization;

/// <summary>A node whose inputs get QuantizeLinear/DequantizeLinear pairs, with the axis of its weight's output channels.</summary>
internal sealed record QuantizationTarget(NodeProto Node, IReadOnlyList<string> Activations, int WeightInput, int WeightAxis, int BiasInput);

/// <summary>
/// Which nodes run in 8-bit and which tensors are quantized, decided from the graph alone (before any
/// calibration). The rules follow what ONNX Runtime's CPU provider fuses into integer kernels:
/// <list type="bullet">
/// <item>Conv, Gemm and MatMul with constant weights: the activation input, the weight (int8 per output
/// channel) and the bias (int32) are dequantized from 8-bit, and the output is quantized, so the node
/// becomes QLinearConv, QGemm or QLinearMatMul (a Gemm or MatMul giving a graph output stays float out:
/// QGemm, MatMulIntegerToFloat).</item>
/// <item>Add of two computed tensors: both inputs and the output (QLinearAdd).</item>
/// <item>AveragePool and GlobalAveragePool: input and output (QLinearAveragePool, QLinearGlobalAveragePool).</item>
/// <item>An output whose only consumer is a Relu is quantized after the Relu instead: its range starts at
/// 0, so the zero point is the type's minimum and ONNX Runtime drops the Relu into the quantization.</item>
/// <item>MaxPool, Flatten, Reshape, Transpose, Squeeze, Unsqueeze and Identity between quantized tensors
/// reuse their input's scale and zero point, so ONNX Runtime runs them on the 8-bit values.</item>
/// </list>
/// Everything else stays in float, reading dequantized values; the report says which and why.
/// </summary>
internal sealed class QdqPlan
{
    private static readonly HashSet<string> PassThrough = new(StringComparer.Ordinal) { "MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity" };

    private QdqPlan()
    {
    }

    public List<QuantizationTarget> Targets { get; } = [];

    /// <summary>Every quantized tensor and the calibrated tensor whose scale and zero point it uses (itself, or one before a chain of MaxPool, Flatten, …).</summary>
    public Dictionary<string, string> RootOf { get; } = new(StringComparer.Ordinal);

    public IEnumerable<string> CalibratedTensors => RootOf.Values.Distinct(StringComparer.Ordinal);

    public List<QuantizedNodeInfo> Quantized { get; } = [];

    public List<QuantizedNodeInfo> Carried { get; } = [];

    public List<QuantizedNodeInfo> Float { get; } = [];

    public static QdqPlan Make(GraphProto graph, QuantizationOptions options)
    {
        var plan = new QdqPlan();
        var index = new GraphIndex(graph);
        var reasons = new Dictionary<NodeProto, string>();
        foreach (var node in graph.Node)
        {
            if (options.ExcludedNodes.Contains(node.Name))
            {
                reasons[node] = "excluded by QuantizationOptions.ExcludedNodes";
                continue;
            }

            var (target, reason) = node.OpType switch
            {
                "Conv" => Conv(node, index, options.MinConvInputChannels),
                "Gemm" => Gemm(node, index),
                "MatMul" => MatMul(node, index),
                "Add" => Add(node, index),
                "GlobalAveragePool" or "AveragePool" => Pool(node, index),
                _ => (null, PassThrough.Contains(node.OpType) || node.OpType == "Relu"
                    ? "its input is not a quantized tensor, so it runs in float"
                    : $"{node.OpType} has no 8-bit form in this quantizer; it runs in float on dequantized values"),
            };
            if (target is null)
            {
                reasons[node] = reason!;
            }
            else
            {
                plan.Targets.Add(target);
            }
        }

        // The tensors that carry their own calibrated range: the targets' activation inputs and outputs.
        var own = new HashSet<string>(StringComparer.Ordinal);
        var carried = new Dictionary<NodeProto, string>();
        foreach (var target in plan.Targets)
        {
            own.UnionWith(target.Activations);
            var output = target.Node.Output[0];
            if (index.GraphOutputs.Contains(output))
            {
                continue;
            }

            var consumers = index.ConsumersOf(output);
            if (consumers.Count == 1 && consumers[0] is { OpType: "Relu" } relu && !index.GraphOutputs.Contains(relu.Output[0]) && !options.ExcludedNodes.Contains(relu.Name))
            {
                own.Add(relu.Output[0]);
                carried[relu] = $"ONNX Runtime folds it into the quantization of '{target.Node.Name}' (zero point at the type's minimum)";
            }
            else
            {
                own.Add(output);
            }
        }

        // A tensor made by MaxPool, Flatten, … from a quantized tensor shares that tensor's scale and zero point.
        var memo = new Dictionary<string, string?>(StringComparer.Ordinal);
        string? RootThroughPassThrough(string tensor)
        {
            if (memo.TryGetValue(tensor, out var known))
            {
                return known;
            }

            string? root = null;
            if (index.ProducerOf(tensor) is { } producer && PassThrough.Contains(producer.OpType) && producer.Output.Count == 1
                && !options.ExcludedNodes.Contains(producer.Name) && !index.GraphOutputs.Contains(tensor))
            {
                root = RootThroughPassThrough(producer.Input[0]);
            }

            root ??= own.Contains(tensor) ? tensor : null;
            memo[tensor] = root;
            return root;
        }

        foreach (var tensor in own)
        {
            var root = RootThroughPassThrough(tensor)!;
            plan.RootOf[tensor] = root;
            for (var t = tensor; t != root;)
            {
                var producer = index.ProducerOf(t)!;
                carried[producer] = $"runs on 8-bit values with the scale of '{root}'";
                plan.RootOf[t] = root;
                t = producer.Input[0];
            }
        }

        foreach (var node in graph.Node)
        {
            if (plan.Targets.Any(t => ReferenceEquals(t.Node, node)))
            {
                plan.Quantized.Add(new QuantizedNodeInfo(node.Name, node.OpType, Describe(node, index)));
            }
            else if (carried.TryGetValue(node, out var how))
            {
                plan.Carried.Add(new QuantizedNodeInfo(node.Name, node.OpType, how));
            }
            else
            {
                plan.Float.Add(new QuantizedNodeInfo(node.Name, node.OpType, reasons[node]));
            }
        }

        return plan;
    }

    private static string Describe(NodeProto node, GraphIndex index) => node.OpType is "Add" or "GlobalAveragePool" or "AveragePool"
        ? "8-bit inputs and output"
        : index.GraphOutputs.Contains(node.Output[0])
            ? "int8 weights per output channel, 8-bit input, float output (a graph output)"
            : "int8 weights per output channel, 8-bit input and output";

    private static bool IsComputed(string tensor, GraphIndex index) => tensor.Length > 0 && !index.Initializers.ContainsKey(tensor);

    private static bool HasFloatBias(NodeProto node, int input, GraphIndex index, long channels, out string? reason)
    {
        reason = null;
        if (node.Input.Count <= input || node.Input[input].Length == 0)
        {
            return false;
        }

        if (index.FloatInitializer(node.Input[input]) is not { } bias || bias.Dims.Count != 1 || bias.Dims[0] != channels)
        {
            reason = $"its bias '{node.Input[input]}' is not a constant float vector of {channels} values";
        }

        return true;
    }

    private static (QuantizationTarget?, string?) Conv(NodeProto node, GraphIndex index, int minInputChannels)
    {
        if (node.Input.Count < 2 || !IsComputed(node.Input[0], index))
        {
            return (null, "its input is a constant");
        }

        if (index.FloatInitializer(node.Input[1]) is not { } weight || weight.Dims.Count < 3)
        {
            return (null, $"its weight '{node.Input[1]}' is not a constant float tensor");
        }

        if (GraphIndex.AttributeInt(node, "group", 1) == 1 && weight.Dims[1] < minInputChannels)
        {
            return (null, $"{weight.Dims[1]} input channels, fewer than QuantizationOptions.MinConvInputChannels ({minInputChannels})");
        }

        var hasBias = HasFloatBias(node, 2, index, weight.Dims[0], out var reason);
        return reason is not null ? (null, reason) : (new QuantizationTarget(node, [node.Input[0]], 1, 0, hasBias ? 2 : -1), null);
    }

    private static (QuantizationTarget?, string?) Gemm(NodeProto node, GraphIndex index)
    {
        if (GraphIndex.AttributeInt(node, "transA", 0) != 0 || GraphIndex.AttributeFloat(node, "alpha", 1f) != 1f || GraphIndex.AttributeFloat(node, "beta", 1f) != 1f)
        {
            return (null, "transA, alpha or beta differ from the plain A·B + C the integer kernel computes");
        }

        if (node.Input.Count < 2 || !IsComputed(node.Input[0], index))
        {
            return (null, "its input A is a constant");
        }

        if (index.FloatInitializer(node.Input[1]) is not { } weight || weight.Dims.Count != 2)
        {
            return (null, $"its B '{node.Input[1]}' is not a constant float matrix");
        }

        var transB = GraphIndex.AttributeInt(node, "transB", 0) != 0;
        var axis = transB ? 0 : 1;
        var hasBias = HasFloatBias(node, 2, index, weight.Dims[axis], out var reason);
        return reason is not null ? (null, reason) : (new QuantizationTarget(node, [node.Input[0]], 1, axis, hasBias ? 2 : -1), null);
    }

    private static (QuantizationTarget?, string?) MatMul(NodeProto node, GraphIndex index)
    {
        if (!IsComputed(node.Input[0], index))
        {
            return (null, "its input A is a constant");
        }

        return index.FloatInitializer(node.Input[1]) is { Dims.Count: 2 }
            ? (new QuantizationTarget(node, [node.Input[0]], 1, 1, -1), null)
            : (null, $"its B '{node.Input[1]}' is not a constant float matrix (a product of two computed tensors stays float)");
    }

    private static (QuantizationTarget?, string?) Pool(NodeProto node, GraphIndex index) =>
        node.Output.Count == 1 && IsComputed(node.Input[0], index)
            ? (new QuantizationTarget(node, [node.Input[0]], -1, 0, -1), null)
            : (null, "its input is a constant");

    private static (QuantizationTarget?, string?) Add(NodeProto node, GraphIndex index) =>
        node.Input.Count == 2 && IsComputed(node.Input[0], index) && IsComputed(node.Input[1], index)
            ? (new QuantizationTarget(node, [node.Input[0], node.Input[1]], -1, 0, -1), null)
            : (null, "it adds a constant (only the sum of two computed tensors is quantized)");
}
