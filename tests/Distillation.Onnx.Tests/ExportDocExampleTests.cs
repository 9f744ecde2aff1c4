using System.Text.RegularExpressions;
using Onnx;
using static Distillation.Onnx.Tests.OnnxTestSupport;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Onnx.Tests;

public sealed partial class ExportDocExampleTests
{
    [Fact]
    public void The_documented_residual_block_exports_and_runs_in_onnx_runtime_like_torchsharp()
    {
        manual_seed(40);
        using var model = Sequential(
            ("stem", Conv2d(3, 8, kernel_size: 3, padding: 1)),
            ("block1", new ResidualBlock(8, 8, 1)),
            ("block2", new ResidualBlock(8, 16, 2)),
            ("pool", AdaptiveAvgPool2d(1)),
            ("flatten", Flatten()),
            ("fc", Linear(16, 10)));
        TestNetworks.RandomizeBatchNormStatistics(model);
        using var folder = new TempFolder();
        var path = folder.File("residual.onnx");

        OnnxExporter.Export(model, path, new OnnxExportOptions { InputShape = [3, 16, 16] });

        using var session = OpenSession(path);
        foreach (var batch in new long[] { 1, 7 })
        {
            using var input = randn(batch, 3, 16, 16);
            AssertSameOutputs(session, model, input);
        }

        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph;
        graph.Initializer.Select(t => t.Name).Should().BeEquivalentTo(model.state_dict().Keys.Where(k => !k.EndsWith("num_batches_tracked", StringComparison.Ordinal)));
    }

    [Fact]
    public void Docs_export_md_and_the_readme_show_the_tested_block_verbatim_in_at_most_15_lines()
    {
        var root = RepositoryRoot();
        var source = File.ReadAllText(Path.Combine(root, "tests", "Distillation.Onnx.Tests", "ExportDocExample.cs")).ReplaceLineEndings("\n");
        const string Begin = "// docs/export.md:begin\n";
        var begin = source.IndexOf(Begin, StringComparison.Ordinal) + Begin.Length;
        var end = source.IndexOf("// docs/export.md:end", StringComparison.Ordinal);
        var tested = source[begin..end];

        var docs = File.ReadAllText(Path.Combine(root, "docs", "export.md")).ReplaceLineEndings("\n");
        var block = CSharpBlock().Match(docs);
        block.Success.Should().BeTrue("docs/export.md must have a ```csharp block");
        block.Groups["code"].Value.Should().Be(tested);

        File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n").Should().Contain("```csharp\n" + tested + "```", "the README shows the same block");

        var classLines = tested[tested.IndexOf("sealed class", StringComparison.Ordinal)..].TrimEnd('\n').Split('\n');
        classLines.Length.Should().BeLessThanOrEqualTo(15, "the issue asks for a residual block exported in at most 15 lines");
    }

    [GeneratedRegex("```csharp\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

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
