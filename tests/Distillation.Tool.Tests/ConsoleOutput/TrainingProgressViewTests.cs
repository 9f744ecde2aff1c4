using Distillation.ConsoleOutput;
using Distillation.Diagnostics;
using Distillation.Training;
using Spectre.Console;

namespace Distillation.Tool.Tests.ConsoleOutput;

public sealed class TrainingProgressViewTests
{
    private static readonly ProcessMemory Memory = new(1355.2, 1400);

    /// <summary>The first distillation epoch of results/cifar10/notebook-seed-42/run.log: 50,000 images in 66.8 s.</summary>
    private static EpochReport NotebookEpoch(int epoch, double? accuracy) => new(
        TrainingPhase.Distillation, epoch, 10, 12.1616, new Dictionary<string, double> { ["ce"] = 0.7662, ["kd"] = 11.3954 }, accuracy, 50_000, TimeSpan.FromSeconds(66.8));

    [Fact]
    public void Redirected_output_is_one_plain_line_per_epoch_in_the_notebook_format()
    {
        using var writer = new StringWriter();
        var view = new TrainingProgressView(new OutputStream(writer, isTerminal: false), () => Memory) { BatchSize = 128 };

        var result = view.Track(() =>
        {
            for (var epoch = 1; epoch <= 2; epoch++)
            {
                for (var batch = 1; batch <= 3; batch++)
                {
                    view.Report(new BatchProgress(TrainingPhase.Distillation, epoch, 10, batch, 3, TimeSpan.FromSeconds(batch)));
                }

                view.Report(NotebookEpoch(epoch, epoch == 2 ? 0.6886 : null));
            }

            return 42;
        });

        result.Should().Be(42);
        writer.ToString().Should().Be(
            "  Epoch 1/10, Loss: 12.1616 (ce 0.7662, kd 11.3954), 749 images/s, 1m 06s, RSS 1,355 MiB\n" +
            "  Epoch 2/10, Loss: 12.1616 (ce 0.7662, kd 11.3954), 749 images/s, 1m 06s, test accuracy 68.86 %, RSS 1,355 MiB\n");
    }

    [Fact]
    public void The_epoch_line_names_the_evaluation_set_the_fidelity_and_leaves_out_what_was_not_measured()
    {
        var epoch = new EpochReport(TrainingPhase.StudentAlone, 3, 10, 1.0331, new Dictionary<string, double> { ["ce"] = 1.0331 }, 0.6262, 50_000, TimeSpan.FromSeconds(6.6))
        {
            Agreement = 0.81, TeacherKLDivergence = 0.4321, TeacherAccuracy = 0.721,
        };

        TrainingProgressView.EpochLine(epoch, "validation", null).Should().Be(
            "  Epoch 3/10, Loss: 1.0331, 7,576 images/s, 6.6s, validation accuracy 62.62 %, agreement 81.00 %, KL 0.4321 (teacher 72.10 %)");
    }

    [Theory]
    [InlineData(6.54, "6.5s")]
    [InlineData(66.8, "1m 06s")]
    [InlineData(7390, "2h 03m 10s")]
    public void Durations_read_as_people_write_them(double seconds, string expected) =>
        TrainingProgressView.Duration(TimeSpan.FromSeconds(seconds)).Should().Be(expected);

    [Fact]
    public void Without_a_stream_nothing_is_printed_and_the_run_still_runs()
    {
        var view = new TrainingProgressView(null);
        var ran = view.Track(() =>
        {
            view.Report(new BatchProgress(TrainingPhase.Teacher, 1, 1, 1, 1, TimeSpan.FromSeconds(1)));
            view.Report(NotebookEpoch(1, 0.5));
            return true;
        });

        ran.Should().BeTrue();
        view.ShowsBars.Should().BeFalse();
    }

    [Fact]
    public void On_a_terminal_a_bar_per_epoch_is_drawn_and_the_epoch_lines_are_kept()
    {
        using var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.Standard,
            Interactive = InteractionSupport.Yes,
        });
        console.Profile.Width = 120;
        var view = new TrainingProgressView(new OutputStream(writer, isTerminal: true, console), () => null) { BatchSize = 100 };

        view.Track(() =>
        {
            for (var batch = 1; batch <= 4; batch++)
            {
                view.Report(new BatchProgress(TrainingPhase.Distillation, 1, 2, batch, 4, TimeSpan.FromSeconds(batch)));
                Thread.Sleep(150); // the display refreshes on its own clock (every 100 ms)
            }

            view.Report(NotebookEpoch(1, null));
            return 0;
        });

        var text = writer.ToString();
        text.Should().Contain("distillation, epoch 1/2").And.Contain("/4, 100 images/s").And.Contain("\u001b[", "a terminal gets the live display's escape codes");
        text.Should().Contain("  Epoch 1/10, Loss: 12.1616 (ce 0.7662, kd 11.3954), 749 images/s, 1m 06s");
    }
}
