using TorchSharp;

namespace Distillation.Onnx;

/// <summary>
/// What an emitter uses to add one module's part of the graph: nodes, initializers (its parameters)
/// and its child modules. One context serves one module; its names are prefixed by the module's path,
/// as in the module's parameter names.
/// </summary>
/// <remarks>
/// The typed operators (<see cref="Add"/>, <see cref="Relu"/>, <see cref="Concat"/>, …) infer each
/// output's shape, so an <see cref="IOnnxExportable"/> writes one call per operation and no shape;
/// inputs that do not fit together fail the export with an <see cref="OnnxExportException"/> naming
/// this module's path. <see cref="AddNode"/> remains for operators without a typed method.
/// </remarks>
public sealed partial class OnnxEmitContext
{
    private readonly OnnxGraphBuilder builder;
    private readonly torch.nn.Module module;
    private Dictionary<torch.nn.Module, string>? descendantPaths;

    internal OnnxEmitContext(OnnxGraphBuilder builder, string modulePath, torch.nn.Module module)
    {
        this.builder = builder;
        this.module = module;
        ModulePath = modulePath;
    }

    /// <summary>The module's path in the exported tree, as in its parameter names (<c>features.3</c>); empty for the root module.</summary>
    public string ModulePath { get; }

    /// <summary>Exports a child module through the same rules as the rest of the tree (registered emitters, <see cref="IOnnxExportable"/>, built-in layers).</summary>
    /// <param name="childName">The child's name, as registered in its parent (<c>features</c>, <c>0</c>); it extends the path.</param>
    /// <param name="child">The child module.</param>
    /// <param name="input">The child's input.</param>
    /// <returns>The child's output.</returns>
    /// <exception cref="ArgumentException"><paramref name="childName"/> is empty, or <paramref name="input"/> belongs to another export.</exception>
    /// <exception cref="OnnxExportException">The child, or one of its descendants, cannot be exported.</exception>
    public OnnxValue EmitModule(string childName, torch.nn.Module child, OnnxValue input)
    {
        ArgumentException.ThrowIfNullOrEmpty(childName);
        ArgumentNullException.ThrowIfNull(child);
        builder.CheckOwned(input, nameof(input));
        return builder.Emit(OnnxGraphBuilder.JoinPath(ModulePath, childName), child, input);
    }

    /// <summary>
    /// Exports a submodule of this module through the same rules as the rest of the tree (registered
    /// emitters, <see cref="IOnnxExportable"/>, built-in layers), under its registered name: a child
    /// (<c>conv1</c>) or a deeper descendant (<c>layers.0</c> of a <c>ModuleList</c>).
    /// </summary>
    /// <param name="child">The submodule, as held in this module's field.</param>
    /// <param name="input">The submodule's input.</param>
    /// <returns>The submodule's output.</returns>
    /// <exception cref="ArgumentException"><paramref name="input"/> belongs to another export.</exception>
    /// <exception cref="OnnxExportException">
    /// <paramref name="child"/> is not registered in this module (a field missing from <c>RegisterComponents()</c>),
    /// or it or one of its descendants cannot be exported.
    /// </exception>
    public OnnxValue EmitModule(torch.nn.Module child, OnnxValue input)
    {
        ArgumentNullException.ThrowIfNull(child);
        builder.CheckOwned(input, nameof(input));
        descendantPaths ??= IndexDescendants(module);
        if (!descendantPaths.TryGetValue(child, out var name))
        {
            throw Unsupported(
                $"EmitModule was given a {child.GetType().Name} ('{child.GetName()}') that is not registered in this module; hold it in a field and call RegisterComponents() in the constructor.");
        }

        return builder.Emit(OnnxGraphBuilder.JoinPath(ModulePath, name), child, input);
    }

    /// <summary>Adds one node of the default ONNX domain (opset 17) with a single output.</summary>
    /// <param name="opType">The operator (<c>Conv</c>, <c>Relu</c>, …).</param>
    /// <param name="inputs">The node's inputs, in the operator's order.</param>
    /// <param name="outputShape">
    /// The output's shape, which later layers rely on: the batch dimension as
    /// <see cref="OnnxValue.DynamicDimension"/>, other dimensions as known (or <see cref="OnnxValue.DynamicDimension"/> where unknown).
    /// </param>
    /// <param name="attributes">
    /// The node's attributes by name: <see cref="long"/> or <see cref="int"/> (INT), <see cref="float"/> or
    /// <see cref="double"/> (FLOAT), <see cref="string"/> (STRING), a sequence of <see cref="long"/> or
    /// <see cref="int"/> (INTS), a sequence of <see cref="float"/> (FLOATS). Default: none.
    /// </param>
    /// <returns>The node's output.</returns>
    /// <exception cref="ArgumentException">The operator is empty, an input belongs to another export, or an attribute has an unsupported type.</exception>
    public OnnxValue AddNode(string opType, IReadOnlyList<OnnxValue> inputs, IReadOnlyList<long> outputShape, IReadOnlyDictionary<string, object>? attributes = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(opType);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputShape);
        foreach (var input in inputs)
        {
            builder.CheckOwned(input, nameof(inputs));
        }

        return builder.AddNode(ModulePath, opType, inputs, outputShape, attributes);
    }

    /// <summary>Adds a float32 initializer holding a copy of <paramref name="tensor"/> (converted from its floating-point type, moved to the CPU).</summary>
    /// <param name="name">The name within the module (<c>weight</c>); the initializer is named <c>{path}.{name}</c>, as in the state dict.</param>
    /// <param name="tensor">The values; any floating-point type, any device.</param>
    /// <returns>The initializer.</returns>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or <paramref name="tensor"/> is not floating-point.</exception>
    public OnnxValue AddInitializer(string name, torch.Tensor tensor)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(tensor);
        return builder.AddFloatInitializer(OnnxGraphBuilder.JoinPath(ModulePath, name), tensor);
    }

    /// <summary>Adds a one-dimensional int64 initializer, such as the target shape of a <c>Reshape</c>.</summary>
    /// <param name="name">The name within the module; the initializer is named <c>{path}.{name}</c>.</param>
    /// <param name="values">The values.</param>
    /// <returns>The initializer.</returns>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty.</exception>
    public OnnxValue AddInt64Initializer(string name, IReadOnlyList<long> values)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(values);
        return builder.AddInt64Initializer(OnnxGraphBuilder.JoinPath(ModulePath, name), values);
    }

    /// <summary>Creates the exception an emitter throws for a configuration it cannot express; it names this module's path and type.</summary>
    /// <param name="reason">What cannot be exported, and where possible what would work.</param>
    /// <returns>The exception, to throw.</returns>
    public OnnxExportException Unsupported(string reason) => new(ModulePath, module.GetType(), reason);

    private static Dictionary<torch.nn.Module, string> IndexDescendants(torch.nn.Module root)
    {
        var paths = new Dictionary<torch.nn.Module, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, descendant) in root.named_modules())
        {
            // The first name wins for a module registered twice (shared weights), as in the state dict.
            if (name.Length > 0 && !ReferenceEquals(descendant, root))
            {
                paths.TryAdd(descendant, name);
            }
        }

        return paths;
    }
}
