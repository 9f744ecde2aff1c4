using System.Globalization;
using Onnx;

namespace Distillation.Onnx.Quantization;

/// <summary>
/// Rewrites the fp32 graph into the form the integer kernels need, without changing what it computes:
/// a BatchNormalization right after a Conv or a Gemm (a BatchNorm1d after a Linear) is folded into its
/// weights and bias (else that output could not be quantized and ONNX Runtime would keep it in float),
/// and a Transpose of a constant matrix (a Linear exported as MatMul) becomes a transposed constant.
/// </summary>
internal static class GraphPreparation
{
    public static List<QuantizedNodeInfo> Prepare(GraphProto graph)
    {
        var folded = new List<QuantizedNodeInfo>();
        var names = GraphIndex.NamesIn(graph);
        FoldConstantTransposes(graph, folded);
        FoldBatchNorms(graph, names, folded);
        FoldBatchNormsIntoGemms(graph, names, folded);
        RemoveUnusedInitializers(graph);
        return folded;
    }

    public static void RemoveUnusedInitializers(GraphProto graph)
    {
        var used = graph.Node.SelectMany(n => n.Input).Concat(graph.Output.Select(o => o.Name)).Concat(graph.Input.Select(i => i.Name)).ToHashSet(StringComparer.Ordinal);
        for (var i = graph.Initializer.Count - 1; i >= 0; i--)
        {
            if (!used.Contains(graph.Initializer[i].Name))
            {
                graph.Initializer.RemoveAt(i);
            }
        }
    }

    private static void FoldConstantTransposes(GraphProto graph, List<QuantizedNodeInfo> folded)
    {
        var index = new GraphIndex(graph);
        foreach (var node in graph.Node.Where(n => n.OpType == "Transpose").ToList())
        {
            var perm = GraphIndex.AttributeInts(node, "perm");
            if (node.Input.Count != 1 || index.FloatInitializer(node.Input[0]) is not { } source || source.Dims.Count != 2
                || (perm is not null && !perm.SequenceEqual([1L, 0L])) || index.GraphOutputs.Contains(node.Output[0]))
            {
                continue;
            }

            var rows = (int)source.Dims[0];
            var columns = (int)source.Dims[1];
            var values = TensorProtos.ReadFloats(source);
            var transposed = new float[values.Length];
            for (var r = 0; r < rows; r++)
            {
                for (var c = 0; c < columns; c++)
                {
                    transposed[(c * rows) + r] = values[(r * columns) + c];
                }
            }

            graph.Initializer.Add(TensorProtos.Floats(node.Output[0], transposed, [columns, rows]));
            graph.Node.Remove(node);
            folded.Add(new QuantizedNodeInfo(node.Name, node.OpType, $"a transpose of the constant '{source.Name}', stored transposed"));
        }
    }

    private static void FoldBatchNorms(GraphProto graph, HashSet<string> names, List<QuantizedNodeInfo> folded)
    {
        var index = new GraphIndex(graph);
        foreach (var norm in graph.Node.Where(n => n.OpType == "BatchNormalization").ToList())
        {
            if (norm.Output.Count != 1 || norm.Input.Count != 5
                || index.ProducerOf(norm.Input[0]) is not { OpType: "Conv" } conv
                || index.ConsumersOf(conv.Output[0]).Count != 1 || index.GraphOutputs.Contains(conv.Output[0])
                || index.FloatInitializer(conv.Input[1]) is not { } weight
                || (conv.Input.Count > 2 && conv.Input[2].Length > 0 && index.FloatInitializer(conv.Input[2]) is null)
                || norm.Input.Skip(1).Any(i => index.FloatInitializer(i) is null))
            {
                continue;
            }

            var gamma = TensorProtos.ReadFloats(index.Initializers[norm.Input[1]]);
            var beta = TensorProtos.ReadFloats(index.Initializers[norm.Input[2]]);
            var mean = TensorProtos.ReadFloats(index.Initializers[norm.Input[3]]);
            var variance = TensorProtos.ReadFloats(index.Initializers[norm.Input[4]]);
            var epsilon = GraphIndex.AttributeFloat(norm, "epsilon", 1e-5f);
            var channels = (int)weight.Dims[0];
            if (gamma.Length != channels || beta.Length != channels || mean.Length != channels || variance.Length != channels)
            {
                continue;
            }

            var weights = TensorProtos.ReadFloats(weight);
            var bias = conv.Input.Count > 2 && conv.Input[2].Length > 0 ? TensorProtos.ReadFloats(index.Initializers[conv.Input[2]]) : new float[channels];
            var perChannel = weights.Length / channels;
            for (var c = 0; c < channels; c++)
            {
                // y = gamma (conv(x) + b − mean) / sqrt(var + eps) + beta, in double to round once.
                var factor = gamma[c] / Math.Sqrt(variance[c] + (double)epsilon);
                for (var i = 0; i < perChannel; i++)
                {
                    weights[(c * perChannel) + i] = (float)(weights[(c * perChannel) + i] * factor);
                }

                bias[c] = (float)(((bias[c] - (double)mean[c]) * factor) + beta[c]);
            }

            var weightName = Unique(names, conv.Input[1] + "_bn");
            var biasName = Unique(names, (conv.Input.Count > 2 && conv.Input[2].Length > 0 ? conv.Input[2] : conv.Name + ".bias") + "_bn");
            graph.Initializer.Add(TensorProtos.Floats(weightName, weights, [.. weight.Dims]));
            graph.Initializer.Add(TensorProtos.Floats(biasName, bias, [channels]));
            conv.Input[1] = weightName;
            if (conv.Input.Count > 2)
            {
                conv.Input[2] = biasName;
            }
            else
            {
                conv.Input.Add(biasName);
            }

            conv.Output[0] = norm.Output[0];
            graph.Node.Remove(norm);
            folded.Add(new QuantizedNodeInfo(norm.Name, norm.OpType, $"folded into the Conv '{conv.Name}'"));
        }
    }

    /// <summary>
    /// BatchNormalization(Gemm(x, B, C)) with constant B, C and statistics becomes one Gemm:
    /// output column j of B (row j when transB) scaled by gamma[j] / sqrt(var[j] + eps), and
    /// C'[j] = (C[j] − mean[j]) · that factor + beta[j].
    /// </summary>
    private static void FoldBatchNormsIntoGemms(GraphProto graph, HashSet<string> names, List<QuantizedNodeInfo> folded)
    {
        var index = new GraphIndex(graph);
        foreach (var norm in graph.Node.Where(n => n.OpType == "BatchNormalization").ToList())
        {
            if (norm.Output.Count != 1 || norm.Input.Count != 5
                || index.ProducerOf(norm.Input[0]) is not { OpType: "Gemm" } gemm
                || index.ConsumersOf(gemm.Output[0]).Count != 1 || index.GraphOutputs.Contains(gemm.Output[0])
                || GraphIndex.AttributeInt(gemm, "transA", 0) != 0 || GraphIndex.AttributeFloat(gemm, "alpha", 1f) != 1f || GraphIndex.AttributeFloat(gemm, "beta", 1f) != 1f
                || index.FloatInitializer(gemm.Input[1]) is not { Dims.Count: 2 } weight
                || norm.Input.Skip(1).Any(i => index.FloatInitializer(i) is null))
            {
                continue;
            }

            var transB = GraphIndex.AttributeInt(gemm, "transB", 0) != 0;
            var outputs = (int)weight.Dims[transB ? 0 : 1];
            var hasBias = gemm.Input.Count > 2 && gemm.Input[2].Length > 0;
            if (hasBias && index.FloatInitializer(gemm.Input[2]) is not { Dims.Count: 1 })
            {
                continue;
            }

            var gamma = TensorProtos.ReadFloats(index.Initializers[norm.Input[1]]);
            var beta = TensorProtos.ReadFloats(index.Initializers[norm.Input[2]]);
            var mean = TensorProtos.ReadFloats(index.Initializers[norm.Input[3]]);
            var variance = TensorProtos.ReadFloats(index.Initializers[norm.Input[4]]);
            var bias = hasBias ? TensorProtos.ReadFloats(index.Initializers[gemm.Input[2]]) : new float[outputs];
            if (gamma.Length != outputs || beta.Length != outputs || mean.Length != outputs || variance.Length != outputs || bias.Length != outputs)
            {
                continue;
            }

            var epsilon = GraphIndex.AttributeFloat(norm, "epsilon", 1e-5f);
            var weights = TensorProtos.ReadFloats(weight);
            var inputs = weights.Length / outputs;
            for (var j = 0; j < outputs; j++)
            {
                var factor = gamma[j] / Math.Sqrt(variance[j] + (double)epsilon);
                for (var i = 0; i < inputs; i++)
                {
                    var at = transB ? (j * inputs) + i : (i * outputs) + j;
                    weights[at] = (float)(weights[at] * factor);
                }

                bias[j] = (float)(((bias[j] - (double)mean[j]) * factor) + beta[j]);
            }

            var weightName = Unique(names, gemm.Input[1] + "_bn");
            var biasName = Unique(names, (hasBias ? gemm.Input[2] : gemm.Name + ".bias") + "_bn");
            graph.Initializer.Add(TensorProtos.Floats(weightName, weights, [.. weight.Dims]));
            graph.Initializer.Add(TensorProtos.Floats(biasName, bias, [outputs]));
            gemm.Input[1] = weightName;
            if (gemm.Input.Count > 2)
            {
                gemm.Input[2] = biasName;
            }
            else
            {
                gemm.Input.Add(biasName);
            }

            gemm.Output[0] = norm.Output[0];
            graph.Node.Remove(norm);
            folded.Add(new QuantizedNodeInfo(norm.Name, norm.OpType, $"folded into the Gemm '{gemm.Name}'"));
        }
    }

    public static string Unique(HashSet<string> names, string hint)
    {
        var name = hint;
        for (var i = 1; !names.Add(name); i++)
        {
            name = hint + "_" + i.ToString(CultureInfo.InvariantCulture);
        }

        return name;
    }
}
