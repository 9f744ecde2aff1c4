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
        FoldBatchNorms(graph, names, folded, "Conv");
        FoldBatchNorms(graph, names, folded, "Gemm");
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

    /// <summary>
    /// BatchNormalization(P(x, W, b)) with constant W, b and statistics becomes one P, where P is a
    /// Conv (output channel c: the c-th block of W) or a Gemm with transA 0 and alpha = beta = 1
    /// (output j: column j of W, row j when transB). Each output's weights are scaled by
    /// gamma / sqrt(var + eps), and b' = (b − mean) · that factor + beta.
    /// </summary>
    private static void FoldBatchNorms(GraphProto graph, HashSet<string> names, List<QuantizedNodeInfo> folded, string producerType)
    {
        var index = new GraphIndex(graph);
        foreach (var norm in graph.Node.Where(n => n.OpType == "BatchNormalization").ToList())
        {
            if (norm.Output.Count != 1 || norm.Input.Count != 5
                || index.ProducerOf(norm.Input[0]) is not { } producer || producer.OpType != producerType
                || index.ConsumersOf(producer.Output[0]).Count != 1 || index.GraphOutputs.Contains(producer.Output[0])
                || index.FloatInitializer(producer.Input[1]) is not { } weight
                || norm.Input.Skip(1).Any(i => index.FloatInitializer(i) is null))
            {
                continue;
            }

            var hasBias = producer.Input.Count > 2 && producer.Input[2].Length > 0;
            if (hasBias && index.FloatInitializer(producer.Input[2]) is not { Dims.Count: 1 })
            {
                continue;
            }

            // Where output j's weights are: a contiguous block for a Conv, a row or a column of a Gemm's matrix.
            var transB = GraphIndex.AttributeInt(producer, "transB", 0) != 0;
            var isGemm = producerType == "Gemm";
            if (isGemm && (weight.Dims.Count != 2 || GraphIndex.AttributeInt(producer, "transA", 0) != 0
                || GraphIndex.AttributeFloat(producer, "alpha", 1f) != 1f || GraphIndex.AttributeFloat(producer, "beta", 1f) != 1f))
            {
                continue;
            }

            var outputs = (int)weight.Dims[isGemm && !transB ? 1 : 0];
            var gamma = TensorProtos.ReadFloats(index.Initializers[norm.Input[1]]);
            var beta = TensorProtos.ReadFloats(index.Initializers[norm.Input[2]]);
            var mean = TensorProtos.ReadFloats(index.Initializers[norm.Input[3]]);
            var variance = TensorProtos.ReadFloats(index.Initializers[norm.Input[4]]);
            var bias = hasBias ? TensorProtos.ReadFloats(index.Initializers[producer.Input[2]]) : new float[outputs];
            if (gamma.Length != outputs || beta.Length != outputs || mean.Length != outputs || variance.Length != outputs || bias.Length != outputs)
            {
                continue;
            }

            var epsilon = GraphIndex.AttributeFloat(norm, "epsilon", 1e-5f);
            var weights = TensorProtos.ReadFloats(weight);
            var perOutput = weights.Length / outputs;
            for (var j = 0; j < outputs; j++)
            {
                // y = gamma (P(x) + b − mean) / sqrt(var + eps) + beta, in double to round once.
                var factor = gamma[j] / Math.Sqrt(variance[j] + (double)epsilon);
                for (var i = 0; i < perOutput; i++)
                {
                    var at = isGemm && !transB ? (i * outputs) + j : (j * perOutput) + i;
                    weights[at] = (float)(weights[at] * factor);
                }

                bias[j] = (float)(((bias[j] - (double)mean[j]) * factor) + beta[j]);
            }

            var weightName = Unique(names, producer.Input[1] + "_bn");
            var biasName = Unique(names, (hasBias ? producer.Input[2] : producer.Name + ".bias") + "_bn");
            graph.Initializer.Add(TensorProtos.Floats(weightName, weights, [.. weight.Dims]));
            graph.Initializer.Add(TensorProtos.Floats(biasName, bias, [outputs]));
            producer.Input[1] = weightName;
            if (producer.Input.Count > 2)
            {
                producer.Input[2] = biasName;
            }
            else
            {
                producer.Input.Add(biasName);
            }

            producer.Output[0] = norm.Output[0];
            graph.Node.Remove(norm);
            folded.Add(new QuantizedNodeInfo(norm.Name, norm.OpType, $"folded into the {producerType} '{producer.Name}'"));
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
