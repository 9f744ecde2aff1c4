using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Onnx.Tests;

/// <summary>Runs exported files in ONNX Runtime and compares them with TorchSharp's eval-mode output.</summary>
internal static class OnnxTestSupport
{
    /// <summary>The agreement every export must reach with TorchSharp.</summary>
    public const float Tolerance = 1e-4f;

    public static InferenceSession OpenSession(string path)
    {
        // One thread: the test machine's cores are shared.
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        return new InferenceSession(path, options);
    }

    /// <summary>Runs <paramref name="input"/> (float32, any device) through the file; returns the output and its shape.</summary>
    public static (float[] Values, long[] Shape) Run(InferenceSession session, Tensor input)
    {
        var values = input.detach().cpu().to(ScalarType.Float32).contiguous().data<float>().ToArray();
        using var ortInput = OrtValue.CreateTensorValueFromMemory(values, input.shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, session.InputNames, [ortInput], session.OutputNames);
        var output = outputs[0];
        return (output.GetTensorDataAsSpan<float>().ToArray(), output.GetTensorTypeAndShape().Shape);
    }

    /// <summary>TorchSharp's eval-mode output of <paramref name="model"/>, as a flat array and a shape.</summary>
    public static (float[] Values, long[] Shape) RunTorch(nn.Module<Tensor, Tensor> model, Tensor input)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.eval();
        var output = model.call(input);
        return (output.contiguous().data<float>().ToArray(), output.shape);
    }

    /// <summary>Asserts that the file and TorchSharp agree on <paramref name="input"/>: same shape, values within <see cref="Tolerance"/>, same argmax per row.</summary>
    public static float AssertSameOutputs(InferenceSession session, nn.Module<Tensor, Tensor> model, Tensor input)
    {
        var (expected, expectedShape) = RunTorch(model, input);
        var (actual, actualShape) = Run(session, input);
        actualShape.Should().Equal(expectedShape);
        var maxDiff = MaxAbsDiff(expected, actual);
        maxDiff.Should().BeLessThanOrEqualTo(Tolerance);
        var rowLength = (int)expectedShape[^1];
        for (var row = 0; row < expected.Length / rowLength; row++)
        {
            ArgMax(actual.AsSpan(row * rowLength, rowLength)).Should().Be(ArgMax(expected.AsSpan(row * rowLength, rowLength)), $"row {row} must be classified alike");
        }

        return maxDiff;
    }

    public static float MaxAbsDiff(float[] expected, float[] actual)
    {
        expected.Length.Should().Be(actual.Length);
        var max = 0f;
        for (var i = 0; i < expected.Length; i++)
        {
            max = Math.Max(max, Math.Abs(expected[i] - actual[i]));
        }

        return max;
    }

    public static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }
}

/// <summary>A fresh folder under the system temp folder, deleted at the end of the test.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "distillation-onnx-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
