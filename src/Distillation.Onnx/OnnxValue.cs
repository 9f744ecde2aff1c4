namespace Distillation.Onnx;

/// <summary>
/// A tensor of the graph being exported: a graph input, an initializer or a node's output. Emitters
/// receive one and return one; they never create their own (see <see cref="OnnxEmitContext"/>).
/// </summary>
public sealed class OnnxValue
{
    /// <summary>The value of a dimension that is not fixed in the file: the batch dimension, or one an emitter left unknown.</summary>
    public const long DynamicDimension = -1;

    internal OnnxValue(object owner, string name, IReadOnlyList<long> shape)
    {
        Owner = owner;
        Name = name;
        Shape = shape.ToArray();
    }

    /// <summary>The tensor's name in the ONNX graph.</summary>
    public string Name { get; }

    /// <summary>
    /// The tensor's shape as far as the export knows it. For activations, dimension 0 is the batch and
    /// is <see cref="DynamicDimension"/>; initializers have fully known shapes.
    /// </summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>The graph this value belongs to, so a value from another export is refused.</summary>
    internal object Owner { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Name} [{string.Join(", ", Shape.Select(d => d == DynamicDimension ? "?" : d.ToString(System.Globalization.CultureInfo.InvariantCulture)))}]";
}
