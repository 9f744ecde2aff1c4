using Onnx;

namespace Distillation.Onnx.Quantization;

/// <summary>Who produces and who consumes each tensor of a graph, and its initializers by name.</summary>
internal sealed class GraphIndex
{
    private static readonly IReadOnlyList<NodeProto> NoNodes = [];
    private readonly Dictionary<string, NodeProto> producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<NodeProto>> consumers = new(StringComparer.Ordinal);

    public GraphIndex(GraphProto graph)
    {
        Initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        GraphOutputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        GraphInputs = graph.Input.Select(i => i.Name).Where(n => !Initializers.ContainsKey(n)).ToHashSet(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var output in node.Output.Where(o => o.Length > 0))
            {
                producers[output] = node;
            }

            foreach (var input in node.Input.Where(i => i.Length > 0).Distinct())
            {
                if (!consumers.TryGetValue(input, out var list))
                {
                    consumers[input] = list = [];
                }

                list.Add(node);
            }
        }
    }

    public Dictionary<string, TensorProto> Initializers { get; }

    public HashSet<string> GraphOutputs { get; }

    public HashSet<string> GraphInputs { get; }

    public NodeProto? ProducerOf(string tensor) => producers.GetValueOrDefault(tensor);

    public IReadOnlyList<NodeProto> ConsumersOf(string tensor) => consumers.TryGetValue(tensor, out var list) ? list : NoNodes;

    public TensorProto? FloatInitializer(string name) =>
        Initializers.TryGetValue(name, out var tensor) && TensorProtos.IsFloat(tensor) ? tensor : null;

    /// <summary>Every name the graph uses (tensors, nodes, initializers), for making new unique ones.</summary>
    public static HashSet<string> NamesIn(GraphProto graph)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        names.UnionWith(graph.Initializer.Select(t => t.Name));
        names.UnionWith(graph.Input.Select(i => i.Name));
        names.UnionWith(graph.Output.Select(o => o.Name));
        names.UnionWith(graph.ValueInfo.Select(v => v.Name));
        foreach (var node in graph.Node)
        {
            names.Add(node.Name);
            names.UnionWith(node.Input);
            names.UnionWith(node.Output);
        }

        return names;
    }

    public static long AttributeInt(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } attribute ? attribute.I : fallback;

    public static float AttributeFloat(NodeProto node, string name, float fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } attribute ? attribute.F : fallback;

    public static IReadOnlyList<long>? AttributeInts(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } attribute ? attribute.Ints : null;
}
