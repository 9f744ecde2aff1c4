using Distillation.Serialization;
using Distillation.Tests.TestSupport;
using Distillation.Training;

namespace Distillation.Cifar10.Tests;

/// <summary>
/// Issue 14: the built sample run as a user would, on small CIFAR-format files: interrupted by a
/// signal, given wrong files and folders, or a second run on the same output folder. Each ends in
/// one clear line and a documented exit code, never a stack trace, and keeps what was done.
/// </summary>
public sealed class SampleReliabilityTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private const int SIGINT = 2;
    private const int SIGTERM = 15;
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private string Output => Path.Combine(temp.Path, "run");

    /// <summary>
    /// Official-size CIFAR-format files written by the tests (<see cref="CifarFiles"/>) sliced to 200 training and 40 test images (an epoch of the teacher is
    /// about a second on one thread), with <paramref name="more"/> added or overriding (an option
    /// followed by a value replaces the default of that option).
    /// </summary>
    private string[] Args(params string[] more)
    {
        var options = new List<(string Name, string? Value)>
        {
            ("--data", CifarFiles.OfficialSizeRoot), ("--no-download", null), ("--output", Output),
            ("--train-limit", "200"), ("--test-limit", "40"), ("--batch-size", "20"), ("--threads", "1"), ("--no-speed", null), ("--no-charts", null),
        };
        for (var i = 0; i < more.Length; i++)
        {
            var value = i + 1 < more.Length && !more[i + 1].StartsWith("--", StringComparison.Ordinal) ? more[++i] : null;
            var name = more[value is null ? i : i - 1];
            var at = options.FindIndex(o => o.Name == name);
            if (at >= 0)
            {
                options[at] = (name, value);
            }
            else
            {
                options.Add((name, value));
            }
        }

        return options.SelectMany(o => o.Value is null ? new[] { o.Name } : [o.Name, o.Value]).ToArray();
    }

    private static void OneErrorLineWithoutStackTrace(string error, string expected)
    {
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        lines.Should().ContainSingle(l => l.StartsWith("error: ", StringComparison.Ordinal), error).Which.Should().Match(expected);
        error.Should().NotContain("   at ").And.NotContain("Unhandled exception");
    }

    [SkippableTheory]
    [InlineData(SIGINT, 130)]
    [InlineData(SIGTERM, 143)]
    public async Task A_signal_stops_between_batches_says_what_was_kept_and_how_to_resume(int signal, int exitCode)
    {
        if (signal == SIGINT)
        {
            SkipWhereSigintIsIgnored();
        }

        var args = Args("--epochs", "200");
        using var sample = SampleProcess.Start(args);
        await sample.WaitForOutputAsync("Epoch 1/200", TimeSpan.FromSeconds(120));

        sample.Signal(signal);
        await sample.WaitForExitAsync(TimeSpan.FromSeconds(60));

        sample.ExitCode.Should().Be(exitCode, sample.Error);
        sample.Error.Should().MatchRegex(@"Interrupted during the teacher's training: epoch (\d+) of 200 is kept in .*teacher-last\.checkpoint\.")
            .And.MatchRegex($@"Continue with: dotnet \S*distill-cifar10\.dll {System.Text.RegularExpressions.Regex.Escape(string.Join(" ", args))} --resume")
            .And.NotContain("   at ");
        var kept = int.Parse(System.Text.RegularExpressions.Regex.Match(sample.Error, @"epoch (\d+) of 200").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        kept.Should().BeGreaterThanOrEqualTo(1);

        // The checkpoint is whole (its checksum and header verify) and holds the epoch named.
        new CheckpointOptions { Directory = Path.Combine(Output, "checkpoints", "main") }.LastCheckpointedEpoch(TrainingPhase.Teacher).Should().Be(kept);
        File.Exists(Path.Combine(Output, OutputLock.FileName)).Should().BeFalse("the lock is released on exit");
        Directory.EnumerateFiles(Output, "*.tmp", SearchOption.AllDirectories).Should().BeEmpty();
    }

    [Theory]
    [InlineData("strong", "epoch (\\d+) of 50 is kept in .*teacher-last\\.checkpoint")]
    [InlineData("airbench", "it writes no checkpoint \\(a teacher trained with lookahead trains in one go\\), so it starts afresh")]
    public async Task An_interrupted_recipe_teacher_is_reported_with_its_own_epochs_or_as_not_checkpointed(string recipe, string kept)
    {
        // The teacher trains for --teacher-epochs, not the students' --epochs; airbench's lookahead teacher writes no checkpoint.
        var args = Args("--recipe", recipe, "--validation", "40", "--teacher-epochs", "50", "--epochs", "3", "--seeds", "1");
        using var sample = SampleProcess.Start(args);
        await sample.WaitForOutputAsync("Epoch 1/50", TimeSpan.FromSeconds(120));

        sample.Signal(SIGTERM);
        await sample.WaitForExitAsync(TimeSpan.FromSeconds(60));

        sample.ExitCode.Should().Be(143, sample.Error);
        sample.Error.Should().MatchRegex($"Interrupted during the teacher's training: {kept}\\.");
    }

    [SkippableFact]
    public async Task A_second_Ctrl_C_ends_the_process_at_once()
    {
        SkipWhereSigintIsIgnored();
        // One batch of 1,000 images: several seconds, so the second signal arrives mid-batch.
        using var sample = SampleProcess.Start(Args("--epochs", "200", "--train-limit", "1000", "--batch-size", "1000"));
        await sample.WaitForOutputAsync("Training the teacher", TimeSpan.FromSeconds(120));

        sample.Signal(SIGINT);
        await sample.WaitForErrorAsync("stopping after the current batch", TimeSpan.FromSeconds(10));
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        sample.Signal(SIGINT);
        await sample.WaitForExitAsync(TimeSpan.FromSeconds(10));

        output.WriteLine($"exited {stopwatch.Elapsed.TotalSeconds:F2} s after the second signal");
        sample.Error.Should().NotContain("Continue with", "the second signal does not wait for the batch to end");
        sample.ExitCode.Should().Be(130, "killed by SIGINT");
    }

    [Fact]
    public async Task A_second_run_on_the_same_output_folder_is_refused_naming_the_process()
    {
        using var first = SampleProcess.Start(Args("--epochs", "200"));
        await first.WaitForOutputAsync("Training the teacher", TimeSpan.FromSeconds(120));

        var (exit, _, error) = await SampleProcess.RunAsync(Args("--epochs", "1"));

        exit.Should().Be(3, error);
        OneErrorLineWithoutStackTrace(error, $"error: --output {Output} is in use by another run (process {first.Id},*");
        first.Signal(SIGTERM);
        await first.WaitForExitAsync(TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task A_stale_lock_of_a_process_that_is_gone_is_taken_over()
    {
        Directory.CreateDirectory(Output);
        // A process id above the kernel's limit (4,194,304) never runs.
        await File.WriteAllTextAsync(Path.Combine(Output, OutputLock.FileName), "99999999 2020-01-01T00:00:00.0000000Z\n");
        File.SetLastWriteTimeUtc(Path.Combine(Output, OutputLock.FileName), DateTime.UtcNow.AddMinutes(-5));

        var (exit, output, error) = await SampleProcess.RunAsync(Args("--epochs", "1"));

        exit.Should().Be(0, error);
        output.Should().Contain("Removed a stale lock of process 99999999");
        File.Exists(Path.Combine(Output, OutputLock.FileName)).Should().BeFalse();
    }

    [Fact]
    public async Task Resuming_with_other_settings_is_one_line_naming_the_checkpoint()
    {
        (await SampleProcess.RunAsync(Args("--epochs", "1"))).ExitCode.Should().Be(0);

        var (exit, _, error) = await SampleProcess.RunAsync(Args("--epochs", "2", "--resume"));

        exit.Should().Be(1);
        OneErrorLineWithoutStackTrace(error, "error: Checkpoint *teacher-last.checkpoint belongs to another run*leave out --resume to train afresh.");
    }

    [Fact]
    public async Task Resuming_a_finished_run_with_another_lr_is_refused_and_an_unchanged_resume_says_nothing_was_trained()
    {
        (await SampleProcess.RunAsync(Args("--epochs", "1"))).ExitCode.Should().Be(0);

        // Issue 29, case 45: this was exit 0 with every run "resumed after epoch 1", nothing trained at the new rate.
        var (exit, _, error) = await SampleProcess.RunAsync(Args("--epochs", "1", "--resume", "--lr", "0.01"));

        exit.Should().Be(1, error);
        OneErrorLineWithoutStackTrace(error, "error: Checkpoint *teacher-last.checkpoint belongs to another run: LearningRate = 0.001 in the checkpoint, LearningRate = 0.01 in this run.*leave out --resume to train afresh.");

        var (same, output, sameError) = await SampleProcess.RunAsync(Args("--epochs", "1", "--resume"));

        same.Should().Be(0, sameError);
        output.Should().Contain("Teacher test accuracy").And.Contain("already complete after 1 epochs in its checkpoint: nothing was trained");
        output.Should().NotContain("resumed after epoch");
    }

    [Fact]
    public async Task Missing_CIFAR10_with_no_download_names_the_samples_flag_not_a_library_class()
    {
        var (exit, _, error) = await SampleProcess.RunAsync(Args("--epochs", "1", "--data", Path.Combine(temp.Path, "no-data")));

        exit.Should().Be(1, error);
        OneErrorLineWithoutStackTrace(error, "error: CIFAR-10 was not found: *--no-download forbids fetching it. Leave out --no-download to download it*--data*");
        error.Should().NotContain("Cifar10Downloader");
    }

    [Fact]
    public async Task A_signal_while_a_loaded_teacher_is_evaluated_stops_within_two_seconds_and_releases_the_lock()
    {
        var weights = Path.Combine(temp.Path, "teacher.weights");
        using (var teacher = new Distillation.Models.TeacherNet())
        {
            teacher.SaveWeights(weights);
        }

        // The whole test set on one thread: the teacher's evaluation takes several seconds.
        using var sample = SampleProcess.Start(Args("--epochs", "1", "--teacher", weights, "--test-limit", "10000", "--batch-size", "64"));
        await sample.WaitForOutputAsync("Teacher loaded from", TimeSpan.FromSeconds(120));
        await Task.Delay(300);
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        sample.Signal(SIGTERM);
        await sample.WaitForExitAsync(TimeSpan.FromSeconds(30));
        var seconds = stopwatch.Elapsed.TotalSeconds;
        output.WriteLine($"exited {seconds:F2} s after SIGTERM");

        sample.ExitCode.Should().Be(143, sample.Error);
        sample.Output.Should().NotContain("Teacher test accuracy", "the evaluation was stopped, not finished");
        sample.Error.Should().Contain($"Interrupted while evaluating the teacher loaded from {weights}, before any training: nothing to keep.").And.NotContain("   at ");
        seconds.Should().BeLessThan(2.5, "the evaluation stops at its next batch");
        File.Exists(Path.Combine(Output, OutputLock.FileName)).Should().BeFalse("the lock is released on exit");
    }

    [Fact]
    public async Task A_flipped_bit_in_a_checkpoint_is_refused_and_the_teacher_weights_are_not_overwritten()
    {
        (await SampleProcess.RunAsync(Args("--epochs", "1"))).ExitCode.Should().Be(0);
        var checkpoint = Path.Combine(Output, "checkpoints", "main", "teacher-last.checkpoint");
        var weights = Path.Combine(Output, "teacher.weights");
        var bytes = await File.ReadAllBytesAsync(checkpoint);
        bytes[bytes.Length / 2] ^= 0x08;
        await File.WriteAllBytesAsync(checkpoint, bytes);
        var weightsBefore = await File.ReadAllBytesAsync(weights);

        var (exit, _, error) = await SampleProcess.RunAsync(Args("--epochs", "1", "--resume"));

        exit.Should().Be(1);
        OneErrorLineWithoutStackTrace(error, $"error: Checkpoint {checkpoint} is damaged: *checksum*");
        (await File.ReadAllBytesAsync(weights)).Should().Equal(weightsBefore);
    }

    [Fact]
    public async Task A_checkpoint_given_as_teacher_says_so_and_points_to_resume()
    {
        (await SampleProcess.RunAsync(Args("--epochs", "1"))).ExitCode.Should().Be(0);
        var checkpoint = Path.Combine(Output, "checkpoints", "main", "teacher-last.checkpoint");

        var (exit, _, error) = await SampleProcess.RunAsync(Args("--epochs", "1", "--teacher", checkpoint, "--output", Path.Combine(temp.Path, "other")));

        exit.Should().Be(2);
        OneErrorLineWithoutStackTrace(error, $"error: --teacher {checkpoint} is a training checkpoint, not a weights file*--resume*");
    }

    [Fact]
    public async Task A_teacher_file_of_binary_garbage_is_named_without_echoing_it()
    {
        var garbage = Path.Combine(temp.Path, "garbage.weights");
        var bytes = new byte[4096];
        new Random(5).NextBytes(bytes);
        bytes[0] = 1; // one entry, whose name is raw bytes (escape sequences included)
        bytes[1] = 200;
        bytes[2] = 1;
        "\u001b[2J\u001b]0;x\u0007"u8.CopyTo(bytes.AsSpan(3));
        await File.WriteAllBytesAsync(garbage, bytes);

        var (exit, _, error) = await SampleProcess.RunAsync(Args("--epochs", "1", "--teacher", garbage));

        exit.Should().Be(1);
        OneErrorLineWithoutStackTrace(error, $"error: Weights file {garbage}*");
        error.Should().NotContainAny("\u001b", "\u0007");
        error.Length.Should().BeLessThan(ErrorText.MaxLength + 100);
    }

    [Theory]
    [InlineData("output")]
    [InlineData("data")]
    public async Task An_output_or_data_path_that_is_a_file_is_refused_before_anything_runs(string which)
    {
        var file = Path.Combine(temp.Path, "a-file");
        await File.WriteAllTextAsync(file, "x");
        var args = Args("--epochs", "1", $"--{which}", file);

        var (exit, _, error) = await SampleProcess.RunAsync(args);

        exit.Should().Be(2);
        OneErrorLineWithoutStackTrace(error, $"error: --{which} {file} is a file; give *");
    }

    [Fact]
    public async Task An_output_folder_that_cannot_be_created_fails_before_training()
    {
        // A folder under a file cannot be created by anyone, root included (CI runs as root, which writes through permissions).
        var blocker = Path.Combine(temp.Path, "blocker");
        await File.WriteAllTextAsync(blocker, "x");

        var (exit, output, error) = await SampleProcess.RunAsync(Args("--epochs", "1", "--output", Path.Combine(blocker, "run")));

        exit.Should().Be(1);
        OneErrorLineWithoutStackTrace(error, $"error: *{blocker}*");
        output.Should().NotContain("Training the teacher", "the folder is taken (and so proved writable) before any training");
    }

    [Fact]
    public async Task A_validation_set_as_large_as_the_data_is_reported_in_the_samples_terms()
    {
        var (exit, output, error) = await SampleProcess.RunAsync(Args("--epochs", "1", "--validation", "100000"));

        exit.Should().Be(2);
        OneErrorLineWithoutStackTrace(error, "error: --validation 100,000 leaves nothing to train on: it must be smaller than the 200 training images (--train-limit 200).*");
        output.Should().NotContain("Training the teacher");
    }

    [Fact]
    public async Task Both_loss_weights_zero_is_refused_as_nothing_to_optimize()
    {
        var (exit, _, error) = await SampleProcess.RunAsync(Args("--hard-weight", "0", "--soft-weight", "0"));

        exit.Should().Be(2);
        OneErrorLineWithoutStackTrace(error, "error: --hard-weight and --soft-weight are both 0*nothing to optimize*");
    }

    /// <summary>Issue 29: numbers at the edge of their type reach the user as the library's one-line range error, in the flag's name, with exit 2 and nothing written.</summary>
    [Theory]
    [InlineData("--lr", "1e39", "--lr must be a finite number > 0 and ≤ 3.4028234663852886E+38, was 1E+39.")]
    [InlineData("--lr", "1e-320", "--lr must be 0 or at least 1.1754943508222875E-38 (float32's smallest normal number*was 1E-320.")]
    [InlineData("--weight-decay", "1e300", "--weight-decay must be a finite number ≥ 0 and ≤ 3.4028234663852886E+38, was 1E+300.")]
    [InlineData("--temperature", "1e300", "--temperature must be a finite number ≥ 0.0001 and ≤ 10000, was 1E+300.")]
    [InlineData("--temperature", "4.9e-324", "--temperature must be a finite number ≥ 0.0001 and ≤ 10000, was 5E-324.")]
    [InlineData("--hard-weight", "1e30", "--hard-weight must be a finite number ≥ 0 and ≤ 1000000, was 1E+30.")]
    [InlineData("--soft-weight", "1e30", "--soft-weight must be a finite number ≥ 0 and ≤ 1000000, was 1E+30.")]
    [InlineData("--method", "kd:1e30", "--method weight of kd must be a finite number ≥ 0 and ≤ 1000000, was 1E+30.")]
    [InlineData("--threads", "100000", "--threads must be from 1 to * cores of this machine: more threads than cores contend*was 100000.")]
    [InlineData("--warmup", "1", "--warmup must be smaller than the 1 epochs of the run*was 1.")]
    public async Task A_number_beyond_what_the_library_can_run_is_a_usage_error_in_one_line_naming_the_flag(string flag, string value, string expected)
    {
        var (exit, output, error) = await SampleProcess.RunAsync(Args("--epochs", "1", flag, value));

        exit.Should().Be(2, error);
        OneErrorLineWithoutStackTrace(error, $"error: {expected}*");
        output.Should().NotContain("Training the teacher");
        Directory.Exists(Output).Should().BeFalse("the numbers are checked before the output folder is taken");
    }

    [Fact]
    public void The_resume_command_quotes_what_a_shell_would_split()
    {
        SampleRunner.ResumeCommand(["--data", "/my data", "--method", "kd:1,cosine:0.25", "--output", "it's"], "distill")
            .Should().Be("distill --data '/my data' --method kd:1,cosine:0.25 --output 'it'\\''s' --resume");
        SampleRunner.ResumeCommand(["--resume", "--epochs", "3"], "distill").Should().Be("distill --resume --epochs 3");

        // By default the command runs this very program: dotnet and its .dll's full path, never a bare name no PATH holds.
        var program = Environment.GetCommandLineArgs()[0];
        SampleRunner.ResumeCommand(["--epochs", "3"]).Should().StartWith("dotnet ").And.Contain(Path.GetFileName(program)).And.EndWith(" --epochs 3 --resume");
    }

    [Fact]
    public void Error_lines_carry_no_control_characters_and_are_cut()
    {
        var line = ErrorText.OneLine("bad \u001b[31mred\u001b[0m\r\nnext\u0007" + new string('x', 5000));

        line.Should().NotContainAny("\u001b", "\u0007", "\n", "\r").And.StartWith("bad ?[31mred?[0m next?");
        line.Length.Should().Be(ErrorText.MaxLength + 1);
    }

    /// <summary>
    /// A process started in the background by a non-interactive shell ignores SIGINT, its children
    /// inherit that, and .NET keeps it ignored: no Ctrl-C can reach the sample then, so the test
    /// would prove nothing. Reported as skipped, not passed.
    /// </summary>
    private static void SkipWhereSigintIsIgnored()
    {
        var ignored = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        var mask = ignored is null ? 0UL : ulong.Parse(ignored["SigIgn:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
        Skip.If((mask & (1UL << (SIGINT - 1))) != 0, "SIGINT is ignored in this process (started in the background by a non-interactive shell), and so in the sample it starts.");
    }
}
