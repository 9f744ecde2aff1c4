using Onnx;

namespace Distillation.Onnx.Quantization;

/// <summary>
/// Writes a <see cref="QdqPlan"/> into the graph: a QuantizeLinear after each quantized tensor is made
/// (or at the start for the graph input), a DequantizeLinear before each of its consumers, and the
/// targets' weights and biases replaced by int8 and int32 constants behind per-channel DequantizeLinear
/// nodes. Node order stays topological. The added nodes have no names and the added tensors short
/// suffixes (_q, _dq, _scale, _zp): on a small model the names are a visible part of the file.
/// </summary>
internal static class QdqRewriter
{
    public static void Rewrite(GraphProto graph, QdqPlan plan, IReadOnlyDictionary<string, QuantizationParameters> parameters, ActivationType type)
    {
        var index = new GraphIndex(graph);
        var names = GraphIndex.NamesIn(graph);
        var added = new List<TensorProto>();
        var nodes = new List<NodeProto>();
        var targets = plan.Targets.ToDictionary(t => t.Node, t => t);

        // One scale and zero point pair per calibrated tensor, shared by the tensors that reuse it.
        var constants = new Dictionary<string, (string Scale, string ZeroPoint)>(StringComparer.Ordinal);
        (string Scale, string ZeroPoint) ConstantsOf(string tensor)
        {
            var root = plan.RootOf[tensor];
            if (!constants.TryGetValue(root, out var pair))
            {
                var p = parameters[root];
                pair = (GraphPreparation.Unique(names, root + "_scale"), GraphPreparation.Unique(names, root + "_zp"));
                added.Add(TensorProtos.Floats(pair.Scale, [p.Scale], []));
                added.Add(TensorProtos.ZeroPoint(pair.ZeroPoint, type, p.ZeroPoint));
                constants[root] = pair;
            }

            return pair;
        }

        var quantizedNames = new Dictionary<string, string>(StringComparer.Ordinal);
        void Quantize(string tensor)
        {
            var (scale, zeroPoint) = ConstantsOf(tensor);
            var output = GraphPreparation.Unique(names, tensor + "_q");
            nodes.Add(new NodeProto { OpType = "QuantizeLinear", Input = { tensor, scale, zeroPoint }, Output = { output } });
            quantizedNames[tensor] = output;
        }

        foreach (var input in index.GraphInputs.Where(plan.RootOf.ContainsKey))
        {
            Quantize(input);
        }

        foreach (var node in graph.Node)
        {
            if (targets.TryGetValue(node, out var target) && target.WeightInput >= 0)
            {
                ReplaceWeights(node, target, index, names, added, nodes, parameters[plan.RootOf[target.Activations[0]]].Scale);
            }

            for (var i = 0; i < node.Input.Count; i++)
            {
                var tensor = node.Input[i];
                if (tensor.Length == 0 || !plan.RootOf.ContainsKey(tensor))
                {
                    continue;
                }

                var (scale, zeroPoint) = ConstantsOf(tensor);
                var output = GraphPreparation.Unique(names, tensor + "_dq");
                nodes.Add(new NodeProto { OpType = "DequantizeLinear", Input = { quantizedNames[tensor], scale, zeroPoint }, Output = { output } });
                node.Input[i] = output;
            }

            nodes.Add(node);
            foreach (var output in node.Output.Where(plan.RootOf.ContainsKey))
            {
                Quantize(output);
            }
        }

        graph.Node.Clear();
        graph.Node.AddRange(nodes);
        graph.Initializer.AddRange(added);
        GraphPreparation.RemoveUnusedInitializers(graph);
    }

    private static void ReplaceWeights(NodeProto node, QuantizationTarget target, GraphIndex index, HashSet<string> names, List<TensorProto> added, List<NodeProto> nodes, float inputScale)
    {
        var weight = index.Initializers[node.Input[target.WeightInput]];
        long[] shape = [.. weight.Dims];
        var (values, scales) = QuantizationMath.QuantizeWeightsPerChannel(TensorProtos.ReadFloats(weight), shape, target.WeightAxis);
        var channels = scales.Length;
        var weightName = GraphPreparation.Unique(names, weight.Name + "_q");
        var weightScale = GraphPreparation.Unique(names, weight.Name + "_scale");
        var weightZero = GraphPreparation.Unique(names, weight.Name + "_zp");
        added.Add(TensorProtos.Int8s(weightName, values, shape));
        added.Add(TensorProtos.Floats(weightScale, scales, [channels]));
        added.Add(TensorProtos.Int8s(weightZero, new sbyte[channels], [channels]));
        node.Input[target.WeightInput] = Dequantize(nodes, names, weight.Name, weightName, weightScale, target.WeightAxis, weightZero);

        if (target.BiasInput >= 0)
        {
            var bias = index.Initializers[node.Input[target.BiasInput]];
            var (biasValues, biasScales) = QuantizationMath.QuantizeBias(TensorProtos.ReadFloats(bias), inputScale, scales);
            // The int32 zero points of a bias are all 0, what DequantizeLinear assumes when they are left
            // out: 4 bytes a channel, a visible part of a small model's file.
            var biasName = GraphPreparation.Unique(names, bias.Name + "_q");
            var biasScale = GraphPreparation.Unique(names, bias.Name + "_scale");
            added.Add(TensorProtos.Int32s(biasName, biasValues, [channels]));
            added.Add(TensorProtos.Floats(biasScale, biasScales, [channels]));
            node.Input[target.BiasInput] = Dequantize(nodes, names, bias.Name, biasName, biasScale, 0);
        }
    }

    private static string Dequantize(List<NodeProto> nodes, HashSet<string> names, string hint, string input, string scale, int axis, string? zeroPoint = null)
    {
        var output = GraphPreparation.Unique(names, hint + "_dq");
        nodes.Add(new NodeProto
        {
            OpType = "DequantizeLinear",
            Input = { zeroPoint is null ? [input, scale] : [input, scale, zeroPoint] },
            Output = { output },
            Attribute = { new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = axis } },
        });
        return output;
    }
}
