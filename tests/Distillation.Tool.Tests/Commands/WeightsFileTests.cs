using Distillation.Models;
using Distillation.Serialization;

namespace Distillation.Tool.Tests.Commands;

/// <summary>A teacher's weights in each format the library reads: .weights, safetensors, a PyTorch state dict.</summary>
public sealed class WeightsFileTests : IDisposable
{
    private readonly ToolSandbox sandbox = new();

    public void Dispose() => sandbox.Dispose();

    [Fact]
    public async Task The_same_teacher_as_weights_and_as_safetensors_gives_the_same_logits_file()
    {
        var images = sandbox.WriteImageFolder();
        (await ToolSandbox.RunAsync("teacher", "--images", images, "--epochs", "1", "--batch-size", "8", "--output", sandbox.PathOf("t"), "--quiet")).ExitCode.Should().Be(0);
        using (var teacher = new TeacherNet(3))
        {
            teacher.LoadWeights(sandbox.PathOf("t/teacher.weights"));
            teacher.SaveSafetensors(sandbox.PathOf("teacher.safetensors"));
        }

        foreach (var (weights, output) in new[] { ("t/teacher.weights", "a.safetensors"), ("teacher.safetensors", "b.safetensors") })
        {
            var run = await ToolSandbox.RunAsync("logits", "--images", images, "--teacher-weights", sandbox.PathOf(weights), "--batch-size", "8", "--output", sandbox.PathOf(output), "--quiet");
            run.ExitCode.Should().Be(0, run.ToString());
        }

        File.ReadAllBytes(sandbox.PathOf("b.safetensors")).Should().Equal(File.ReadAllBytes(sandbox.PathOf("a.safetensors")));
    }

    [Fact]
    public async Task A_pytorch_state_dict_of_a_zoo_model_exports_and_checks()
    {
        var repository = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(repository, "Distillation.sln")))
        {
            repository = Path.GetDirectoryName(repository)!;
        }

        // resnet20 for 10 classes, saved by PyTorch (eng/make-zoo-fixtures.py).
        var pth = Path.Combine(repository, "tests", "Distillation.Models.Tests", "Fixtures", "zoo", "logits", "resnet20.pth");
        var run = await ToolSandbox.RunAsync("export", "--model", "resnet20", "--weights", pth, "--classes", "10", "--output", sandbox.PathOf("resnet20.onnx"));
        run.ExitCode.Should().Be(0, run.ToString());
        run.Output.Should().Contain("checked in ONNX Runtime");

        // The same file for another architecture is refused in one line, exit 1.
        var wrong = await ToolSandbox.RunAsync("export", "--model", "wrn_16_2", "--weights", pth, "--classes", "10", "--output", sandbox.PathOf("wrong.onnx"));
        wrong.ExitCode.Should().Be(1, wrong.ToString());
        wrong.Error.Trim().Split('\n').Should().ContainSingle();
    }
}
