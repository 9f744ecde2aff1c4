using System.Globalization;
using System.Text.Json;
using Distillation.Data;
using Distillation.Models.Zoo;
using Distillation.Tests.TestSupport;
using static Distillation.Onnx.Tests.OnnxTestSupport;
using static TorchSharp.torch;

namespace Distillation.Onnx.Tests;

/// <summary>
/// Every model of <see cref="ModelZoo"/> exports, and ONNX Runtime computes what TorchSharp computes.
/// Set DISTILLATION_ONNX_EXPORT_DIR to keep the files and the measured differences there (for
/// eng/check-onnx-model.py and results/onnx/).
/// </summary>
public sealed class ZooExportTests
{
    private const string ExportDirectoryVariable = "DISTILLATION_ONNX_EXPORT_DIR";

    public static TheoryData<string> ZooModels => new(ModelZoo.Models.Select(m => m.Name));

    /// <summary>
    /// The zoo but resnet110, whose 32×32 pass is the slowest of all (its blocks are resnet56's, checked
    /// on real images, and resnet110 itself on random batches).
    /// </summary>
    public static TheoryData<string> ZooModelsForRealImages => new(ModelZoo.Models.Select(m => m.Name).Where(name => name != "resnet110"));

    [Theory]
    [MemberData(nameof(ZooModels))]
    public void Zoo_model_matches_torchsharp_on_random_batches_of_1_and_7_at_its_smallest_input(string name)
    {
        var info = ModelZoo.Get(name);
        manual_seed(50);
        using var model = info.Create(10);
        var size = info.MinimumInputSize;
        using (var calibration = randn(16, 3, size, size))
        {
            ZooTestSupport.CalibrateBatchNorm(model, calibration);
        }

        using var folder = new TempFolder();
        var path = folder.File(name + ".onnx");
        OnnxExporter.Export(model, path, new OnnxExportOptions { InputShape = [3, size, size] });

        using var session = OpenSession(path);
        using var one = randn(1, 3, size, size);
        using var seven = randn(7, 3, size, size);
        var agreements = ZooTestSupport.AssertSameOutputsWithinFloat32Precision(session, model, [one, seven]);
        Keep(path, name, $"random, {size}×{size}", agreements);
    }

    [SkippableTheory]
    [MemberData(nameof(ZooModelsForRealImages))]
    public void Zoo_model_matches_torchsharp_on_real_cifar10_batches_of_1_and_7(string name)
    {
        var (calibration, one, seven) = CifarImages.Value ?? throw new SkipException(
            "Needs the real CIFAR-10 images (../shared/datasets/cifar-10-batches-bin, absent here): it measures ONNX Runtime against TorchSharp on natural images, "
            + "batch norm calibrated on them, for results/onnx/; random inputs are checked by Zoo_model_matches_torchsharp_on_random_batches_of_1_and_7_at_its_smallest_input.");
        var info = ModelZoo.Get(name);
        manual_seed(51);
        using var model = info.Create(Cifar10Dataset.DefaultClassNames.Count);

        // Running statistics from real images, as after training on them.
        ZooTestSupport.CalibrateBatchNorm(model, calibration);

        using var folder = new TempFolder();
        var path = folder.File(name + "-cifar10.onnx");
        OnnxExporter.Export(model, path, new OnnxExportOptions { ClassNames = Cifar10Dataset.DefaultClassNames, Normalization = ImageNormalization.Cifar10 });

        using var session = OpenSession(path);
        var agreements = ZooTestSupport.AssertSameOutputsWithinFloat32Precision(session, model, [one, seven]);
        Keep(path, name, "CIFAR-10 test images 16–23, 32×32", agreements);
    }

    [Theory]
    [InlineData("mobilenet_v3_small", 64, 64)]
    [InlineData("resnet18", 72, 56)]
    [InlineData("resnet20", 45, 37)]
    [InlineData("mobilenetv2", 50, 50)]
    public void Zoo_model_matches_torchsharp_at_other_image_sizes(string name, int height, int width)
    {
        manual_seed(52);
        using var model = ModelZoo.Create(name, 10);
        using (var calibration = randn(16, 3, height, width))
        {
            ZooTestSupport.CalibrateBatchNorm(model, calibration);
        }

        using var folder = new TempFolder();
        var path = folder.File($"{name}-{height}x{width}.onnx");
        OnnxExporter.Export(model, path, new OnnxExportOptions { InputShape = [3, height, width] });

        using var session = OpenSession(path);
        using var one = randn(1, 3, height, width);
        using var seven = randn(7, 3, height, width);
        var agreements = ZooTestSupport.AssertSameOutputsWithinFloat32Precision(session, model, [one, seven]);
        Keep(path, name, $"random, {height}×{width}", agreements);
    }

    /// <summary>The first 24 CIFAR-10 test images, normalized: 16 to calibrate, then batches of 1 and 7 (loaded once for all models).</summary>
    private static readonly Lazy<(Tensor Calibration, Tensor One, Tensor Seven)?> CifarImages = new(() =>
    {
        if (SharedData.Cifar10Root() is not { } root)
        {
            return null;
        }

        using var test = Cifar10Dataset.Load(root, Cifar10Split.Test);
        using var slice = test.Take(24);
        using var plan = slice.PlanBatches(24);
        using var scope = NewDisposeScope();
        var images = plan.GetBatch(0).Images;
        return (images[..16].detach().clone().MoveToOuterDisposeScope(), images[16..17].detach().clone().MoveToOuterDisposeScope(), images[17..24].detach().clone().MoveToOuterDisposeScope());
    });

    /// <summary>With DISTILLATION_ONNX_EXPORT_DIR set, copies the file there and appends the measured differences to differences.jsonl.</summary>
    private static void Keep(string path, string name, string input, IReadOnlyList<ZooTestSupport.Agreement> agreements)
    {
        var directory = Environment.GetEnvironmentVariable(ExportDirectoryVariable);
        if (string.IsNullOrEmpty(directory))
        {
            return;
        }

        Directory.CreateDirectory(directory);
        File.Copy(path, Path.Combine(directory, Path.GetFileName(path)), overwrite: true);
        static string Format(float value) => float.IsNaN(value) ? "not measured (ONNX within 1e-4)" : value.ToString("G3", CultureInfo.InvariantCulture);
        foreach (var a in agreements)
        {
            var line = JsonSerializer.Serialize(new
            {
                model = name,
                input,
                batch = a.Batch,
                maxAbsDiffOnnxVsTorchSharp = Format(a.OnnxDifference),
                maxAbsDiffTorchSharpFloat32VsFloat64 = Format(a.Float32Error),
                bound = Format(a.Bound),
                maxAbsLogit = Format(a.MaxAbsLogit),
            });
            File.AppendAllText(Path.Combine(directory, "differences.jsonl"), line + "\n");
        }
    }
}
