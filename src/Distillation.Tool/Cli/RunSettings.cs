using System.CommandLine;
using System.Globalization;
using Distillation.Tool.Config;

namespace Distillation.Tool.Cli;

/// <summary>
/// The values of one command's options after precedence: a flag on the command line, else the run
/// file's key, else the default. Remembers where each value came from, so an error names the flag
/// or the file and line the user wrote.
/// </summary>
internal sealed class RunSettings
{
    private readonly Dictionary<string, object?> values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> origins = new(StringComparer.Ordinal);

    private RunSettings(IReadOnlyList<ToolOption> options) => Options = options;

    /// <summary>Every option of the command, in the order of its help.</summary>
    public IReadOnlyList<ToolOption> Options { get; }

    /// <summary>Resolves every option of the command.</summary>
    /// <exception cref="UsageException">The run file cannot be read, or holds a key or value that cannot work.</exception>
    public static RunSettings Resolve(ParseResult parse, IReadOnlyList<ToolOption> options, string? configPath)
    {
        var file = configPath is null ? null : RunFile.Read(configPath, options);
        var settings = new RunSettings(options);
        foreach (var option in options)
        {
            if (option.Given(parse))
            {
                settings.values[option.Key] = option.ValueFrom(parse);
                settings.origins[option.Key] = option.Name;
            }
            else if (file is not null && file.TryGetValue(option.Key, out var entry))
            {
                settings.values[option.Key] = entry.Value;
                settings.origins[option.Key] = string.Create(CultureInfo.InvariantCulture, $"'{option.Key}' ({configPath}, line {entry.Line})");
            }
            else
            {
                settings.values[option.Key] = option.ValueFrom(parse) ?? option.DefaultValue;
                settings.origins[option.Key] = option.Name;
            }
        }

        return settings;
    }

    public T Get<T>(ToolOption<T> option) => (T)values[option.Key]!;

    public T? GetOrNull<T>(ToolOption<T?> option)
        where T : struct => values[option.Key] is T value ? value : null;

    public string? GetText(ToolOption<string?> option) => values[option.Key] as string;

    /// <summary>Whether the command takes <paramref name="option"/> (each command registers its own).</summary>
    public bool Has(ToolOption option) => values.ContainsKey(option.Key);

    /// <summary>How to name the option in an error: the flag, or the run file's key and line.</summary>
    public string Origin(ToolOption option) => origins[option.Key];

    /// <summary>Every value, by key, for the effective config.</summary>
    public IEnumerable<(ToolOption Option, object? Value)> All() => Options.Select(o => (o, values[o.Key]));
}
