using System.Text;

namespace Distillation.IO;

/// <summary>
/// Makes text read from a file safe to put in a message: control characters (which could move the
/// cursor or change colours on a terminal) and other unprintable characters become <c>?</c>, and
/// long text is cut, so a damaged or hostile file never fills or garbles the terminal.
/// </summary>
internal static class PrintableText
{
    /// <summary>The text with unprintable characters replaced and cut to <paramref name="maxLength"/> characters (with an ellipsis).</summary>
    public static string Of(string? text, int maxLength = 80)
    {
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }

        var printable = new StringBuilder(Math.Min(text.Length, maxLength + 1));
        foreach (var rune in text.EnumerateRunes())
        {
            if (printable.Length >= maxLength)
            {
                return printable.Append('…').ToString();
            }

            var category = Rune.GetUnicodeCategory(rune);
            var unprintable = Rune.IsControl(rune) || rune == Rune.ReplacementChar
                || category is System.Globalization.UnicodeCategory.Format or System.Globalization.UnicodeCategory.PrivateUse
                    or System.Globalization.UnicodeCategory.OtherNotAssigned or System.Globalization.UnicodeCategory.Surrogate;
            if (unprintable)
            {
                printable.Append('?');
            }
            else
            {
                printable.Append(rune.ToString());
            }
        }

        return printable.ToString();
    }
}
