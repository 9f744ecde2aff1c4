using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace Distillation.Onnx.Quantization;

/// <summary>Receives the values one tensor took on one calibration batch.</summary>
internal delegate void TensorSink(string tensor, ReadOnlySpan<float> values);

/// <summary>
/// Runs the fp32 model in ONNX Runtime with the tensors to calibrate added as graph outputs, and feeds
/// their values to one <see cref="TensorRange"/> each. Graph optimizations are off, so every
/// intermediate tensor is computed exactly as the source graph says.
/// </summary>
internal sealed class CalibrationRunner : IDisposable
{
    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();
    private readonly string inputName;
    private readonly string[] outputNames;

    public CalibrationRunner(ModelProto model, string inputName, IReadOnlyCollection<string> tensors, int threads)
    {
        this.inputName = inputName;
        var probe = model.Clone();
        var existing = probe.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        outputNames = tensors.Where(t => t != inputName).ToArray();
        foreach (var name in outputNames.Where(n => !existing.Contains(n)))
        {
            probe.Graph.Output.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = TensorProtos.Float } },
            });
        }

        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL,
        };
        try
        {
            session = new InferenceSession(probe.ToByteArray(), options);
        }
        catch (OnnxRuntimeException e)
        {
            runOptions.Dispose();
            throw new InvalidDataException($"ONNX Runtime cannot run the model for calibration: {e.Message}", e);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException)
        {
            runOptions.Dispose();
            throw new DllNotFoundException("The native ONNX Runtime was not found: add the Microsoft.ML.OnnxRuntime package to the application.", e);
        }
    }

    /// <summary>Runs one batch and hands every calibrated tensor's values to <paramref name="sink"/> (the input's too).</summary>
    public void Run(CalibrationBatch batch, TensorSink sink)
    {
        sink(inputName, batch.Values);
        if (outputNames.Length == 0)
        {
            return;
        }

        using var input = OrtValue.CreateTensorValueFromMemory(batch.Values, batch.Shape);
        using var outputs = session.Run(runOptions, [inputName], [input], outputNames);
        for (var i = 0; i < outputNames.Length; i++)
        {
            sink(outputNames[i], outputs[i].GetTensorDataAsSpan<float>());
        }
    }

    public void Dispose()
    {
        session.Dispose();
        runOptions.Dispose();
    }
}
