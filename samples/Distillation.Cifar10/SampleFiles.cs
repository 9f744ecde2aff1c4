using System.Text;
using Distillation.IO;

namespace Distillation.Cifar10;

/// <summary>Writes a file: fills a temporary file through the stream it is given, then puts it in place (<see cref="AtomicFile.Write"/>).</summary>
/// <param name="path">The file.</param>
/// <param name="write">Writes the content.</param>
internal delegate void FileWriter(string path, Action<Stream> write);

/// <summary>Every file the sample writes goes through here, and so through <see cref="AtomicFile"/> (or a test's writer).</summary>
internal static class SampleFiles
{
    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Writes <paramref name="text"/> as UTF-8; throws when it cannot, leaving the previous file.</summary>
    public static void WriteText(string path, string text, FileWriter? writer = null) =>
        (writer ?? AtomicFile.Write)(path, stream => stream.Write(Utf8NoBom.GetBytes(text)));

    /// <summary>Writes <paramref name="text"/>; a failure is reported to <paramref name="warn"/> in one line and returns false.</summary>
    public static bool TryWriteText(string path, string text, Action<string> warn, FileWriter? writer = null)
    {
        try
        {
            WriteText(path, text, writer);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            warn($"{Path.GetFileName(path)} not written: {ErrorText.OneLine(e.Message)}");
            return false;
        }
    }

    /// <summary>
    /// Writes results.json, then the reports and the charts, into <paramref name="folder"/>, each
    /// atomically through <paramref name="writer"/>. A file that cannot be written (a full disk, a
    /// read-only folder) is one line to <paramref name="warn"/>; the others are still written.
    /// </summary>
    /// <returns>How many files could not be written.</returns>
    public static int WriteOutputs(string folder, SampleResults results, RunReports reports, bool charts, Action<string> info, Action<string> warn, FileWriter? writer = null)
    {
        var failures = 0;
        void Warn(string message)
        {
            failures++;
            warn(message);
        }

        var path = Path.Combine(folder, "results.json");
        try
        {
            results.WriteTo(path, writer);
            info($"\nResults written to {path}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Warn($"results.json not written: {e.Message}");
        }

        var written = reports.WriteFiles(folder, Warn, writer).Select(p => Path.GetFileName(p)!).ToArray();
        if (written.Length > 0)
        {
            var json = written.Count(f => f.EndsWith(".json", StringComparison.Ordinal));
            info($"Reports: report-*.json ({json} models), {string.Join(", ", written.Where(f => !f.EndsWith(".json", StringComparison.Ordinal)))}");
        }

        if (charts)
        {
            var drawn = Charts.WriteAll(folder, results, reports.Evaluations, Warn, writer);
            if (drawn.Count > 0)
            {
                info($"Charts: {string.Join(", ", drawn.Select(Path.GetFileName))}");
            }
        }

        return failures;
    }
}
