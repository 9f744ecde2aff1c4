using System.Text.Json;

namespace Distillation.Tool.Tests.Commands;

/// <summary>--json and --quiet, for scripts: what reaches standard output and standard error.</summary>
public sealed class ScriptOutputTests : IDisposable
{
    private readonly ToolSandbox sandbox = new();

    public void Dispose() => sandbox.Dispose();

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task Json_puts_the_runs_results_alone_on_standard_output_and_the_progress_on_standard_error()
    {
        var images = sandbox.WriteImageFolder();
        var teacher = await ToolSandbox.RunAsync("teacher", "--images", images, "--epochs", "2", "--batch-size", "8", "--output", sandbox.PathOf("t"), "--json");
        teacher.ExitCode.Should().Be(0, teacher.ToString());

        // All of standard output is one JSON object: results.json's.
        using (var printed = JsonDocument.Parse(teacher.Output))
        {
            printed.RootElement.GetProperty("command").GetString().Should().Be("teacher");
            printed.RootElement.GetProperty("epochsTrained").GetInt32().Should().Be(2);
        }

        teacher.Output.Trim().Should().Be(File.ReadAllText(sandbox.PathOf("t/results.json")).Trim());
        teacher.Error.Should().MatchRegex(@"(?m)^  Epoch 1/2, Loss: \d+\.\d{4}, [\d,]+ images/s, ").And.Contain("  Epoch 2/2, Loss: ").And.Contain("Teacher test: accuracy ");
        (teacher.Output + teacher.Error).Should().NotContain("\u001b").And.NotContain("\r", "a redirected run has no escape codes and no redraws");

        // With --quiet too, standard error is left to errors.
        var student = await ToolSandbox.RunAsync("student", "--images", images, "--epochs", "1", "--batch-size", "8",
            "--teacher-weights", sandbox.PathOf("t/teacher.weights"), "--output", sandbox.PathOf("s"), "--json", "--quiet");
        student.ExitCode.Should().Be(0, student.ToString());
        student.Error.Should().BeEmpty();
        using (var printed = JsonDocument.Parse(student.Output))
        {
            printed.RootElement.GetProperty("command").GetString().Should().Be("student");
            printed.RootElement.GetProperty("accuracy").GetDouble().Should().BeInRange(0, 1);
        }

        var eval = await ToolSandbox.RunAsync("eval", "--images", images, "--model", "studentnet", "--weights", sandbox.PathOf("s/student.weights"), "--json", "--quiet");
        eval.ExitCode.Should().Be(0, eval.ToString());
        eval.Error.Should().BeEmpty();
        using (var printed = JsonDocument.Parse(eval.Output))
        {
            printed.RootElement.GetProperty("confusion").GetArrayLength().Should().Be(3);
        }

        var logits = await ToolSandbox.RunAsync("logits", "--images", images, "--teacher-weights", sandbox.PathOf("t/teacher.weights"), "--output", sandbox.PathOf("logits.safetensors"), "--json", "--quiet");
        logits.ExitCode.Should().Be(0, logits.ToString());
        logits.Error.Should().BeEmpty();
        using (var printed = JsonDocument.Parse(logits.Output))
        {
            printed.RootElement.GetProperty("file").GetString().Should().Be(sandbox.PathOf("logits.safetensors"));
            printed.RootElement.GetProperty("rows").GetInt64().Should().Be(printed.RootElement.GetProperty("totalRows").GetInt64());
            printed.RootElement.GetProperty("views").GetInt32().Should().Be(1);
        }

        var export = await ToolSandbox.RunAsync("export", "--model", "studentnet", "--weights", sandbox.PathOf("s/student.weights"), "--classes", "3", "--output", sandbox.PathOf("s.onnx"), "--json");
        export.ExitCode.Should().Be(0, export.ToString());
        export.Error.Should().StartWith("Exported to ", "the line goes to standard error");
        using (var printed = JsonDocument.Parse(export.Output))
        {
            printed.RootElement.GetProperty("file").GetString().Should().Be(sandbox.PathOf("s.onnx"));
            printed.RootElement.GetProperty("equalPredictions").GetInt64().Should().Be(printed.RootElement.GetProperty("checkedImages").GetInt64());
        }
    }

    [Fact]
    public async Task Quiet_prints_only_the_result_lines()
    {
        var images = sandbox.WriteImageFolder();
        var full = await ToolSandbox.RunAsync("teacher", "--images", images, "--epochs", "1", "--batch-size", "8", "--output", sandbox.PathOf("full"));
        full.ExitCode.Should().Be(0, full.ToString());
        Lines(full.Output).Should().Contain(l => l.StartsWith("  Epoch 1/1, Loss: ", StringComparison.Ordinal)).And.Contain(l => l.StartsWith("Training teachernet", StringComparison.Ordinal));

        var quiet = await ToolSandbox.RunAsync("teacher", "--images", images, "--epochs", "1", "--batch-size", "8", "--output", sandbox.PathOf("quiet"), "--quiet");
        quiet.ExitCode.Should().Be(0, quiet.ToString());
        quiet.Error.Should().BeEmpty();
        Lines(quiet.Output).Should().SatisfyRespectively(
            accuracy => accuracy.Should().MatchRegex(@"^Teacher test: accuracy \d+\.\d{2} % \(\d+/12\), top-3 "),
            weights => weights.Should().Be($"Weights: {sandbox.PathOf("quiet/teacher.weights")}"));
        Lines(full.Output)[^2..].Should().SatisfyRespectively(
            accuracy => accuracy.Should().StartWith("Teacher test: accuracy "),
            weights => weights.Should().StartWith("Weights: ")); // the result lines end the full output as well

        var eval = await ToolSandbox.RunAsync("eval", "--images", images, "--model", "teachernet", "--weights", sandbox.PathOf("quiet/teacher.weights"), "--quiet");
        eval.ExitCode.Should().Be(0, eval.ToString());
        Lines(eval.Output)[0].Should().StartWith("teachernet on 12 test images: accuracy ", "the data's description is progress, left out");
        eval.Output.Should().Contain("Confusion matrix").And.NotContain("\u001b");
    }
}
