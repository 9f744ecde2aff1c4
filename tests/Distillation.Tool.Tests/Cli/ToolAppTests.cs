using Distillation.Tool.Cli;

namespace Distillation.Tool.Tests.Cli;

public sealed class ToolAppTests : IDisposable
{
    private readonly ToolSandbox sandbox = new();

    public void Dispose() => sandbox.Dispose();

    [Theory]
    [InlineData("teacher")]
    [InlineData("student")]
    [InlineData("eval")]
    [InlineData("export")]
    [InlineData("logits")]
    [InlineData("logits", "merge")]
    public async Task Every_command_has_help_with_an_example(params string[] command)
    {
        var run = await ToolSandbox.RunAsync([.. command, "--help"]);
        run.ExitCode.Should().Be(0, run.ToString());
        run.Output.Should().Contain("Example:").And.Contain($"distill {string.Join(" ", command)} ").And.Contain("--config");
    }

    [Fact]
    public async Task A_malformed_flag_is_bad_input_in_one_line()
    {
        var run = await ToolSandbox.RunAsync("teacher", "--epochs", "many");
        run.ExitCode.Should().Be(ExitCodes.Usage);
        run.Error.Trim().Split('\n').Should().ContainSingle().Which.Should().StartWith("error: ").And.Contain("many");
    }

    [Fact]
    public async Task Values_that_cannot_work_are_refused_before_any_work_naming_the_flag()
    {
        var images = sandbox.WriteImageFolder();
        var fake = sandbox.PathOf("fake.onnx");
        File.WriteAllText(fake, "not read: the checks come first");
        var plainLogits = sandbox.PathOf("plain.safetensors");
        using (var rows = TorchSharp.torch.zeros(12, 3))
        {
            Distillation.Serialization.Safetensors.Write(plainLogits, [new("logits", rows)]);
        }

        var cases = new (string[] Args, string Message)[]
        {
            (["teacher", "--images", images, "--epochs", "0"], "--epochs must be ≥ 1, was 0."),
            (["teacher"], "Give the data: --cifar10 <folder>"),
            (["teacher", "--images", images, "--epochs", "2", "--warmup", "2"], "--warmup must be smaller than the 2 epochs"),
            (["teacher", "--images", images, "--model", "resnet9000"], "--model resnet9000:"),
            (["teacher", "--images", images, "--image-size", "64"], "the notebook's networks take 32×32 images only"),
            (["student", "--images", images], "Give the teacher"),
            (["student", "--images", images, "--teacher-onnx", sandbox.PathOf("none.onnx")], $"--teacher-onnx {sandbox.PathOf("none.onnx")} does not exist."),
            (["student", "--images", images, "--teacher-weights", images], "is a folder"),
            (["student", "--images", images, "--loss", "kd,magic"], "unknown loss 'magic'"),
            (["student", "--images", images, "--teacher-onnx", fake, "--soft-ramp", "1.5"], "--soft-ramp must be a fraction from 0 to 1, was 1.5."),
            (["student", "--images", images, "--teacher-onnx", fake, "--loss", "kd,hint"], "gives the teacher's logits only; --loss kd,hint reads its features"),
            (["student", "--images", images, "--teacher-logits", plainLogits, "--augment"], "holds logits of the un-augmented training images; leave out --augment, or compute the logits of every view (distill logits --views)."),
            (["student", "--images", images, "--teacher-logits", fake], $"--teacher-logits {fake} cannot be used: "),
            (["student", "--images", images, "--teacher-onnx", fake, "--teacher-precision", "half"], "--teacher-precision must be one of auto, fp32, float32, bf16, bfloat16, was 'half'."),
            (["student", "--images", images, "--teacher-onnx", fake, "--teacher-precision", "bf16"], "--teacher-precision sets the number format of a model run here (--teacher-weights); --teacher-onnx gives a model ONNX Runtime runs in its own format."),
            (["student", "--images", images, "--teacher-onnx", fake, "--view-cache", sandbox.PathOf("views")], "--view-cache keeps the teacher's logits of augmented views: add --augment."),
            (["student", "--images", images, "--teacher-onnx", fake, "--augment", "--view-cache", sandbox.PathOf("views")], "--view-cache keys its file by the images held in memory, and --images is streamed from disk"),
            (["student", "--images", images, "--teacher-logits", plainLogits, "--augment", "--view-cache", sandbox.PathOf("views")], "--view-cache keeps a live teacher's views, and --teacher-logits runs no teacher; use one."),
            (["logits", "--images", images, "--teacher-onnx", fake, "--views", "--image-size", "64"], "--views needs images below 64 px: from there on --augment draws random-resized crops"),
            (["student", "--images", images, "--teacher-onnx", fake, "--teacher-logits", fake], "--teacher-onnx and --teacher-logits each give the teacher"),
            (["student", "--images", images, "--teacher-onnx", fake, "--mixup", "0.2"], "--mixup mixes augmented batches: add --augment."),
            (["student", "--images", images, "--teacher-onnx", fake, "--augment", "--cutmix", "1000"], "--cutmix must be a finite number ≥ 0 and ≤ 100, was 1000"),
            (["student", "--images", images, "--teacher-logits", fake, "--fidelity"], "compares with the teacher on the test images; leave out --fidelity"),
            (["teacher", "--images", images, "--precision", "bf16"], "--precision must be one of fp32, float32, bf16-mixed, auto, fp16-mixed, was 'bf16'."),
            (["eval", "--images", images], "Give the model"),
            (["logits", "--images", images, "--shard", "3/3"], "shard 3 does not exist"),
            (["logits", "--images", images, "--teacher-onnx", fake, "--shard", "0/3", "--output", images + "/shards"], "is inside the image folder"),

            // Hostile inputs of the tool (docs/reliability-round3.md, T16, T17, T31-T33): each was found only after the config was written, or after training.
            (["teacher", "--images", images, "--model", "resnet20", "--image-size", "100000"], "--image-size must be from 1 to 8192, was 100000."),
            (["student", "--images", images, "--teacher-onnx", fake, "--temperature", "1e300"], "--temperature must be a finite number ≥ 0.0001 and ≤ 10000, was 1E+300."),
            (["teacher", "--images", images, "--export", images], $"--export {images} is a folder; give the file to write."),
            (["teacher", "--images", images, "--output", fake + "/run"], $"--output {fake}/run cannot be written: {fake} is a file, not a folder."),
            (["eval", "--images", images, "--onnx", fake, "--report", fake + "/report.json"], $"--report {fake}/report.json cannot be written: {fake} is a file, not a folder."),
        };
        foreach (var (args, message) in cases)
        {
            var run = await ToolSandbox.RunAsync(args);
            run.ExitCode.Should().Be(ExitCodes.Usage, string.Join(" ", args) + "\n" + run);
            run.Error.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain(message);
            Directory.Exists(Path.Combine(Directory.GetCurrentDirectory(), "runs")).Should().BeFalse("nothing is written before the checks");
        }
    }

    [Fact]
    public async Task A_cancelled_training_exits_130_with_the_command_that_resumes_it()
    {
        var images = sandbox.WriteImageFolder();
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await ToolApp.RunAsync(["teacher", "--images", images, "--epochs", "1", "--output", sandbox.PathOf("run")], output, error, cancellation.Token);
        code.Should().Be(ExitCodes.Interrupted, error.ToString());
        error.ToString().Should().Contain("Continue with: distill teacher --images").And.Contain("--resume");
    }

    [Fact]
    public async Task Ctrl_C_in_training_keeps_the_last_epoch_and_resume_finishes_the_run()
    {
        var images = sandbox.WriteImageFolder();
        string[] args = ["teacher", "--images", images, "--epochs", "3", "--batch-size", "4", "--output", sandbox.PathOf("run")];
        using var cancellation = new CancellationTokenSource();

        // "Ctrl-C" as soon as the first epoch's line is printed: the run stops within the second epoch.
        using var output = new CancelOnLine("Epoch 1/3", cancellation);
        using var error = new StringWriter();
        var code = await ToolApp.RunAsync(args, output, error, cancellation.Token);
        code.Should().Be(ExitCodes.Interrupted, error.ToString());
        error.ToString().Should().Contain("Epoch 1 of 3 is kept in").And.Contain($"Continue with: distill {string.Join(" ", args)} --resume");
        File.Exists(sandbox.PathOf("run/teacher.weights")).Should().BeFalse();

        var resumed = await ToolSandbox.RunAsync([.. args, "--resume"]);
        resumed.ExitCode.Should().Be(0, resumed.ToString());
        resumed.Output.Should().NotContain("Epoch 1/3").And.Contain("Epoch 2/3").And.Contain("Epoch 3/3");
        File.Exists(sandbox.PathOf("run/teacher.weights")).Should().BeTrue();
    }

    [Theory]
    [InlineData("Epoch 2/2", "evaluating", "results.json was not written")]
    [InlineData("Weights: ", "exporting", "results.json and the ONNX file were not written")]
    public async Task Ctrl_C_in_the_final_evaluation_or_export_writes_no_partial_output_and_resume_only_finishes_it(string marker, string step, string notWritten)
    {
        var images = sandbox.WriteImageFolder();
        string[] args = ["teacher", "--images", images, "--epochs", "2", "--batch-size", "4", "--output", sandbox.PathOf("run"), "--export", sandbox.PathOf("run/teacher.onnx")];
        using var cancellation = new CancellationTokenSource();

        // The last epoch's line is printed once the training is checkpointed, just before the evaluation;
        // the "Weights:" line just before the export.
        using var output = new CancelOnLine(marker, cancellation);
        using var error = new StringWriter();
        var code = await ToolApp.RunAsync(args, output, error, cancellation.Token);

        code.Should().Be(ExitCodes.Interrupted, error.ToString());
        error.ToString().Should().Contain($"Interrupted while {step} the trained model: its training is finished and kept (weights in {sandbox.PathOf("run/teacher.weights")}")
            .And.Contain(notWritten).And.Contain("Continue with: distill teacher");
        File.Exists(sandbox.PathOf("run/results.json")).Should().BeFalse();
        File.Exists(sandbox.PathOf("run/teacher.onnx")).Should().BeFalse("the export stops at its next module and writes nothing");
        Directory.EnumerateFiles(sandbox.PathOf("run"), "*.tmp", SearchOption.AllDirectories).Should().BeEmpty();

        var resumed = await ToolSandbox.RunAsync([.. args, "--resume"]);
        resumed.ExitCode.Should().Be(0, resumed.ToString());
        resumed.Output.Should().NotContain("Epoch 1/2").And.NotContain("Epoch 2/2");
        File.Exists(sandbox.PathOf("run/results.json")).Should().BeTrue();
        File.Exists(sandbox.PathOf("run/teacher.onnx")).Should().BeTrue();
    }

    [Fact]
    public async Task An_export_that_fails_after_training_still_writes_results_json_and_names_the_file()
    {
        var images = sandbox.WriteImageFolder();
        var export = sandbox.PathOf("run/teacher.onnx");
        string[] args = ["teacher", "--images", images, "--epochs", "1", "--batch-size", "4", "--output", sandbox.PathOf("run"), "--export", export];

        // The export's path turns into a folder while the model is evaluated (as a file that cannot be written would): the export fails at the end.
        using var output = new OnLine("Weights: ", () => Directory.CreateDirectory(export));
        using var error = new StringWriter();
        var code = await ToolApp.RunAsync(args, output, error);

        code.Should().Be(ExitCodes.Failed, error.ToString());
        error.ToString().Trim().Split('\n').Should().ContainSingle().Which.Should().StartWith($"error: {export} was not written");
        var results = File.ReadAllText(sandbox.PathOf("run/results.json"));
        results.Should().Contain("\"accuracy\"").And.Contain("\"onnx\": null", "the run's results are written although the export failed");
    }

    /// <summary>A writer that runs <paramref name="action"/> once a line containing <paramref name="marker"/> is written.</summary>
    private sealed class OnLine(string marker, Action action) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value?.Contains(marker, StringComparison.Ordinal) == true)
            {
                action();
            }
        }
    }

    /// <summary>A writer that cancels when a line containing <paramref name="marker"/> is written.</summary>
    private sealed class CancelOnLine(string marker, CancellationTokenSource cancellation) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value?.Contains(marker, StringComparison.Ordinal) == true)
            {
                cancellation.Cancel();
            }
        }
    }
}
