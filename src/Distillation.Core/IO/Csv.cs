using System.Globalization;

namespace Distillation.IO;

/// <summary>Writes RFC 4180 CSV: CRLF line ends, fields quoted only when needed, numbers in the invariant culture.</summary>
internal static class Csv
{
    private static readonly char[] NeedsQuoting = [',', '"', '\r', '\n'];

    /// <summary>Writes one record; a null field is written empty.</summary>
    public static void WriteRow(TextWriter writer, params IEnumerable<string?> fields)
    {
        var first = true;
        foreach (var field in fields)
        {
            if (!first)
            {
                writer.Write(',');
            }

            writer.Write(Quote(field ?? string.Empty));
            first = false;
        }

        // RFC 4180 ends records with CRLF whatever the platform's newline.
        writer.Write("\r\n");
    }

    /// <summary>The field as RFC 4180 wants it: in double quotes, inner quotes doubled, when it holds a comma, quote or line break.</summary>
    public static string Quote(string field) =>
        field.IndexOfAny(NeedsQuoting) < 0 ? field : "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>A number in the shortest round-trip form; empty for NaN or infinity, which CSV readers do not agree on.</summary>
    public static string Number(double value) =>
        double.IsFinite(value) ? value.ToString("R", CultureInfo.InvariantCulture) : string.Empty;

    /// <summary>An optional number; empty when absent.</summary>
    public static string Number(double? value) => value is { } v ? Number(v) : string.Empty;

    /// <summary>An integer in the invariant culture.</summary>
    public static string Integer(long value) => value.ToString(CultureInfo.InvariantCulture);
}
