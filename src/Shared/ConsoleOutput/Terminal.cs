using Spectre.Console;
using Spectre.Console.Rendering;

namespace Distillation.ConsoleOutput;

/// <summary>
/// One of the process's output streams as the programs print to it. A line is written as it is,
/// byte for byte, when the stream is redirected (a file, a pipe, a CI log: no escape codes, no
/// carriage-return redraws, no wrapping); on a terminal the same line goes through Spectre.Console,
/// which adds colour and keeps a live progress display below the lines.
/// </summary>
internal sealed class OutputStream
{
    /// <summary>
    /// The width tables are laid out in when the stream is not a terminal: wide enough that no
    /// table of the programs wraps in a log (Spectre would otherwise assume 80 columns).
    /// </summary>
    public const int PlainWidth = 240;

    /// <summary>A stream that writes to <paramref name="writer"/>; <paramref name="isTerminal"/> says whether a person watches it live.</summary>
    public OutputStream(TextWriter writer, bool isTerminal)
        : this(writer, isTerminal, AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = isTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = isTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = isTerminal ? InteractionSupport.Detect : InteractionSupport.No,
        }))
    {
    }

    /// <summary>A stream rendered by <paramref name="console"/> (the tests give a terminal-like console writing to a StringWriter).</summary>
    internal OutputStream(TextWriter writer, bool isTerminal, IAnsiConsole console)
    {
        Writer = writer;
        IsTerminal = isTerminal;
        Console = console;
        if (!isTerminal)
        {
            Console.Profile.Width = PlainWidth;
        }
    }

    /// <summary>The underlying writer (standard output, standard error, or a test's StringWriter).</summary>
    public TextWriter Writer { get; }

    /// <summary>Whether the stream is an interactive terminal: colours and the live progress display are for it only.</summary>
    public bool IsTerminal { get; }

    /// <summary>Spectre.Console on this stream: tables and the progress display render through it.</summary>
    public IAnsiConsole Console { get; }

    /// <summary>Writes <paramref name="text"/> and a line break.</summary>
    public void Line(string text) => Line(text, null);

    /// <summary>Writes <paramref name="text"/> and a line break; on a terminal in <paramref name="style"/> when given.</summary>
    public void Line(string text, Style? style)
    {
        if (IsTerminal)
        {
            // Through Spectre, so that a live progress display stays below the line.
            Console.Write(new Text(text + "\n", style ?? Style.Plain));
        }
        else
        {
            Writer.WriteLine(text);
        }
    }

    /// <summary>An empty line.</summary>
    public void Line() => Line(string.Empty);

    /// <summary>
    /// A table or other renderable: on a terminal with rounded borders; in a log with a header rule
    /// only, each line without trailing blanks and without the border's blank first and last lines.
    /// </summary>
    public void Write(IRenderable renderable)
    {
        if (IsTerminal)
        {
            if (renderable is Table terminalTable)
            {
                terminalTable.Border = TableBorder.Rounded;
            }

            Console.Write(renderable);
            return;
        }

        if (renderable is Table table)
        {
            table.Border = TableBorder.Simple;
        }

        using var text = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
        var plain = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(text),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        plain.Profile.Width = PlainWidth;
        plain.Write(renderable);
        var lines = text.ToString().Split('\n').Select(line => line.TrimEnd()).ToList();
        var first = lines.FindIndex(line => line.Length > 0);
        var last = lines.FindLastIndex(line => line.Length > 0);
        for (var i = first; i >= 0 && i <= last; i++)
        {
            Writer.WriteLine(lines[i]);
        }
    }
}

/// <summary>Standard output and standard error, as the tool and the sample print to them; errors and warnings in one form.</summary>
internal sealed class Terminal(OutputStream output, OutputStream error)
{
    /// <summary>Standard output: results, tables and (unless a script reads it) progress.</summary>
    public OutputStream Out { get; } = output;

    /// <summary>Standard error: errors, warnings, interruption notes.</summary>
    public OutputStream Error { get; } = error;

    /// <summary>The process's own streams; each is a terminal unless redirected (or TERM is <c>dumb</c>).</summary>
    public static Terminal ForProcess()
    {
        var dumb = string.Equals(Environment.GetEnvironmentVariable("TERM"), "dumb", StringComparison.Ordinal);
        return new Terminal(
            new OutputStream(System.Console.Out, !System.Console.IsOutputRedirected && !dumb),
            new OutputStream(System.Console.Error, !System.Console.IsErrorRedirected && !dumb));
    }

    /// <summary>Streams that are never terminals (tests, scripts): every line exactly as written.</summary>
    public static Terminal Plain(TextWriter output, TextWriter error) => new(new OutputStream(output, false), new OutputStream(error, false));

    /// <summary>
    /// <c>error: </c>, <paramref name="message"/> on one line (<see cref="ErrorText.OneLine"/>) and
    /// <paramref name="suffix"/>, on standard error; red on a terminal, the same text either way.
    /// </summary>
    public void PrintError(string message, string suffix = "") =>
        Error.Line($"error: {ErrorText.OneLine(message)}{suffix}", new Style(Color.Red));

    /// <summary><c>warning: </c> and <paramref name="message"/> on one line, on standard error; yellow on a terminal.</summary>
    public void PrintWarning(string message) =>
        Error.Line($"warning: {ErrorText.OneLine(message)}", new Style(Color.Yellow));
}
