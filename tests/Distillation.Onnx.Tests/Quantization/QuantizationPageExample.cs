using Distillation.Data;
using Distillation.Onnx.Quantization;

namespace Distillation.Onnx.Tests.Quantization;

// The int8 example of docs/deployment.md and of the package's README: it reads CIFAR-10 and an
// exported model by relative paths, so it is compiled here, not run (DocSnippetTests checks that both
// pages hold this region verbatim; OnnxQuantizerTests runs the same calls on files they write).
internal static class QuantizationPageExample
{
    public static void Quantize()
    {
        // docs:begin QuantizationPageExample
        using var train = Cifar10Dataset.Load("data", Cifar10Split.Train);
        using var calibration = train.Sample(1000, seed: 7);          // training images, never the test set
        var report = OnnxQuantizer.Quantize("runs/latest/distilled-student.onnx", "runs/latest/distilled-student.int8.onnx",
            calibration, new QuantizationOptions { Method = CalibrationMethod.MinMax });   // or Percentile (99.999), Entropy (KL)
        Console.WriteLine($"{report.SizeRatio:F1}x smaller; in float: {string.Join(", ", report.FloatNodes.Select(n => $"{n.Name} ({n.Note})"))}");
        // docs:end QuantizationPageExample
    }
}
