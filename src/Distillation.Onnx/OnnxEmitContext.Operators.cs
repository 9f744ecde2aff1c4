namespace Distillation.Onnx;

/// <content>The typed, shape-inferring operators, with PyTorch's semantics.</content>
public sealed partial class OnnxEmitContext
{
    /// <summary>Elementwise <c>a + b</c> with broadcasting, as <c>torch.add</c> (a residual connection: <c>Add(x, block)</c>).</summary>
    /// <param name="a">The first operand.</param>
    /// <param name="b">The second operand.</param>
    /// <returns>The sum, of the broadcast shape.</returns>
    /// <exception cref="OnnxExportException">The shapes do not broadcast; the message names this module and both shapes.</exception>
    public OnnxValue Add(OnnxValue a, OnnxValue b) => Elementwise("Add", a, b);

    /// <summary>Elementwise <c>a − b</c> with broadcasting.</summary>
    /// <param name="a">The minuend.</param>
    /// <param name="b">The subtrahend.</param>
    /// <returns>The difference, of the broadcast shape.</returns>
    /// <exception cref="OnnxExportException">The shapes do not broadcast.</exception>
    public OnnxValue Sub(OnnxValue a, OnnxValue b) => Elementwise("Sub", a, b);

    /// <summary>Elementwise <c>a · b</c> with broadcasting (squeeze-and-excitation's scaling: <c>Mul(x, gate)</c> with a [N, C, 1, 1] gate).</summary>
    /// <param name="a">The first factor.</param>
    /// <param name="b">The second factor.</param>
    /// <returns>The product, of the broadcast shape.</returns>
    /// <exception cref="OnnxExportException">The shapes do not broadcast.</exception>
    public OnnxValue Mul(OnnxValue a, OnnxValue b) => Elementwise("Mul", a, b);

    /// <summary>Elementwise <c>a / b</c> with broadcasting.</summary>
    /// <param name="a">The dividend.</param>
    /// <param name="b">The divisor.</param>
    /// <returns>The quotient, of the broadcast shape.</returns>
    /// <exception cref="OnnxExportException">The shapes do not broadcast.</exception>
    public OnnxValue Div(OnnxValue a, OnnxValue b) => Elementwise("Div", a, b);

    /// <summary>A float32 scalar constant, to combine with the elementwise operators (<c>Mul(x, Constant(0.5f))</c>).</summary>
    /// <param name="value">The value.</param>
    /// <returns>An initializer of shape [] named after this module (<c>{path}.constant</c>).</returns>
    public OnnxValue Constant(float value) => builder.AddFloatInitializer(OnnxGraphBuilder.JoinPath(ModulePath, "constant"), [value], []);

    /// <summary><c>max(x, 0)</c>, as <c>ReLU</c>.</summary>
    /// <param name="x">The input.</param>
    /// <returns>The output, of the input's shape.</returns>
    public OnnxValue Relu(OnnxValue x) => Unary("Relu", x);

    /// <summary><c>min(max(x, 0), 6)</c>, as <c>ReLU6</c> (MobileNetV2).</summary>
    /// <param name="x">The input.</param>
    /// <returns>The output, of the input's shape.</returns>
    public OnnxValue Relu6(OnnxValue x) => Clip(x, 0f, 6f);

    /// <summary><c>min(max(x, min), max)</c>, as <c>torch.clamp</c> and <c>Hardtanh</c>.</summary>
    /// <param name="x">The input.</param>
    /// <param name="min">The lower bound.</param>
    /// <param name="max">The upper bound; at least <paramref name="min"/>.</param>
    /// <returns>The output, of the input's shape.</returns>
    /// <exception cref="OnnxExportException"><paramref name="max"/> is below <paramref name="min"/>, or a bound is NaN.</exception>
    public OnnxValue Clip(OnnxValue x, float min, float max)
    {
        CheckInput(x, nameof(x));
        if (!(min <= max))
        {
            throw Unsupported($"Clip needs min ≤ max, was min {min} and max {max}.");
        }

        var low = builder.AddFloatInitializer(OnnxGraphBuilder.JoinPath(ModulePath, "clip_min"), [min], []);
        var high = builder.AddFloatInitializer(OnnxGraphBuilder.JoinPath(ModulePath, "clip_max"), [max], []);
        return Node("Clip", [x, low, high], x.Shape);
    }

    /// <summary><c>1 / (1 + e^−x)</c>, as <c>Sigmoid</c>.</summary>
    /// <param name="x">The input.</param>
    /// <returns>The output, of the input's shape.</returns>
    public OnnxValue Sigmoid(OnnxValue x) => Unary("Sigmoid", x);

    /// <summary><c>tanh(x)</c>, as <c>Tanh</c>.</summary>
    /// <param name="x">The input.</param>
    /// <returns>The output, of the input's shape.</returns>
    public OnnxValue Tanh(OnnxValue x) => Unary("Tanh", x);

    /// <summary><c>relu6(x + 3) / 6</c>, as PyTorch's <c>Hardsigmoid</c> (MobileNetV3's gates).</summary>
    /// <param name="x">The input.</param>
    /// <returns>The output, of the input's shape.</returns>
    public OnnxValue HardSigmoid(OnnxValue x)
    {
        CheckInput(x, nameof(x));
        return Node("HardSigmoid", [x], x.Shape, new Dictionary<string, object> { ["alpha"] = 1f / 6f, ["beta"] = 0.5f });
    }

    /// <summary><c>x · relu6(x + 3) / 6</c>, as PyTorch's <c>Hardswish</c> (MobileNetV3).</summary>
    /// <param name="x">The input.</param>
    /// <returns>The output, of the input's shape.</returns>
    public OnnxValue HardSwish(OnnxValue x) => Unary("HardSwish", x);

    /// <summary><c>x · sigmoid(x)</c>, as <c>SiLU</c> (swish).</summary>
    /// <param name="x">The input.</param>
    /// <returns>The output, of the input's shape.</returns>
    public OnnxValue Silu(OnnxValue x) => Mul(x, Sigmoid(x));

    /// <summary>PyTorch's <c>GELU</c>: <c>0.5·x·(1 + erf(x/√2))</c>, or its tanh approximation.</summary>
    /// <param name="x">The input.</param>
    /// <param name="tanhApproximation">True for <c>approximate='tanh'</c>: <c>0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))</c>.</param>
    /// <returns>The output, of the input's shape.</returns>
    public OnnxValue Gelu(OnnxValue x, bool tanhApproximation = false)
    {
        CheckInput(x, nameof(x));

        // Opset 17 has no Gelu operator: PyTorch's definitions, written out.
        OnnxValue inner;
        if (tanhApproximation)
        {
            var cube = Mul(Mul(x, x), x);
            var sum = Add(x, Mul(cube, Constant(0.044715f)));
            inner = Tanh(Mul(sum, Constant((float)Math.Sqrt(2.0 / Math.PI))));
        }
        else
        {
            inner = Unary("Erf", Div(x, Constant((float)Math.Sqrt(2.0))));
        }

        return Mul(Mul(x, Add(inner, Constant(1f))), Constant(0.5f));
    }

    /// <summary>Softmax along <paramref name="axis"/>, as <c>torch.softmax(x, dim)</c>.</summary>
    /// <param name="x">The input.</param>
    /// <param name="axis">The dimension; negative counts from the end.</param>
    /// <returns>The output, of the input's shape.</returns>
    /// <exception cref="OnnxExportException"><paramref name="axis"/> is out of range.</exception>
    public OnnxValue Softmax(OnnxValue x, int axis = -1)
    {
        CheckInput(x, nameof(x));
        var normalized = Axis("Softmax", axis, x.Shape.Count);
        return Node("Softmax", [x], x.Shape, new Dictionary<string, object> { ["axis"] = (long)normalized });
    }

    /// <summary>Joins tensors along <paramref name="axis"/>, as <c>torch.cat</c>.</summary>
    /// <param name="values">The tensors, at least one; all of one rank, equal outside <paramref name="axis"/>.</param>
    /// <param name="axis">The dimension to join along; default 1 (channels); negative counts from the end.</param>
    /// <returns>The joined tensor.</returns>
    /// <exception cref="ArgumentException"><paramref name="values"/> is empty.</exception>
    /// <exception cref="OnnxExportException">The shapes do not fit together, or <paramref name="axis"/> is out of range.</exception>
    public OnnxValue Concat(IReadOnlyList<OnnxValue> values, int axis = 1)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            throw new ArgumentException("Concat needs at least one value.", nameof(values));
        }

        foreach (var value in values)
        {
            CheckInput(value, nameof(values));
        }

        var normalized = Axis("Concat", axis, values[0].Shape.Count);
        var shape = OnnxShapes.Concat(values.Select(v => v.Shape).ToArray(), normalized, out var error) ?? throw Unsupported("Concat: " + error);
        return Node("Concat", values, shape, new Dictionary<string, object> { ["axis"] = (long)normalized });
    }

    /// <summary>The mean over all spatial positions, kept as 1×1: <c>AdaptiveAvgPool2d(1)</c> (squeeze-and-excitation's squeeze).</summary>
    /// <param name="x">The input, [N, C, spatial…] with at least one spatial dimension.</param>
    /// <returns>[N, C, 1, …, 1].</returns>
    /// <exception cref="OnnxExportException">The input has fewer than 3 dimensions.</exception>
    public OnnxValue GlobalAveragePool(OnnxValue x)
    {
        CheckInput(x, nameof(x));
        if (x.Shape.Count < 3)
        {
            throw Unsupported($"GlobalAveragePool needs an input [batch, channels, spatial…], receives {OnnxShapes.Describe(x.Shape)}.");
        }

        return Node("GlobalAveragePool", [x], [x.Shape[0], x.Shape[1], .. Enumerable.Repeat(1L, x.Shape.Count - 2)]);
    }

    /// <summary>
    /// Flattens into two dimensions: those before <paramref name="axis"/> and those from it, as ONNX's
    /// Flatten; with the default axis 1, <c>torch.flatten(x, 1)</c> ([N, C, H, W] → [N, C·H·W]).
    /// </summary>
    /// <param name="x">The input, of rank ≥ 1.</param>
    /// <param name="axis">The first dimension of the second part; 0 to the rank.</param>
    /// <returns>The two-dimensional result.</returns>
    /// <exception cref="OnnxExportException"><paramref name="axis"/> is out of range.</exception>
    public OnnxValue Flatten(OnnxValue x, int axis = 1)
    {
        CheckInput(x, nameof(x));
        if (axis < 0 || axis > x.Shape.Count)
        {
            throw Unsupported($"Flatten's axis {axis} is out of range for an input of rank {x.Shape.Count} (0 to {x.Shape.Count}).");
        }

        return Node("Flatten", [x], OnnxShapes.Flatten(x.Shape, axis), new Dictionary<string, object> { ["axis"] = (long)axis });
    }

    /// <summary>
    /// Reshapes, as <c>x.reshape(shape)</c> with ONNX's conventions: 0 copies the input's dimension at
    /// that index (the dynamic batch: <c>Reshape(x, [0, -1])</c>), −1 takes what is left.
    /// </summary>
    /// <param name="x">The input.</param>
    /// <param name="shape">The target shape.</param>
    /// <returns>The reshaped tensor.</returns>
    /// <exception cref="OnnxExportException">The element counts differ, the target has more than one −1, or it fixes the dynamic batch.</exception>
    public OnnxValue Reshape(OnnxValue x, IReadOnlyList<long> shape)
    {
        CheckInput(x, nameof(x));
        ArgumentNullException.ThrowIfNull(shape);
        var result = OnnxShapes.Reshape(x.Shape, shape, out var error) ?? throw Unsupported("Reshape: " + error);
        var target = builder.AddInt64Initializer(OnnxGraphBuilder.JoinPath(ModulePath, "shape"), shape);
        return Node("Reshape", [x, target], result);
    }

    /// <summary>Permutes the dimensions, as <c>x.permute(permutation)</c>.</summary>
    /// <param name="x">The input.</param>
    /// <param name="permutation">For each output dimension, the input dimension it takes: a permutation of 0 … rank − 1.</param>
    /// <returns>The permuted tensor.</returns>
    /// <exception cref="OnnxExportException"><paramref name="permutation"/> is not a permutation of the input's dimensions.</exception>
    public OnnxValue Transpose(OnnxValue x, IReadOnlyList<int> permutation)
    {
        CheckInput(x, nameof(x));
        ArgumentNullException.ThrowIfNull(permutation);
        if (permutation.Count != x.Shape.Count || !permutation.Order().SequenceEqual(Enumerable.Range(0, x.Shape.Count)))
        {
            throw Unsupported($"Transpose: [{string.Join(", ", permutation)}] is not a permutation of the {x.Shape.Count} dimensions of {OnnxShapes.Describe(x.Shape)}.");
        }

        return Node("Transpose", [x], permutation.Select(p => x.Shape[p]).ToArray(), new Dictionary<string, object> { ["perm"] = permutation.Select(p => (long)p).ToArray() });
    }

    private OnnxValue Unary(string opType, OnnxValue x)
    {
        CheckInput(x, nameof(x));
        return Node(opType, [x], x.Shape);
    }

    private OnnxValue Elementwise(string opType, OnnxValue a, OnnxValue b)
    {
        CheckInput(a, nameof(a));
        CheckInput(b, nameof(b));
        var shape = OnnxShapes.Broadcast(a.Shape, b.Shape, out var error) ?? throw Unsupported($"{opType}: {error}");
        return Node(opType, [a, b], shape);
    }

    private int Axis(string opType, int axis, int rank)
    {
        var normalized = axis < 0 ? axis + rank : axis;
        if (normalized < 0 || normalized >= rank)
        {
            throw Unsupported($"{opType}'s axis {axis} is out of range for an input of rank {rank}.");
        }

        return normalized;
    }

    private void CheckInput(OnnxValue value, string parameterName) => builder.CheckOwned(value, parameterName);

    private OnnxValue Node(string opType, IReadOnlyList<OnnxValue> inputs, IReadOnlyList<long> shape, IReadOnlyDictionary<string, object>? attributes = null) =>
        builder.AddNode(ModulePath, opType, inputs, shape, attributes);
}
