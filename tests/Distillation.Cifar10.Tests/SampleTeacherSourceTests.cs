using Distillation.Data;
using Distillation.Models;
using Distillation.Onnx;
using Distillation.Serialization;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Cifar10.Tests;

/// <summary>--teacher-onnx and --teacher-logits: a teacher from elsewhere, checked before anything trains.</summary>
public sealed class SampleTeacherSourceTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private string[] Args(params string[] more) =>
    [
        "--data", CifarFiles.OfficialSizeRoot, "--no-download", "--output", Path.Combine(temp.Path, "run"),
        "--train-limit", "200", "--test-limit", "40", "--batch-size", "20", "--threads", "1", "--no-speed", "--no-charts", "--epochs", "1", .. more,
    ];

    private static void OneErrorLine(string error, string expected)
    {
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        lines.Should().ContainSingle(l => l.StartsWith("error: ", StringComparison.Ordinal), error).Which.Should().Match(expected);
        error.Should().NotContain("   at ");
    }

    private string File(string name)
    {
        var path = Path.Combine(temp.Path, name);
        System.IO.File.WriteAllBytes(path, [1, 2, 3]);
        return path;
    }

    [Theory]
    [InlineData("--teacher", "--teacher-onnx", "error: --teacher and --teacher-onnx each give the teacher; use one.*")]
    [InlineData("--teacher-onnx", "--teacher-logits", "error: --teacher-onnx and --teacher-logits each give the teacher; use one.*")]
    public async Task Two_teacher_sources_are_refused(string first, string second, string expected)
    {
        var (exit, output, error) = await SampleProcess.RunAsync(Args(first, File("a"), second, File("b")));

        exit.Should().Be(2);
        OneErrorLine(error, expected);
        output.Should().NotContain("Training");
    }

    [Fact]
    public async Task A_missing_file_a_feature_method_or_augmented_logits_are_refused_before_training()
    {
        var missing = Path.Combine(temp.Path, "missing.onnx");
        var plain = Path.Combine(temp.Path, "plain.safetensors");
        using (var rows = zeros(16, 10))
        {
            Safetensors.Write(plain, [new("logits", rows)]);
        }

        (int Exit, string Output, string Error)[] runs =
        [
            await SampleProcess.RunAsync(Args("--teacher-onnx", missing)),
            await SampleProcess.RunAsync(Args("--teacher-onnx", File("t.onnx"), "--method", "kd:1,cosine:0.25")),
            await SampleProcess.RunAsync(Args("--teacher-logits", plain, "--augment")),
            await SampleProcess.RunAsync(Args("--teacher-logits", File("l.safetensors"), "--augment")),
        ];

        runs.Select(r => r.Exit).Should().AllBeEquivalentTo(2);
        OneErrorLine(runs[0].Error, $"error: --teacher-onnx {missing} does not exist.*");
        OneErrorLine(runs[1].Error, "error: --teacher-onnx gives the teacher's logits only; --method kd:1,cosine:0.25 reads its features*");
        OneErrorLine(runs[2].Error, "error: --teacher-logits holds logits of the un-augmented training images; leave out --augment, or give a file of every crop-and-flip view.*");
        OneErrorLine(runs[3].Error, $"error: --teacher-logits {Path.Combine(temp.Path, "l.safetensors")} cannot be used: *");
    }

    [Fact]
    public async Task Precomputed_logits_distill_without_a_teacher_and_a_row_count_mismatch_names_both_counts()
    {
        var logits = Path.Combine(temp.Path, "logits.safetensors");
        var wrong = Path.Combine(temp.Path, "wrong.safetensors");
        using (var scope = NewDisposeScope())
        {
            manual_seed(1);
            Safetensors.Write(logits, [new("logits", randn(200, 10))]);
            Safetensors.Write(wrong, [new("logits", randn(150, 10))]);
        }

        var (exit, output, error) = await SampleProcess.RunAsync(Args("--teacher-logits", logits));
        var mismatch = await SampleProcess.RunAsync(Args("--teacher-logits", wrong));

        exit.Should().Be(0, error);
        output.Should().Contain("Teacher: precomputed logits from").And.NotContain("Training the teacher").And.Contain("Distilled student");

        // A file of every crop-and-flip view distils augmented batches (random logits: only the lookup is tested here).
        var views = Path.Combine(temp.Path, "views.safetensors");
        using (var scope = NewDisposeScope())
        {
            PrecomputedTeacher.WriteViews(views, randn(200, 162, 10), new AugmentationOptions(), 32, 32);
        }

        var augmented = await SampleProcess.RunAsync(Args("--teacher-logits", views, "--augment"));
        augmented.ExitCode.Should().Be(0, augmented.Error);
        augmented.Output.Should().Contain("Distilled student");
        mismatch.ExitCode.Should().Be(2);
        OneErrorLine(mismatch.Error, $"error: --teacher-logits {wrong} holds 150 rows, but the training set has 200 images*");
    }

    [Fact]
    public async Task An_ONNX_teacher_is_evaluated_through_ONNX_Runtime_and_distilled_from()
    {
        var model = Path.Combine(temp.Path, "teacher.onnx");
        manual_seed(3);
        using (var teacher = new TeacherNet())
        {
            OnnxExporter.Export(teacher, model);
        }

        var (exit, output, error) = await SampleProcess.RunAsync(Args("--teacher-onnx", model));

        exit.Should().Be(0, error);
        output.Should().Contain($"Teacher: {model}, run by ONNX Runtime.").And.Contain("Teacher test accuracy:").And.NotContain("Training the teacher").And.Contain("Distilled student");
    }
}
