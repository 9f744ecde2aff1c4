using System.Globalization;
using System.Text;

namespace Distillation.ConsoleOutput;

/// <summary>Turns exception messages into one printable line: what reaches the terminal never moves the cursor, rings or floods it.</summary>
internal static class ErrorText
{
    /// <summary>The longest line printed for one error.</summary>
    public const int MaxLength = 600;

    /// <summary>
    /// <paramref name="message"/> on one line: line breaks become spaces, other control and
    /// unprintable characters become <c>?</c>, and it is cut at <see cref="MaxLength"/> characters.
    /// </summary>
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
            line.Append(Rune.IsControl(rune) || rune == Rune.ReplacementChar
                || category is UnicodeCategory.Format or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned or UnicodeCategory.Surrogate
                ? "?" : rune.ToString());
        }

        return line.ToString().TrimEnd();
    }
}
