using System.Globalization;
using System.Text;
using Distillation.Tool.Cli;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Distillation.Tool.Config;

/// <summary>
/// A run file: a YAML mapping from option keys (the flags without their dashes) to values, e.g.
/// <c>epochs: 40</c>. Reading refuses an unknown key with its line and the nearest valid key;
/// writing gives the effective config of a run, which read back reproduces it.
/// </summary>
internal static class RunFile
{
    /// <summary>The file name of the effective config written beside a run's outputs.</summary>
    public const string EffectiveConfigName = "config.yaml";

    /// <summary>Reads the values of a run file.</summary>
    /// <exception cref="UsageException">The file is missing, is not YAML, is not a mapping of scalars, or holds an unknown key or a value of the wrong type; the message names the file and line.</exception>
    public static IReadOnlyDictionary<string, (object? Value, int Line)> Read(string path, IReadOnlyList<ToolOption> options)
    {
        if (Directory.Exists(path))
        {
            throw new UsageException($"--config {path} is a folder; give the YAML run file (e.g. the config.yaml a run wrote).");
        }

        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--config {path} cannot be read: {e.Message}");
        }

        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"{path}, line {e.Start.Line}: not valid YAML: {e.Message}"));
        }

        var result = new Dictionary<string, (object?, int)>(StringComparer.Ordinal);
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return result;
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode mapping)
        {
            throw new UsageException($"{path}: a run file is a mapping of option keys to values (key: value per line).");
        }

        var byKey = options.ToDictionary(o => o.Key, StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            var line = (int)keyNode.Start.Line;
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            if (!byKey.TryGetValue(key, out var option))
            {
                throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                    $"{path}, line {line}: unknown key '{key}'; did you mean '{Nearest(key, options)}'?"));
            }

            if (valueNode is not YamlScalarNode scalar)
            {
                throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"{path}, line {line}: '{key}' takes one value, not a list or mapping."));
            }

            // An empty or ~ value is "not given": the default (or the flag) applies.
            if (scalar.Style == ScalarStyle.Plain && scalar.Value is null or "" or "~" or "null")
            {
                continue;
            }

            try
            {
                result[key] = (option.ParseText(scalar.Value ?? ""), line);
            }
            catch (FormatException e)
            {
                throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"{path}, line {line}: '{key}': {e.Message}."));
            }
        }

        return result;
    }

    /// <summary>Writes the effective config of a run: every option with a value, one key per line, readable by <see cref="Read"/>.</summary>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Write(string path, string command, RunSettings settings)
    {
        var text = new StringBuilder();
        text.Append("# The effective config of a `distill ").Append(command).AppendLine("` run: every option, after the command line and any --config file.");
        text.Append("# Reproduce the run with: distill ").Append(command).AppendLine(" --config <this file>");
        foreach (var (option, value) in settings.All())
        {
            if (option.FormatValue(value) is { } formatted)
            {
                text.Append(option.Key).Append(": ").AppendLine(option.ValueType == typeof(string) ? Quote(formatted) : formatted);
            }
        }

        AtomicText.Write(path, text.ToString());
    }

    /// <summary>A YAML double-quoted scalar: reads back as exactly <paramref name="text"/>.</summary>
    private static string Quote(string text)
    {
        var quoted = new StringBuilder("\"");
        foreach (var c in text)
        {
            quoted.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when char.IsControl(c) => string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}"),
                _ => c.ToString(),
            });
        }

        return quoted.Append('"').ToString();
    }

    /// <summary>
    /// The option a misspelled or spelled-out key most likely means: the one whose description holds
    /// the key's words (<c>learning-rate</c> → <c>lr</c>, "Peak learning rate"), else the valid
    /// key with the fewest edits from it.
    /// </summary>
    internal static string Nearest(string key, IReadOnlyList<ToolOption> options)
    {
        var words = key.ToLowerInvariant().Split(['-', '_', ' ', '.'], StringSplitOptions.RemoveEmptyEntries);
        if (words.Length > 1)
        {
            // The words as a phrase first ("learning rate" is --lr's, "learning-rate schedule" is not), then each word anywhere.
            var phrase = string.Join(' ', words);
            if (options.Where(o => o.Description.Contains(phrase, StringComparison.OrdinalIgnoreCase)).ToList() is [var byPhrase])
            {
                return byPhrase.Key;
            }

            if (options.Where(o => words.All(w => o.Description.Contains(w, StringComparison.OrdinalIgnoreCase))).ToList() is [var byWords])
            {
                return byWords.Key;
            }
        }

        return Nearest(key, options.Select(o => o.Key));
    }

    /// <summary>The valid key with the fewest edits from <paramref name="key"/>.</summary>
    internal static string Nearest(string key, IEnumerable<string> keys) =>
        keys.OrderBy(k => Distance(key.ToLowerInvariant(), k)).ThenBy(k => k, StringComparer.Ordinal).First();

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j] + 1, current[j - 1] + 1));
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}

/// <summary>Writes a text file atomically: a temporary file beside it, then a rename over it.</summary>
internal static class AtomicText
{
    public static void Write(string path, string text)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temporary = full + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        try
        {
            File.WriteAllText(temporary, text, new UTF8Encoding(false));
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
