using System.Globalization;

namespace Distillation.Onnx;

/// <summary>
/// Shape inference for the typed operators of <see cref="OnnxEmitContext"/>. Each rule returns the
/// output shape, or the reason the inputs cannot go together (null when they can).
/// </summary>
internal static class OnnxShapes
{
    private const long Dynamic = OnnxValue.DynamicDimension;

    /// <summary>ONNX's (numpy's) multidirectional broadcasting, right-aligned.</summary>
    internal static long[]? Broadcast(IReadOnlyList<long> a, IReadOnlyList<long> b, out string? error)
    {
        error = null;
        var rank = Math.Max(a.Count, b.Count);
        var result = new long[rank];
        for (var i = 1; i <= rank; i++)
        {
            var x = i <= a.Count ? a[^i] : 1;
            var y = i <= b.Count ? b[^i] : 1;
            if (x == y || y == 1)
            {
                result[^i] = x;
            }
            else if (x == 1)
            {
                result[^i] = y;
            }
            else if (x == Dynamic || y == Dynamic)
            {
                // The unknown side must be 1 or equal to the known one at run time; either way the known size results.
                result[^i] = x == Dynamic ? y : x;
            }
            else
            {
                error = $"the shapes {Describe(a)} and {Describe(b)} do not broadcast (dimension {rank - i}: {x} against {y}).";
                return null;
            }
        }

        return result;
    }

    /// <summary>Concat along <paramref name="axis"/>: every other dimension must agree.</summary>
    internal static long[]? Concat(IReadOnlyList<IReadOnlyList<long>> shapes, int axis, out string? error)
    {
        error = null;
        var first = shapes[0];
        var result = first.ToArray();
        for (var k = 1; k < shapes.Count; k++)
        {
            var shape = shapes[k];
            if (shape.Count != first.Count)
            {
                error = $"the inputs have different ranks: {Describe(first)} and {Describe(shape)}.";
                return null;
            }

            for (var i = 0; i < first.Count; i++)
            {
                if (i == axis)
                {
                    result[i] = result[i] == Dynamic || shape[i] == Dynamic ? Dynamic : result[i] + shape[i];
                }
                else if (result[i] != Dynamic && shape[i] != Dynamic && result[i] != shape[i])
                {
                    error = $"the inputs differ outside axis {axis}: {Describe(first)} and {Describe(shape)}.";
                    return null;
                }
                else if (result[i] == Dynamic)
                {
                    result[i] = shape[i];
                }
            }
        }

        return result;
    }

    /// <summary>
    /// ONNX Reshape's target: 0 copies the input's dimension at that index, −1 takes what is left.
    /// The −1 dimension is unknown when the input has an unknown dimension that is not copied.
    /// </summary>
    internal static long[]? Reshape(IReadOnlyList<long> input, IReadOnlyList<long> target, out string? error)
    {
        error = null;
        var result = new long[target.Count];
        var inferred = -1;
        var copied = new bool[input.Count];
        for (var i = 0; i < target.Count; i++)
        {
            if (target[i] == 0)
            {
                if (i >= input.Count)
                {
                    error = $"target dimension {i} is 0 (copy the input's) but the input {Describe(input)} has only {input.Count} dimensions.";
                    return null;
                }

                result[i] = input[i];
                copied[i] = true;
            }
            else if (target[i] == -1)
            {
                if (inferred >= 0)
                {
                    error = $"the target shape {Describe(target, raw: true)} has more than one −1.";
                    return null;
                }

                inferred = i;
            }
            else if (target[i] < -1)
            {
                error = $"target dimension {i} is {target[i]}; use a size, 0 (copy) or −1 (infer).";
                return null;
            }
            else
            {
                result[i] = target[i];
            }
        }

        // Elements of the input that the target does not copy must fill the target's remaining dimensions.
        var remainingKnown = true;
        var remaining = 1L;
        for (var i = 0; i < input.Count; i++)
        {
            if (copied[i])
            {
                continue;
            }

            if (input[i] == Dynamic)
            {
                remainingKnown = false;
            }
            else
            {
                remaining *= input[i];
            }
        }

        var fixedProduct = 1L;
        for (var i = 0; i < target.Count; i++)
        {
            if (!(i == inferred || target[i] == 0))
            {
                fixedProduct *= result[i];
            }
        }

        if (inferred >= 0)
        {
            if (!remainingKnown)
            {
                result[inferred] = Dynamic;
            }
            else if (fixedProduct == 0 || remaining % fixedProduct != 0)
            {
                error = $"the input {Describe(input)} cannot be reshaped to {Describe(target, raw: true)}.";
                return null;
            }
            else
            {
                result[inferred] = remaining / fixedProduct;
            }
        }
        else if (!remainingKnown)
        {
            // Fixing every dimension would pin the dynamic batch to one size.
            error = $"the input {Describe(input)} has an unknown (batch) dimension that the target {Describe(target, raw: true)} fixes; copy it with 0 or infer it with −1.";
            return null;
        }
        else if (remaining != fixedProduct)
        {
            error = $"the input {Describe(input)} has a different number of elements from the target {Describe(target, raw: true)}.";
            return null;
        }

        return result;
    }

    /// <summary>ONNX Flatten: dimensions before <paramref name="axis"/> become one, the rest the other.</summary>
    internal static long[] Flatten(IReadOnlyList<long> input, int axis) => [Product(input.Take(axis)), Product(input.Skip(axis))];

    internal static long Product(IEnumerable<long> dimensions)
    {
        var product = 1L;
        foreach (var d in dimensions)
        {
            if (d == Dynamic)
            {
                return Dynamic;
            }

            product *= d;
        }

        return product;
    }

    /// <summary>A shape as the error messages show it: the unknown (batch) dimension as <c>batch</c>.</summary>
    internal static string Describe(IReadOnlyList<long> shape, bool raw = false) =>
        "[" + string.Join(", ", shape.Select((d, i) => raw || d != Dynamic ? d.ToString(CultureInfo.InvariantCulture) : i == 0 ? "batch" : "?")) + "]";
}
