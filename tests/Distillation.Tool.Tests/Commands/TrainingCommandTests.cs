using System.Text.Json;

namespace Distillation.Tool.Tests.Commands;

public sealed class TrainingCommandTests : IDisposable
{
    private readonly ToolSandbox sandbox = new();

    public void Dispose() => sandbox.Dispose();

    [Fact]
    public async Task The_teacher_then_a_student_from_its_weights_then_from_its_onnx_file_train_export_and_evaluate()
    {
        var images = sandbox.WriteImageFolder();
        var teacherRun = sandbox.PathOf("runs/teacher");
        var teacher = await ToolSandbox.RunAsync("teacher", "--images", images, "--epochs", "1", "--batch-size", "8", "--output", teacherRun, "--export", sandbox.PathOf("teacher.onnx"));
        teacher.ExitCode.Should().Be(0, teacher.ToString());
        File.Exists(Path.Combine(teacherRun, "teacher.weights")).Should().BeTrue();
        File.Exists(Path.Combine(teacherRun, "config.yaml")).Should().BeTrue();
        teacher.Output.Should().Contain("checked in ONNX Runtime");

        var fromWeights = await ToolSandbox.RunAsync("student", "--images", images, "--epochs", "1", "--batch-size", "8",
            "--teacher-weights", Path.Combine(teacherRun, "teacher.weights"), "--loss", "dist", "--dist-gamma", "0.5", "--soft-ramp", "0.5", "--output", sandbox.PathOf("runs/student-w"));
        fromWeights.ExitCode.Should().Be(0, fromWeights.ToString());
        File.ReadAllText(sandbox.PathOf("runs/student-w/config.yaml")).Should().Contain("dist-gamma: 0.5").And.Contain("soft-ramp: 0.5");
        fromWeights.ToString().Should().Contain("with 1·ce + 1(to 0 over the last 0.5)·dist(β=1, γ=0.5, T=4)", "--soft-ramp ramps the distillation term, not cross-entropy");

        var studentOnnx = sandbox.PathOf("student.onnx");
        var fromOnnx = await ToolSandbox.RunAsync("student", "--images", images, "--epochs", "1", "--batch-size", "8",
            "--teacher-onnx", sandbox.PathOf("teacher.onnx"), "--loss", "dkd", "--dkd-beta", "2", "--output", sandbox.PathOf("runs/student-onnx"), "--export", studentOnnx);
        fromOnnx.ExitCode.Should().Be(0, fromOnnx.ToString());
        fromOnnx.Output.Should().Contain("the ONNX teacher").And.Contain("checked in ONNX Runtime");
        File.Exists(studentOnnx).Should().BeTrue();

        using var results = JsonDocument.Parse(File.ReadAllText(sandbox.PathOf("runs/student-onnx/results.json")));
        var accuracy = results.RootElement.GetProperty("accuracy").GetDouble();

        // The ONNX file and the weights evaluate to the same accuracy, with the per-class table and the confusion matrix.
        var evalOnnx = await ToolSandbox.RunAsync("eval", "--images", images, "--onnx", studentOnnx);
        evalOnnx.ExitCode.Should().Be(0, evalOnnx.ToString());
        evalOnnx.Output.Should().Contain("Confusion matrix").And.Contain("green");
        var evalWeights = await ToolSandbox.RunAsync("eval", "--images", images, "--model", "studentnet", "--weights", sandbox.PathOf("runs/student-onnx/student.weights"), "--report", sandbox.PathOf("eval.json"));
        evalWeights.ExitCode.Should().Be(0, evalWeights.ToString());
        using var report = JsonDocument.Parse(File.ReadAllText(sandbox.PathOf("eval.json")));
        report.RootElement.GetProperty("accuracy").GetDouble().Should().Be(accuracy);
        evalOnnx.Output.Should().Contain(evalWeights.Output.Split('\n').First(l => l.Contains("accuracy", StringComparison.Ordinal)).Split(": accuracy")[1].Trim());

        // --json: standard output is the evaluation as JSON, and only that.
        var json = await ToolSandbox.RunAsync("eval", "--images", images, "--onnx", studentOnnx, "--json");
        json.ExitCode.Should().Be(0, json.ToString());
        using var printed = JsonDocument.Parse(json.Output);
        printed.RootElement.GetProperty("accuracy").GetDouble().Should().Be(accuracy);
        printed.RootElement.GetProperty("confusion").GetArrayLength().Should().Be(3);
    }

    [Fact]
    public async Task A_folder_over_the_memory_budget_is_streamed_and_trains_as_the_resident_one()
    {
        var images = sandbox.WriteImageFolder();
        string[] Args(string output) => ["teacher", "--images", images, "--epochs", "2", "--batch-size", "8", "--output", sandbox.PathOf(output), "--json"];
        var resident = await ToolSandbox.RunAsync(Args("resident"));
        var streamed = await ToolSandbox.RunAsync([.. Args("streamed"), "--memory-budget", "0.000001"]);

        resident.ExitCode.Should().Be(0, resident.ToString());
        streamed.ExitCode.Should().Be(0, streamed.ToString());
        streamed.Error.Should().Contain("streamed from disk");
        resident.Error.Should().NotContain("streamed from disk");

        // Without augmentation a streamed batch equals the resident one bit for bit, so the runs agree.
        using var residentResults = JsonDocument.Parse(resident.Output);
        using var streamedResults = JsonDocument.Parse(streamed.Output);
        streamedResults.RootElement.GetProperty("accuracy").GetDouble().Should().Be(residentResults.RootElement.GetProperty("accuracy").GetDouble());
        streamedResults.RootElement.GetProperty("lastEpochLoss").GetDouble().Should().Be(residentResults.RootElement.GetProperty("lastEpochLoss").GetDouble());
        streamedResults.RootElement.GetProperty("confusion").GetRawText().Should().Be(residentResults.RootElement.GetProperty("confusion").GetRawText());

        var limited = await ToolSandbox.RunAsync([.. Args("limited"), "--memory-budget", "0.000001", "--train-limit", "10"]);
        limited.ExitCode.Should().Be(2, limited.ToString());
        limited.Error.Should().Contain("--train-limit and --test-limit take their images from a folder held in memory").And.Contain("--memory-budget");
        var invalid = await ToolSandbox.RunAsync([.. Args("invalid"), "--memory-budget", "0"]);
        invalid.Error.Should().Contain("--memory-budget must be a number of GiB above 0");
    }

    [Fact]
    public async Task A_run_repeated_from_its_effective_config_gives_the_same_weights()
    {
        var images = sandbox.WriteImageFolder();
        var teacherRun = sandbox.PathOf("runs/teacher");
        (await ToolSandbox.RunAsync("teacher", "--images", images, "--epochs", "1", "--batch-size", "8", "--output", teacherRun, "--quiet")).ExitCode.Should().Be(0);
        var first = await ToolSandbox.RunAsync("student", "--images", images, "--epochs", "1", "--batch-size", "8", "--temperature", "3", "--seed", "7",
            "--teacher-weights", Path.Combine(teacherRun, "teacher.weights"), "--output", sandbox.PathOf("runs/x"), "--quiet");
        first.ExitCode.Should().Be(0, first.ToString());
        var weights = File.ReadAllBytes(sandbox.PathOf("runs/x/student.weights"));

        // The config names the run's own output folder: move the first run's outputs aside, then reproduce it.
        Directory.Move(sandbox.PathOf("runs/x"), sandbox.PathOf("runs/x-first"));
        var again = await ToolSandbox.RunAsync("student", "--config", sandbox.PathOf("runs/x-first/config.yaml"));
        again.ExitCode.Should().Be(0, again.ToString());
        File.ReadAllBytes(sandbox.PathOf("runs/x/student.weights")).Should().Equal(weights);
        File.ReadAllText(sandbox.PathOf("runs/x/config.yaml")).Should().Be(File.ReadAllText(sandbox.PathOf("runs/x-first/config.yaml")));
    }

    [Fact]
    public async Task Export_writes_an_onnx_file_checked_in_onnx_runtime()
    {
        var images = sandbox.WriteImageFolder();
        (await ToolSandbox.RunAsync("teacher", "--images", images, "--epochs", "1", "--batch-size", "8", "--output", sandbox.PathOf("t"), "--quiet")).ExitCode.Should().Be(0);
        var export = await ToolSandbox.RunAsync("export", "--model", "teachernet", "--weights", sandbox.PathOf("t/teacher.weights"), "--class-names", "red,green,blue", "--output", sandbox.PathOf("t.onnx"));
        export.ExitCode.Should().Be(0, export.ToString());
        export.Output.Should().Contain("checked in ONNX Runtime on 8 images");
        File.Exists(sandbox.PathOf("t.onnx")).Should().BeTrue();

        // Three class names do not fit a teacher of three classes' weights when the count says ten.
        var wrong = await ToolSandbox.RunAsync("export", "--model", "teachernet", "--weights", sandbox.PathOf("t/teacher.weights"), "--classes", "10", "--output", sandbox.PathOf("u.onnx"));
        wrong.ExitCode.Should().Be(1, wrong.ToString());
        wrong.Error.Trim().Split('\n').Should().ContainSingle();
    }
}
