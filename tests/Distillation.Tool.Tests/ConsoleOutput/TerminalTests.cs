using Distillation.ConsoleOutput;
using Spectre.Console;

namespace Distillation.Tool.Tests.ConsoleOutput;

public sealed class TerminalTests
{
    [Fact]
    public void Errors_and_warnings_are_one_plain_line_when_redirected()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var terminal = Terminal.Plain(output, error);

        terminal.PrintError("bad \u001b[31mvalue\u001b[0m\r\nin [brackets]", " (see --help)");
        terminal.PrintWarning("chart not written: disk full");

        error.ToString().Should().Be("error: bad ?[31mvalue?[0m in [brackets] (see --help)\nwarning: chart not written: disk full\n");
        output.ToString().Should().BeEmpty();
    }

    [Fact]
    public void On_a_terminal_an_error_is_red_and_reads_the_same()
    {
        using var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.Yes, ColorSystem = ColorSystemSupport.Standard });
        var terminal = new Terminal(new OutputStream(TextWriter.Null, false), new OutputStream(writer, isTerminal: true, console));

        terminal.PrintError("--epochs must be ≥ 1, was 0.", " (see --help)");

        var text = writer.ToString();
        text.Should().StartWith("\u001b[");
        System.Text.RegularExpressions.Regex.Replace(text, "\u001b\\[[0-9;]*m", "").Should().Be("error: --epochs must be ≥ 1, was 0. (see --help)\n");
    }

    [Fact]
    public void A_wide_table_in_a_log_keeps_each_row_on_one_line_without_escape_codes()
    {
        using var writer = new StringWriter();
        var stream = new OutputStream(writer, isTerminal: false);
        var table = ResultTable.Create("Model", ">Parameters", ">Time to train", ">Last-epoch loss", ">Test accuracy", "Per seed (%)");
        table.AddTextRow("(a) KD from baseline [x]", "267,738", "2m 28s", "6.9593", "69.07 %", "69.07 69.12 68.95 69.30 69.01 68.88 69.40 69.11 69.02");

        stream.Write(table);

        var lines = writer.ToString().Split('\n');
        lines.Should().Contain(l => l.Contains("(a) KD from baseline [x]") && l.Contains("267,738") && l.Contains("69.40 69.11 69.02"), "the row is wider than 80 columns and is not wrapped");
        lines.Should().Contain(l => l.Contains("Model") && l.Contains("Last-epoch loss"));
        writer.ToString().Should().NotContain("\u001b").And.NotContain("\r");
    }
}
