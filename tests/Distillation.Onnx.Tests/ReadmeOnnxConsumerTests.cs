using Distillation.Data;
using Distillation.Models;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Distillation.Onnx.Tests;

public sealed class ReadmeOnnxConsumerTests
{
    [Fact]
    public void The_readme_consumer_classifies_an_rgb_image_like_torchsharp()
    {
        manual_seed(20);
        using var student = new StudentNet();
        using var folder = new TempFolder();
        var path = folder.File("distilled-student.onnx");
        // docs:begin OnnxExportExample
        OnnxExporter.Export(student, path, new OnnxExportOptions
        {
            ClassNames = Cifar10Dataset.DefaultClassNames,     // or the loaded dataset's ClassNames
            Normalization = ImageNormalization.Cifar10,        // what the model was trained with
            // InputShape = [3, 32, 32], InputName = "input", OutputName = "logits" are the defaults
        });
        // docs:end OnnxExportExample
        var random = new Random(20);
        var rgb = new byte[32 * 32 * 3];
        random.NextBytes(rgb);

        using var session = new InferenceSession(path);
        var (label, logits) = StudentClassifier.Classify(session, rgb, 32, 32);

        // The library's own preprocessing of the same pixels: HWC bytes → NCHW uint8 → ImageDataset's normalization.
        using var scope = NewDisposeScope();
        using var dataset = new ImageDataset(
            tensor(rgb, [1, 32, 32, 3]).permute(0, 3, 1, 2).contiguous(), tensor(new long[] { 0 }), Cifar10Dataset.DefaultClassNames, ImageNormalization.Cifar10);
        using var plan = dataset.PlanBatches(1);
        var (expected, _) = OnnxTestSupport.RunTorch(student, plan.GetBatch(0).Images);
        OnnxTestSupport.MaxAbsDiff(expected, logits).Should().BeLessThanOrEqualTo(OnnxTestSupport.Tolerance);
        label.Should().Be(Cifar10Dataset.DefaultClassNames[OnnxTestSupport.ArgMax(expected)]);
    }

    [Fact]
    public void The_deployment_page_shows_the_compiled_consumer_verbatim()
    {
        var root = RepositoryRoot();
        var source = File.ReadAllText(Path.Combine(root, "tests", "Distillation.Onnx.Tests", "ReadmeOnnxConsumer.cs")).ReplaceLineEndings("\n");
        const string Begin = "// docs:begin ReadmeOnnxConsumerTests\n";
        var begin = source.IndexOf(Begin, StringComparison.Ordinal);
        var end = source.IndexOf("// docs:end ReadmeOnnxConsumerTests", StringComparison.Ordinal);
        begin.Should().BeGreaterThanOrEqualTo(0);
        end.Should().BeGreaterThan(begin);
        var snippet = source[(begin + Begin.Length)..end];

        File.ReadAllText(Path.Combine(root, "docs", "deployment.md")).ReplaceLineEndings("\n").Should().Contain("<!-- compiled: ReadmeOnnxConsumerTests -->\n```csharp\n" + snippet + "```");
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Distillation.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (Distillation.sln) was not found above " + AppContext.BaseDirectory);
    }
}
