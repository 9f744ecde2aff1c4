using System.CommandLine;
using System.Globalization;

namespace Distillation.Tool.Cli;

/// <summary>
/// One option of a command, with its config key (the flag without its dashes): the same value can
/// come from the command line, a run file (<c>--config</c>) or the default, in that order of precedence.
/// </summary>
internal abstract class ToolOption
{
    protected ToolOption(string name, string description, bool isPath)
    {
        Name = name;
        Description = description;
        IsPath = isPath;
    }

    /// <summary>The flag, e.g. <c>--epochs</c>.</summary>
    public string Name { get; }

    /// <summary>The key in a run file, e.g. <c>epochs</c>.</summary>
    public string Key => Name[2..];

    public string Description { get; }

    /// <summary>A file or folder: written as a full path to the effective config, so it reproduces from any folder.</summary>
    public bool IsPath { get; }

    public abstract Option Option { get; }

    public abstract Type ValueType { get; }

    /// <summary>The value when neither the command line nor the run file gives one.</summary>
    public abstract object? DefaultValue { get; }

    /// <summary>Whether the command line gave this option.</summary>
    public bool Given(ParseResult parse) => parse.GetResult(Option) is { Implicit: false };

    public abstract object? ValueFrom(ParseResult parse);

    /// <summary>A run file's scalar as this option's value.</summary>
    /// <exception cref="FormatException">The text is not a value of this option's type.</exception>
    public abstract object? ParseText(string text);

    /// <summary>The value as a run file's scalar, or null when there is none to write.</summary>
    public string? FormatValue(object? value) => value switch
    {
        null => null,
        string text => IsPath ? Path.GetFullPath(text) : text,
        bool flag => flag ? "true" : "false",
        double number => number.ToString("R", CultureInfo.InvariantCulture),
        IFormattable number => number.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };
}

/// <summary>An option whose values are of type <typeparamref name="T"/>.</summary>
internal sealed class ToolOption<T> : ToolOption
{
    private readonly Option<T> option;
    private readonly T defaultValue;

    public ToolOption(string name, string description, T defaultValue, bool isPath = false)
        : base(name, description, isPath)
    {
        this.defaultValue = defaultValue;
        option = new Option<T>(name) { Description = description };
        if (defaultValue is not null && !(defaultValue is bool b && !b))
        {
            option.DefaultValueFactory = _ => defaultValue;
        }
    }

    public override Option Option => option;

    public Option<T> Typed => option;

    public override Type ValueType => typeof(T);

    public override object? DefaultValue => defaultValue;

    public override object? ValueFrom(ParseResult parse) => parse.GetValue(option);

    public override object? ParseText(string text)
    {
        var type = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        var invariant = CultureInfo.InvariantCulture;
        if (type == typeof(string))
        {
            return text;
        }

        if (type == typeof(bool))
        {
            return bool.TryParse(text, out var flag) ? flag : throw new FormatException($"'{text}' is not true or false");
        }

        if (type == typeof(int))
        {
            return int.TryParse(text, NumberStyles.Integer, invariant, out var whole) ? whole : throw new FormatException($"'{text}' is not a whole number");
        }

        if (type == typeof(long))
        {
            return long.TryParse(text, NumberStyles.Integer, invariant, out var whole) ? whole : throw new FormatException($"'{text}' is not a whole number");
        }

        if (type == typeof(double))
        {
            return double.TryParse(text, NumberStyles.Float, invariant, out var number) ? number : throw new FormatException($"'{text}' is not a number");
        }

        throw new InvalidOperationException($"Options of type {type.Name} have no run-file form.");
    }
}
