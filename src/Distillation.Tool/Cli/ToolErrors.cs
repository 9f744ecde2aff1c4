using System.Globalization;
using System.Text;

namespace Distillation.Tool.Cli;

/// <summary>The exit codes of <c>distill</c>.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The run started and failed (a library error, a file that cannot be read or written).</summary>
    public const int Failed = 1;

    /// <summary>A value on the command line or in the run file cannot work; nothing was run.</summary>
    public const int Usage = 2;

    /// <summary>Stopped by Ctrl-C.</summary>
    public const int Interrupted = 130;
}

/// <summary>A command-line or run-file value that cannot work, found before any work (exit code 2).</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>Turns exception messages into one printable line.</summary>
internal static class ErrorText
{
    /// <summary>The longest line printed for one error.</summary>
    public const int MaxLength = 600;

    /// <summary>The message on one line: line breaks become spaces, control characters <c>?</c>; cut at <see cref="MaxLength"/>.</summary>
    public static string OneLine(string message)
    {
        var line = new StringBuilder(Math.Min(message.Length, MaxLength + 1));
        foreach (var rune in message.EnumerateRunes())
        {
            if (line.Length >= MaxLength)
            {
                return line.Append('…').ToString();
            }

            if (rune.Value is '\n' or '\r' or '\t')
            {
                if (line.Length > 0 && line[^1] != ' ')
                {
                    line.Append(' ');
                }

                continue;
            }

            var category = Rune.GetUnicodeCategory(rune);
            line.Append(Rune.IsControl(rune) || category is UnicodeCategory.Format or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned or UnicodeCategory.Surrogate
                ? "?" : rune.ToString());
        }

        return line.ToString().TrimEnd();
    }
}
