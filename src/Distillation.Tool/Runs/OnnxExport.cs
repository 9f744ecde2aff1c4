using System.Globalization;
using Distillation.Data;
using Distillation.Onnx;
using Distillation.Onnx.Runtime;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Tool.Runs;

/// <summary>What an export wrote and how its check in ONNX Runtime went.</summary>
/// <param name="Path">The ONNX file's full path.</param>
/// <param name="Images">The images of the check.</param>
/// <param name="MaxDifference">The largest difference of a logit between ONNX Runtime and TorchSharp.</param>
/// <param name="LargestLogit">The largest |logit| (at least 1), the scale of the tolerance.</param>
/// <param name="EqualPredictions">How many of the images both predict alike.</param>
internal sealed record OnnxExportCheck(string Path, long Images, double MaxDifference, double LargestLogit, long EqualPredictions)
{
    /// <summary>The line the commands print.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"Exported to {Path}; checked in ONNX Runtime on {Images} images: logits within {MaxDifference:G3} of TorchSharp's (largest |logit| {LargestLogit:G3}), {EqualPredictions}/{Images} predictions equal.");
}

/// <summary>Writes a model as ONNX and checks the file in ONNX Runtime against the TorchSharp model.</summary>
internal static class OnnxExport
{
    /// <summary>The largest difference of a logit, relative to the largest logit (at least 1), that passes the check.</summary>
    public const double Tolerance = 1e-3;

    /// <summary>Exports, then runs both on <paramref name="images"/> (normalized, [B, 3, S, S]); returns what the check found.</summary>
    /// <exception cref="InvalidDataException">ONNX Runtime's logits differ from TorchSharp's beyond <see cref="Tolerance"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the export stops at its next module and writes nothing.</exception>
    public static OnnxExportCheck ExportAndCheck(nn.Module<Tensor, Tensor> model, string path, IReadOnlyList<string> classNames, ImageNormalization normalization, int imageSize, Tensor images, CancellationToken cancellationToken = default)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        OnnxExporter.Export(model, full, new OnnxExportOptions { ClassNames = classNames, Normalization = normalization, InputShape = [3, imageSize, imageSize] }, cancellationToken: cancellationToken);

        using var scope = NewDisposeScope();
        var device = model.parameters().FirstOrDefault()?.device ?? CPU;
        var wasTraining = model.training;
        model.eval();
        Tensor expected;
        using (no_grad())
        {
            expected = model.call(images.to(device)).to(ScalarType.Float32).cpu();
        }

        model.train(wasTraining);
        using var runtime = new OnnxTeacher(full);
        var actual = runtime.Forward(new TeacherBatch(images.cpu(), arange(images.shape[0]))).Logits.cpu();
        var difference = (actual - expected).abs().max().item<float>();
        var scale = Math.Max(1.0, expected.abs().max().item<float>());
        var agree = actual.argmax(1).eq(expected.argmax(1)).sum().item<long>();
        if (!(difference <= Tolerance * scale))
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"The exported {full} does not match the model in ONNX Runtime: the logits differ by up to {difference:G3} (allowed {Tolerance * scale:G3})."));
        }

        return new OnnxExportCheck(full, images.shape[0], difference, scale, agree);
    }

    /// <summary>The first batch of normalized images of a set (up to 64), for the check.</summary>
    public static Tensor CheckImages(IBatchSource data)
    {
        using var plan = data.PlanBatches(Math.Min(64, data.Count));
        using var scope = NewDisposeScope();
        return plan.GetBatch(0).Images.DetachFromDisposeScope();
    }
}
