using System.Globalization;
using Distillation.Models;
using TorchSharp;
using TorchSharp.Modules;

namespace Distillation.Onnx;

/// <summary>
/// The built-in layers: TorchSharp's standard modules and the project's <see cref="FeatureClassifierNet"/>.
/// Each emits the eval-mode forward pass with PyTorch's semantics, through the same public
/// <see cref="OnnxEmitContext"/> a user's emitter gets.
/// </summary>
internal static class StandardEmitters
{
    private const long Dynamic = OnnxValue.DynamicDimension;

    private static readonly Dictionary<Type, Func<OnnxEmitContext, torch.nn.Module, OnnxValue, OnnxValue>> ByType = new()
    {
        [typeof(Sequential)] = (c, m, x) => EmitSequential(c, (Sequential)m, x),
        [typeof(Conv2d)] = (c, m, x) => EmitConv2d(c, (Conv2d)m, x),
        [typeof(Linear)] = (c, m, x) => EmitLinear(c, (Linear)m, x),
        [typeof(ReLU)] = (c, _, x) => c.Relu(x),
        [typeof(ReLU6)] = (c, _, x) => c.Relu6(x),
        [typeof(LeakyReLU)] = (c, m, x) => c.AddNode("LeakyRelu", [x], x.Shape, new Dictionary<string, object> { ["alpha"] = ((LeakyReLU)m).negative_slope }),
        [typeof(GELU)] = (c, m, x) => c.Gelu(x, tanhApproximation: ((GELU)m).approximate == GELU.Approximate.tanh),
        [typeof(SiLU)] = (c, _, x) => c.Silu(x),
        [typeof(Sigmoid)] = (c, _, x) => c.Sigmoid(x),
        [typeof(Hardsigmoid)] = (c, _, x) => c.HardSigmoid(x),
        [typeof(Hardswish)] = (c, _, x) => c.HardSwish(x),
        [typeof(Tanh)] = (c, _, x) => c.Tanh(x),
        [typeof(Softmax)] = (c, m, x) => c.Softmax(x, NormalizeDimension(c, ((Softmax)m).dim, x.Shape.Count, "dim")),
        [typeof(MaxPool2d)] = (c, m, x) => EmitMaxPool2d(c, (MaxPool2d)m, x),
        [typeof(AvgPool2d)] = (c, m, x) => EmitAvgPool2d(c, (AvgPool2d)m, x),
        [typeof(AdaptiveAvgPool2d)] = (c, m, x) => EmitAdaptiveAvgPool2d(c, (AdaptiveAvgPool2d)m, x),
        [typeof(Flatten)] = (c, m, x) => EmitFlatten(c, (Flatten)m, x),
        [typeof(BatchNorm1d)] = (c, m, x) => EmitBatchNorm(c, (BatchNorm)m, x, allowedRanks: [2, 3]),
        [typeof(BatchNorm2d)] = (c, m, x) => EmitBatchNorm(c, (BatchNorm)m, x, allowedRanks: [4]),

        // Identity, and dropout in eval mode, pass the input through: no node at all.
        [typeof(Identity)] = (_, _, x) => x,
        [typeof(Dropout)] = (_, _, x) => x,
        [typeof(Dropout2d)] = (_, _, x) => x,
    };

    internal static Func<OnnxEmitContext, torch.nn.Module, OnnxValue, OnnxValue>? Find(torch.nn.Module module)
    {
        if (ByType.TryGetValue(module.GetType(), out var emit))
        {
            return emit;
        }

        // FeatureClassifierNet's forward is classifier(features(x)); its channels-last option changes only the memory layout.
        return module is FeatureClassifierNet ? EmitFeatureClassifier : ZooEmitters.Find(module);
    }

    private static OnnxValue EmitSequential(OnnxEmitContext context, Sequential sequential, OnnxValue input)
    {
        var value = input;
        foreach (var (name, child) in sequential.named_children())
        {
            value = context.EmitModule(name, child, value);
        }

        return value;
    }

    private static OnnxValue EmitFeatureClassifier(OnnxEmitContext context, torch.nn.Module module, OnnxValue input)
    {
        var children = module.named_children().ToDictionary(c => c.name, c => c.module, StringComparer.Ordinal);
        if (!children.TryGetValue("features", out var features) || !children.TryGetValue("classifier", out var classifier))
        {
            throw context.Unsupported("a FeatureClassifierNet needs the children 'features' and 'classifier'.");
        }

        var map = context.EmitModule("features", features, input);
        return context.EmitModule("classifier", classifier, map);
    }

    private static OnnxValue EmitConv2d(OnnxEmitContext context, Conv2d conv, OnnxValue input)
    {
        RequireRank(context, input, 4, "[batch, channels, height, width]");
        if (conv.transposed)
        {
            throw context.Unsupported("transposed convolutions are not supported.");
        }

        if (conv.padding_mode != PaddingModes.Zeros)
        {
            throw context.Unsupported($"padding mode {conv.padding_mode} is not supported; only zero padding is.");
        }

        if (input.Shape[1] != Dynamic && input.Shape[1] != conv.in_channels)
        {
            throw context.Unsupported($"it takes {conv.in_channels} input channels but receives {input.Shape[1]} (input shape {Describe(input.Shape)}).");
        }

        var kernel = Pair(conv.kernel_size, 1);
        var stride = Pair(conv.stride, 1);
        var dilation = Pair(conv.dilation, 1);
        long[] begin, end;
        if (conv.padding_type == Padding.Same)
        {
            // PyTorch's 'same': the total padding d·(k−1), the odd element on the end side.
            begin = new long[2];
            end = new long[2];
            for (var i = 0; i < 2; i++)
            {
                var total = dilation[i] * (kernel[i] - 1);
                begin[i] = total / 2;
                end[i] = total - begin[i];
            }
        }
        else
        {
            begin = conv.padding_type == Padding.Valid ? [0, 0] : Pair(conv.padding, 0);
            end = begin;
        }

        var spatial = new long[2];
        for (var i = 0; i < 2; i++)
        {
            spatial[i] = FloorOutput(input.Shape[2 + i], begin[i] + end[i], kernel[i], stride[i], dilation[i]);
            if (spatial[i] == 0)
            {
                throw context.Unsupported($"its {kernel[0]}×{kernel[1]} kernel does not fit the input {Describe(input.Shape)}.");
            }
        }

        var inputs = new List<OnnxValue> { input, context.AddInitializer("weight", conv.weight!) };
        if (conv.bias is not null)
        {
            inputs.Add(context.AddInitializer("bias", conv.bias));
        }

        return context.AddNode("Conv", inputs, [input.Shape[0], conv.out_channels, spatial[0], spatial[1]], new Dictionary<string, object>
        {
            ["kernel_shape"] = kernel,
            ["strides"] = stride,
            ["dilations"] = dilation,
            ["pads"] = new[] { begin[0], begin[1], end[0], end[1] },
            ["group"] = conv.groups,
        });
    }

    private static OnnxValue EmitLinear(OnnxEmitContext context, Linear linear, OnnxValue input)
    {
        if (input.Shape.Count < 2)
        {
            throw context.Unsupported($"it needs an input of at least 2 dimensions, receives {Describe(input.Shape)}.");
        }

        var features = input.Shape[^1];
        if (features != Dynamic && features != linear.in_features)
        {
            throw context.Unsupported($"it takes {linear.in_features} input features but receives {features} (input shape {Describe(input.Shape)}).");
        }

        long[] outputShape = [.. input.Shape.Take(input.Shape.Count - 1), linear.out_features];
        var weight = context.AddInitializer("weight", linear.weight!);
        var bias = linear.bias is null ? null : context.AddInitializer("bias", linear.bias);
        if (input.Shape.Count == 2)
        {
            // Gemm computes x·Wᵀ + b directly on PyTorch's [out, in] weight.
            List<OnnxValue> inputs = bias is null ? [input, weight] : [input, weight, bias];
            return context.AddNode("Gemm", inputs, outputShape, new Dictionary<string, object> { ["transB"] = 1L });
        }

        var transposed = context.AddNode("Transpose", [weight], [linear.in_features, linear.out_features], new Dictionary<string, object> { ["perm"] = new long[] { 1, 0 } });
        var product = context.AddNode("MatMul", [input, transposed], outputShape);
        return bias is null ? product : context.AddNode("Add", [product, bias], outputShape);
    }

    private static OnnxValue EmitMaxPool2d(OnnxEmitContext context, MaxPool2d pool, OnnxValue input)
    {
        RequireRank(context, input, 4, "[batch, channels, height, width]");
        var kernel = Pair(pool.kernel_size, 1);
        var stride = pool.stride is null || pool.stride.Length == 0 ? kernel : Pair(pool.stride, 1);
        var padding = Pair(pool.padding, 0);
        var dilation = Pair(pool.dilation, 1);
        var geometry = PoolGeometry(context, input, kernel, stride, padding, dilation, pool.ceil_mode);

        // Padding of a max-pool is −∞, so PyTorch's ceil mode is the same pooling with the end
        // padding widened until the last window fits; no reliance on ONNX's own ceil_mode rule.
        return context.AddNode("MaxPool", [input], geometry.OutputShape, new Dictionary<string, object>
        {
            ["kernel_shape"] = kernel,
            ["strides"] = stride,
            ["dilations"] = dilation,
            ["pads"] = new[] { padding[0], padding[1], geometry.End[0], geometry.End[1] },
        });
    }

    private static OnnxValue EmitAvgPool2d(OnnxEmitContext context, AvgPool2d pool, OnnxValue input)
    {
        RequireRank(context, input, 4, "[batch, channels, height, width]");
        if (pool.divisor_override is not null)
        {
            throw context.Unsupported("divisor_override has no ONNX AveragePool equivalent.");
        }

        var kernel = Pair(pool.kernel_size, 1);
        var stride = pool.stride is null || pool.stride.Length == 0 ? kernel : Pair(pool.stride, 1);
        var padding = Pair(pool.padding, 0);
        var geometry = PoolGeometry(context, input, kernel, stride, padding, [1, 1], pool.ceil_mode);

        // PyTorch divides by the window's cells inside the (padded, if count_include_pad) input,
        // never by the cells a ceil-mode window hangs over the end. So: zero-pad explicitly when the
        // padding counts, then let AveragePool count only real cells (count_include_pad = 0).
        var source = input;
        var begin = padding;
        var end = geometry.End;
        if (pool.count_include_pad && (padding[0] > 0 || padding[1] > 0))
        {
            var pads = context.AddInt64Initializer("pads", [0, 0, padding[0], padding[1], 0, 0, padding[0], padding[1]]);
            source = context.AddNode("Pad", [input, pads], [input.Shape[0], input.Shape[1], Grow(input.Shape[2], 2 * padding[0]), Grow(input.Shape[3], 2 * padding[1])],
                new Dictionary<string, object> { ["mode"] = "constant" });
            begin = [0, 0];
            end = [geometry.End[0] - padding[0], geometry.End[1] - padding[1]];
        }

        return context.AddNode("AveragePool", [source], geometry.OutputShape, new Dictionary<string, object>
        {
            ["kernel_shape"] = kernel,
            ["strides"] = stride,
            ["pads"] = new[] { begin[0], begin[1], end[0], end[1] },
            ["count_include_pad"] = 0L,
        });
    }

    private static OnnxValue EmitAdaptiveAvgPool2d(OnnxEmitContext context, AdaptiveAvgPool2d pool, OnnxValue input)
    {
        RequireRank(context, input, 4, "[batch, channels, height, width]");
        var size = Pair(pool.output_size, 0);
        if (size[0] == 1 && size[1] == 1)
        {
            return context.GlobalAveragePool(input);
        }

        // Other sizes are plain average pools when they divide the input evenly.
        var height = input.Shape[2];
        var width = input.Shape[3];
        if (size[0] < 1 || size[1] < 1 || height == Dynamic || width == Dynamic || height % size[0] != 0 || width % size[1] != 0)
        {
            throw context.Unsupported(
                $"output size {size[0]}×{size[1]} is supported only as 1×1 or when it divides the input {Describe(input.Shape)} evenly.");
        }

        long[] window = [height / size[0], width / size[1]];
        return context.AddNode("AveragePool", [input], [input.Shape[0], input.Shape[1], size[0], size[1]], new Dictionary<string, object>
        {
            ["kernel_shape"] = window,
            ["strides"] = window,
        });
    }

    private static OnnxValue EmitFlatten(OnnxEmitContext context, Flatten flatten, OnnxValue input)
    {
        var rank = input.Shape.Count;
        var start = NormalizeDimension(context, flatten.start_dim, rank, "start_dim");
        var end = NormalizeDimension(context, flatten.end_dim, rank, "end_dim");
        if (start > end)
        {
            throw context.Unsupported($"start_dim {flatten.start_dim} comes after end_dim {flatten.end_dim} for an input of rank {rank}.");
        }

        if (start == end)
        {
            return input;
        }

        var merged = 1L;
        for (var i = start; i <= end; i++)
        {
            merged = input.Shape[i] == Dynamic || merged == Dynamic ? Dynamic : merged * input.Shape[i];
        }

        long[] outputShape = [.. input.Shape.Take(start), merged, .. input.Shape.Skip(end + 1)];
        if (start == 1 && end == rank - 1)
        {
            // The usual case, [N, C, H, W] → [N, C·H·W], is exactly ONNX's Flatten(axis = 1).
            return context.Flatten(input);
        }

        // Otherwise Reshape: 0 copies a leading dimension (the dynamic batch), −1 takes the merged one.
        var target = new long[outputShape.Length];
        for (var i = 0; i < target.Length; i++)
        {
            target[i] = i < start ? 0 : outputShape[i];
        }

        if (target.Count(d => d == Dynamic) > 1)
        {
            throw context.Unsupported($"more than one dimension of the result would be unknown (input {Describe(input.Shape)}).");
        }

        var shape = context.AddInt64Initializer("shape", target);
        return context.AddNode("Reshape", [input, shape], outputShape);
    }

    private static OnnxValue EmitBatchNorm(OnnxEmitContext context, BatchNorm norm, OnnxValue input, int[] allowedRanks)
    {
        if (!allowedRanks.Contains(input.Shape.Count))
        {
            throw context.Unsupported($"it needs an input of rank {string.Join(" or ", allowedRanks)}, receives {Describe(input.Shape)}.");
        }

        if (input.Shape[1] != Dynamic && input.Shape[1] != norm.num_features)
        {
            throw context.Unsupported($"it normalizes {norm.num_features} channels but receives {input.Shape[1]} (input shape {Describe(input.Shape)}).");
        }

        if (norm.running_mean is null || norm.running_var is null)
        {
            // Without running statistics, eval mode normalizes with each batch's own statistics.
            throw context.Unsupported("it keeps no running statistics (track_running_stats = false), so its eval output depends on the batch.");
        }

        var channels = norm.num_features;
        var scale = norm.weight is null ? context.AddInitializer("weight", torch.ones(channels)) : context.AddInitializer("weight", norm.weight);
        var bias = norm.bias is null ? context.AddInitializer("bias", torch.zeros(channels)) : context.AddInitializer("bias", norm.bias);
        var mean = context.AddInitializer("running_mean", norm.running_mean);
        var variance = context.AddInitializer("running_var", norm.running_var);
        return context.AddNode("BatchNormalization", [input, scale, bias, mean, variance], input.Shape,
            new Dictionary<string, object> { ["epsilon"] = norm.eps });
    }

    private readonly record struct Geometry(long[] End, long[] OutputShape);

    /// <summary>
    /// PyTorch's pooled size (pooling_output_shape: ceil mode drops a last window that would start in
    /// the end padding), and the end padding that gives ONNX's floor rule the same size.
    /// </summary>
    private static Geometry PoolGeometry(OnnxEmitContext context, OnnxValue input, long[] kernel, long[] stride, long[] padding, long[] dilation, bool ceilMode)
    {
        var end = new long[2];
        var spatial = new long[2];
        for (var i = 0; i < 2; i++)
        {
            var size = input.Shape[2 + i];
            var span = dilation[i] * (kernel[i] - 1) + 1;
            if (padding[i] < 0 || 2 * padding[i] > span)
            {
                throw context.Unsupported($"padding {padding[i]} must be between 0 and half the (dilated) kernel size {span}, as PyTorch requires.");
            }

            if (size == Dynamic)
            {
                throw context.Unsupported($"pooling needs known spatial dimensions; the input is {Describe(input.Shape)}.");
            }

            var numerator = size + 2 * padding[i] - span + (ceilMode ? stride[i] - 1 : 0);
            if (numerator < 0)
            {
                throw context.Unsupported($"its {kernel[0]}×{kernel[1]} window does not fit the input {Describe(input.Shape)}.");
            }

            var output = numerator / stride[i] + 1;
            if (ceilMode && (output - 1) * stride[i] >= size + padding[i])
            {
                output--;
            }

            spatial[i] = output;
            end[i] = Math.Max(padding[i], (output - 1) * stride[i] + span - size - padding[i]);
            if (end[i] >= kernel[i])
            {
                // ONNX Runtime refuses pads as large as the kernel.
                throw context.Unsupported($"with ceil_mode, dilation {dilation[i]} and stride {stride[i]} the end padding would reach {end[i]}, not below the kernel size {kernel[i]}.");
            }
        }

        return new Geometry(end, [input.Shape[0], input.Shape[1], spatial[0], spatial[1]]);
    }

    private static long FloorOutput(long size, long totalPadding, long kernel, long stride, long dilation)
    {
        if (size == Dynamic)
        {
            return Dynamic;
        }

        var numerator = size + totalPadding - dilation * (kernel - 1) - 1;
        return numerator < 0 ? 0 : (numerator / stride) + 1;
    }

    private static long Grow(long size, long by) => size == Dynamic ? Dynamic : size + by;

    /// <summary>TorchSharp keeps 2-d hyper-parameters as arrays of one or two values (or null for the default).</summary>
    private static long[] Pair(long[]? values, long fallback) => values switch
    {
        null or { Length: 0 } => [fallback, fallback],
        { Length: 1 } => [values[0], values[0]],
        _ => [values[0], values[1]],
    };

    private static void RequireRank(OnnxEmitContext context, OnnxValue input, int rank, string layout)
    {
        if (input.Shape.Count != rank)
        {
            throw context.Unsupported($"it needs an input of rank {rank} {layout}, receives {Describe(input.Shape)}.");
        }
    }

    private static int NormalizeDimension(OnnxEmitContext context, long dimension, int rank, string name)
    {
        var normalized = dimension < 0 ? dimension + rank : dimension;
        if (normalized < 0 || normalized >= rank)
        {
            throw context.Unsupported($"{name} {dimension} is out of range for an input of rank {rank}.");
        }

        return (int)normalized;
    }

    private static string Describe(IReadOnlyList<long> shape) =>
        "[" + string.Join(", ", shape.Select(d => d == Dynamic ? "batch" : d.ToString(CultureInfo.InvariantCulture))) + "]";
}
