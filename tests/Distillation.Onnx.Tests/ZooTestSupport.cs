using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using TorchSharp.Modules;
using static Distillation.Onnx.Tests.OnnxTestSupport;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Onnx.Tests;

/// <summary>Puts freshly created zoo models in a state like a trained one's, so their outputs are of order 1.</summary>
internal static class ZooTestSupport
{
    /// <summary>
    /// Gives every BatchNorm non-trivial affine parameters, then sets its running statistics to the
    /// statistics of its own input on <paramref name="batch"/>, layer by layer in one eval-mode pass (as
    /// after training). Without this, the deep residual networks' activations double block after block
    /// (fresh running statistics normalize nothing), and logits of 10⁶ cannot be compared at 1e-4.
    /// </summary>
    public static void CalibrateBatchNorm(Module<Tensor, Tensor> model, Tensor batch)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.eval();
        var norms = model.modules().OfType<BatchNorm2d>().ToList();
        var handles = new List<HookableModule<Func<Module<Tensor, Tensor>, Tensor, Tensor>, Func<Module<Tensor, Tensor>, Tensor, Tensor, Tensor>>.HookRemover>();
        foreach (var norm in norms)
        {
            var channels = norm.num_features;
            norm.weight!.copy_(rand(channels) + 0.5);
            norm.bias!.copy_(randn(channels) * 0.2);
            handles.Add(norm.register_forward_pre_hook((_, input) =>
            {
                norm.running_mean!.copy_(input.mean([0, 2, 3]));
                norm.running_var!.copy_(input.var([0, 2, 3], unbiased: false));
                return input;
            }));
        }

        model.call(batch);
        foreach (var handle in handles)
        {
            handle.remove();
        }
    }

    /// <summary>What one comparison measured.</summary>
    public readonly record struct Agreement(long Batch, float OnnxDifference, float Float32Error, float Bound, float MaxAbsLogit);

    /// <summary>
    /// Asserts that ONNX Runtime and TorchSharp agree on each input: same shape and argmax, and a max abs
    /// difference within <see cref="OnnxTestSupport.Tolerance"/> (1e-4), or, where float32 itself cannot
    /// be that exact, within twice TorchSharp's own float32 error (its float32 output against the same
    /// model in float64). In the deep networks (resnet56, resnet110, resnet50) float32 rounding alone
    /// reaches 1–3e-4 on logits of 4 to 14; an export error (a wrong padding, epsilon or branch) is
    /// orders of magnitude larger. Leaves the model in float32.
    /// </summary>
    public static IReadOnlyList<Agreement> AssertSameOutputsWithinFloat32Precision(InferenceSession session, Module<Tensor, Tensor> model, IReadOnlyList<Tensor> inputs)
    {
        var single = inputs.Select(input => RunTorch(model, input)).ToList();
        var onnx = inputs.Select(input => Run(session, input)).ToList();

        // The float64 reference costs as much as the rest: run it only where 1e-4 is exceeded.
        float[]?[] exact = new float[inputs.Count][];
        if (Enumerable.Range(0, inputs.Count).Any(i => MaxAbsDiff(single[i].Values, onnx[i].Values) > Tolerance))
        {
            model.to(ScalarType.Float64);
            try
            {
                for (var i = 0; i < inputs.Count; i++)
                {
                    using var scope = NewDisposeScope();
                    using var noGrad = no_grad();
                    exact[i] = model.call(inputs[i].to(ScalarType.Float64)).to(ScalarType.Float32).contiguous().data<float>().ToArray();
                }
            }
            finally
            {
                model.to(ScalarType.Float32);
            }
        }

        var agreements = new List<Agreement>();
        for (var i = 0; i < inputs.Count; i++)
        {
            var (expected, expectedShape) = single[i];
            var (actual, actualShape) = onnx[i];
            actualShape.Should().Equal(expectedShape);
            var float32Error = exact[i] is { } reference ? MaxAbsDiff(reference, expected) : float.NaN;
            var bound = float.IsNaN(float32Error) ? Tolerance : Math.Max(Tolerance, 2 * float32Error);
            var difference = MaxAbsDiff(expected, actual);
            difference.Should().BeLessThanOrEqualTo(bound, $"batch {inputs[i].shape[0]}: the bound is 1e-4, or twice TorchSharp's own float32 error where that is larger ({float32Error:G3})");
            var rowLength = (int)expectedShape[^1];
            for (var row = 0; row < expected.Length / rowLength; row++)
            {
                ArgMax(actual.AsSpan(row * rowLength, rowLength)).Should().Be(ArgMax(expected.AsSpan(row * rowLength, rowLength)), $"row {row} must be classified alike");
            }

            agreements.Add(new Agreement(inputs[i].shape[0], difference, float32Error, bound, expected.Max(Math.Abs)));
        }

        return agreements;
    }
}
