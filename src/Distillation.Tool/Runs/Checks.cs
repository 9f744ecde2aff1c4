using System.Globalization;
using Distillation.Tool.Cli;

namespace Distillation.Tool.Runs;

/// <summary>Range checks of resolved values, each naming the flag or the run file's key and line.</summary>
internal static class Checks
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static void Positive(RunSettings settings, ToolOption<int> option)
    {
        if (settings.Get(option) is var v && v < 1)
        {
            throw new UsageException($"{settings.Origin(option)} must be ≥ 1, was {v}.");
        }
    }

    public static void NonNegative(RunSettings settings, ToolOption<int> option)
    {
        if (settings.Get(option) is var v && v < 0)
        {
            throw new UsageException($"{settings.Origin(option)} must be ≥ 0, was {v}.");
        }
    }

    public static void PositiveOrNull(RunSettings settings, ToolOption<int?> option)
    {
        if (settings.GetOrNull(option) is { } v && v < 1)
        {
            throw new UsageException($"{settings.Origin(option)} must be ≥ 1, was {v}.");
        }
    }

    public static void Above(RunSettings settings, ToolOption<double> option, double bound)
    {
        if (settings.Get(option) is var v && !(double.IsFinite(v) && v > bound))
        {
            throw new UsageException(string.Create(Invariant, $"{settings.Origin(option)} must be a number > {bound}, was {v}."));
        }
    }

    public static void AtLeast(RunSettings settings, ToolOption<double> option, double bound)
    {
        if (settings.Get(option) is var v && !(double.IsFinite(v) && v >= bound))
        {
            throw new UsageException(string.Create(Invariant, $"{settings.Origin(option)} must be a number ≥ {bound}, was {v}."));
        }
    }

    public static string OneOf(RunSettings settings, ToolOption<string> option, params string[] choices)
    {
        var value = settings.Get(option).ToLowerInvariant();
        return choices.Contains(value) ? value : throw new UsageException($"{settings.Origin(option)} must be one of {string.Join(", ", choices)}, was '{settings.Get(option)}'.");
    }

    /// <summary>An input file that must exist (and not be a folder).</summary>
    public static void ExistingFile(RunSettings settings, ToolOption<string?> option)
    {
        if (settings.GetText(option) is not { } path)
        {
            return;
        }

        if (Directory.Exists(path))
        {
            throw new UsageException($"{settings.Origin(option)} {path} is a folder; give a file.");
        }

        if (!File.Exists(path))
        {
            throw new UsageException($"{settings.Origin(option)} {path} does not exist.");
        }
    }

    /// <summary>An output folder: not an existing file, and creatable (no file where one of its parent folders would be).</summary>
    public static void OutputFolder(RunSettings settings, ToolOption<string> option) => OutputFolder(settings.Origin(option), settings.Get(option));

    /// <summary>An optional output folder, checked as <see cref="OutputFolder(RunSettings, ToolOption{string})"/> when given.</summary>
    public static void OutputFolderIfGiven(RunSettings settings, ToolOption<string?> option)
    {
        if (settings.GetText(option) is { } folder)
        {
            OutputFolder(settings.Origin(option), folder);
        }
    }

    private static void OutputFolder(string origin, string folder)
    {
        if (File.Exists(folder))
        {
            throw new UsageException($"{origin} {folder} is a file; give a folder (it is created when missing).");
        }

        CreatableParents(origin, folder);
    }

    /// <summary>An output file: not an existing folder, and its folder creatable; checked before any work, so a run does not fail at its end.</summary>
    public static void OutputFile(RunSettings settings, ToolOption<string?> option)
    {
        if (settings.GetText(option) is not { } path)
        {
            return;
        }

        if (Directory.Exists(path))
        {
            throw new UsageException($"{settings.Origin(option)} {path} is a folder; give the file to write.");
        }

        CreatableParents(settings.Origin(option), path);
    }

    /// <summary>Refuses a path under an existing file: no folder can be created there, by anyone (root included).</summary>
    private static void CreatableParents(string origin, string path)
    {
        var full = Path.GetFullPath(path);
        for (var parent = Path.GetDirectoryName(full); parent is not null; parent = Path.GetDirectoryName(parent))
        {
            if (Directory.Exists(parent))
            {
                return;
            }

            if (File.Exists(parent))
            {
                throw new UsageException($"{origin} {path} cannot be written: {parent} is a file, not a folder.");
            }
        }
    }
}
