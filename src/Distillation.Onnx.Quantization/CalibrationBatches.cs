using System.Globalization;
using Distillation.Data;
using TorchSharp;

namespace Distillation.Onnx.Quantization;

/// <summary>One calibration batch, copied out of TorchSharp: float32 values in row-major order.</summary>
internal sealed record CalibrationBatch(float[] Values, long[] Shape);

/// <summary>
/// The calibration images, read once and held as float arrays (1000 CIFAR-10 images are 12 MB), so the
/// two calibration passes see the same batches and a one-shot sequence can be read twice. Every batch is
/// checked against the model's input before anything runs.
/// </summary>
internal static class CalibrationBatches
{
    public static List<CalibrationBatch> Read(IBatchSource source, QuantizationOptions options, ModelInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.Count == 0)
        {
            throw EmptySource();
        }

        var batches = new List<CalibrationBatch>();
        var images = Math.Min(source.Count, options.CalibrationImages);
        using var plan = source.PlanBatches(options.CalibrationBatchSize);
        var taken = 0;
        for (var i = 0; i < plan.BatchCount && taken < images; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            var batch = plan.GetBatch(i);
            var take = Math.Min(batch.Size, images - taken);
            var tensor = take == batch.Size ? batch.Images : batch.Images.narrow(0, 0, take);
            batches.Add(Copy(tensor, batches.Count, input));
            taken += take;
        }

        return batches;
    }

    public static List<CalibrationBatch> Read(IEnumerable<torch.Tensor> source, ModelInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        var batches = new List<CalibrationBatch>();
        foreach (var tensor in source)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (tensor is null)
            {
                throw new ArgumentException($"Calibration batch {batches.Count} is null.", nameof(source));
            }

            if (!tensor.is_floating_point())
            {
                throw new ArgumentException($"Calibration batch {batches.Count} is {tensor.dtype}; the model's input '{input.Name}' takes float32 images.", nameof(source));
            }

            using var scope = torch.NewDisposeScope();
            batches.Add(Copy(tensor, batches.Count, input));
        }

        if (batches.Count == 0 || batches.All(b => b.Shape[0] == 0))
        {
            throw EmptySource();
        }

        return batches;
    }

    private static CalibrationBatch Copy(torch.Tensor tensor, int index, ModelInput input)
    {
        var shape = tensor.shape;
        var fits = shape.Length == input.Shape.Count && shape.Zip(input.Shape).All(p => p.Second <= 0 || p.First == p.Second);
        if (!fits)
        {
            throw new ArgumentException(
                $"Calibration batch {index} has shape [{string.Join(", ", shape)}]; the model's input '{input.Name}' takes {input.Describe()}.");
        }

        var values = tensor.detach().to(torch.ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        return new CalibrationBatch(values, shape);
    }

    private static ArgumentException EmptySource() =>
        new("The calibration source holds no images; quantization needs at least one batch of typical inputs (for example 1000 training images).");
}

/// <summary>The model's single float input: its name and shape (−1 for a dynamic dimension such as the batch).</summary>
internal sealed record ModelInput(string Name, IReadOnlyList<long> Shape)
{
    public string Describe() => "[" + string.Join(", ", Shape.Select((d, i) => d >= 0 ? d.ToString(CultureInfo.InvariantCulture) : i == 0 ? "batch" : "?")) + "]";
}
