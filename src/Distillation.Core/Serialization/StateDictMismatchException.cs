namespace Distillation.Serialization;

/// <summary>
/// A state dict does not fit a module: keys missing or unexpected (in a strict load) or a shape
/// that differs. The message names the source (the file) and lists every key at fault; nothing
/// was copied into the module. An <see cref="IOException"/>, like the other "this file does not
/// fit" errors of the library (<see cref="InvalidDataException"/> is sealed).
/// </summary>
internal sealed class StateDictMismatchException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What does not fit, naming every key at fault.</param>
    /// <param name="missingKeys">The module's keys the source has no value for (empty for a non-strict load).</param>
    /// <param name="unexpectedKeys">The source's keys the module does not have (empty for a non-strict load).</param>
    /// <param name="shapeMismatches">The keys whose shapes differ, with both shapes.</param>
    public StateDictMismatchException(string message, IReadOnlyList<string> missingKeys, IReadOnlyList<string> unexpectedKeys, IReadOnlyList<StateDictShapeMismatch> shapeMismatches)
        : base(message)
    {
        MissingKeys = missingKeys;
        UnexpectedKeys = unexpectedKeys;
        ShapeMismatches = shapeMismatches;
    }

    /// <summary>The module's keys the source has no value for.</summary>
    public IReadOnlyList<string> MissingKeys { get; }

    /// <summary>The source's keys the module does not have.</summary>
    public IReadOnlyList<string> UnexpectedKeys { get; }

    /// <summary>The keys present on both sides whose shapes differ.</summary>
    public IReadOnlyList<StateDictShapeMismatch> ShapeMismatches { get; }
}

/// <summary>A key whose shape in the source differs from the module's.</summary>
/// <param name="Key">The parameter or buffer name.</param>
/// <param name="SourceShape">The shape in the source (the file).</param>
/// <param name="ModuleShape">The shape in the module.</param>
internal sealed record StateDictShapeMismatch(string Key, IReadOnlyList<long> SourceShape, IReadOnlyList<long> ModuleShape)
{
    /// <inheritdoc />
    public override string ToString() => $"{Key}: [{string.Join(", ", SourceShape)}] in the source, [{string.Join(", ", ModuleShape)}] in the module";
}
