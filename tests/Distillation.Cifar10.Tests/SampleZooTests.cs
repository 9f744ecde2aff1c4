using Distillation.Data;
using Distillation.Tests.TestSupport;
using static TorchSharp.torch;

namespace Distillation.Cifar10.Tests;

/// <summary>--student, --teacher-model and --image-size: zoo models at any size the models take, refused in one line when they cannot.</summary>
public sealed class SampleZooTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private string[] Args(params string[] more) =>
    [
        "--data", Path.Combine(temp.Path, "no-data"), "--no-download", "--output", Path.Combine(temp.Path, "run"),
        "--batch-size", "8", "--threads", "1", "--no-speed", "--no-charts", "--epochs", "1", .. more,
    ];

    private static void OneErrorLine(string error, string expected)
    {
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        lines.Should().ContainSingle(l => l.StartsWith("error: ", StringComparison.Ordinal), error).Which.Should().Match(expected);
        error.Should().NotContain("   at ");
    }

    /// <summary>A folder of 24 random 64×64 images in two classes (train/ and test/ split by the sample's seed).</summary>
    private string ImageFolder()
    {
        var root = Path.Combine(temp.Path, "images");
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        using var data = new ImageDataset(
            randint(0, 256, [24, 3, 64, 64], dtype: ScalarType.Byte, generator: generator),
            tensor(Enumerable.Range(0, 24).Select(i => (long)(i % 2)).ToArray()),
            ["cat", "dog"]);
        ImageFolderWriter.WritePng(data, root);
        return root;
    }

    [Fact]
    public async Task A_size_the_data_or_the_model_cannot_take_and_an_unknown_model_are_refused_naming_the_flag()
    {
        (int Exit, string Output, string Error)[] runs =
        [
            await SampleProcess.RunAsync(Args("--student", "resnet20", "--image-size", "64")),
            await SampleProcess.RunAsync(Args("--student", "resnet2O")),
            await SampleProcess.RunAsync(Args("--data-folder", ImageFolder(), "--image-size", "64")),
        ];

        runs.Select(r => r.Exit).Should().AllBeEquivalentTo(2);
        OneErrorLine(runs[0].Error, "error: --image-size 64 needs --data-folder: CIFAR-10's files hold 32×32 images.*");
        OneErrorLine(runs[1].Error, "error: --student resnet2O: *resnet20*");
        OneErrorLine(runs[2].Error, "error: --image-size 64: the notebook's networks take 32×32 images only; choose --teacher-model from the zoo*");
        runs.Should().OnlyContain(r => !r.Output.Contains("Training"));
    }

    [Fact]
    public async Task A_zoo_student_is_distilled_from_a_zoo_teacher_at_64_pixels_and_exported()
    {
        var (exit, output, error) = await SampleProcess.RunAsync(Args(
            "--data-folder", ImageFolder(), "--image-size", "64", "--teacher-model", "resnet8x4", "--student", "resnet20", "--export-onnx", "--export-int8", "--calibration-images", "16"));

        exit.Should().Be(0, error);
        File.Exists(Path.Combine(temp.Path, "run", "distilled-student.int8.onnx")).Should().BeTrue(output);
        output.Should().Contain("quantized to int8").And.Contain("calibrated on 16 training images");
        output.Should().Contain("to 64×64 ").And.Contain("Teacher parameters: ").And.NotContain("1,186,986", "the teacher is resnet8x4, not the notebook's")
            .And.NotContain("267,738", "the student is resnet20, not the notebook's");
        File.Exists(Path.Combine(temp.Path, "run", "distilled-student.onnx")).Should().BeTrue(output);
    }

    [Fact]
    public async Task An_export_that_cannot_be_written_is_reported_and_the_run_keeps_its_results()
    {
        // The distilled student's file name is taken by a folder: the export fails, the results are still written.
        Directory.CreateDirectory(Path.Combine(temp.Path, "run", "distilled-student.onnx"));

        var (exit, output, error) = await SampleProcess.RunAsync(Args("--data-folder", ImageFolder(), "--export-onnx"));

        exit.Should().Be(0, error);
        (output + error).Should().Contain("distilled-student.onnx not written");
        File.Exists(Path.Combine(temp.Path, "run", "student.onnx")).Should().BeTrue("the other export is independent");
        File.Exists(Path.Combine(temp.Path, "run", "results.json")).Should().BeTrue("the run's results are written after a failed export");
    }
}
