namespace Distillation.Serialization;

/// <summary>
/// What a state-dict load matched, like PyTorch's <c>load_state_dict</c> return value: the
/// module's keys the source did not have, and the source's keys the module does not have.
/// Both are empty after a strict load.
/// </summary>
/// <param name="LoadedKeys">The keys copied into the module, in the module's order.</param>
/// <param name="MissingKeys">The module's parameters and buffers the source has no value for; they kept their values.</param>
/// <param name="UnexpectedKeys">The source's entries the module has no parameter or buffer for; they were ignored.</param>
public sealed record StateDictLoadResult(IReadOnlyList<string> LoadedKeys, IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys)
{
    /// <summary>True when every key matched: nothing missing, nothing unexpected.</summary>
    public bool IsExactMatch => MissingKeys.Count == 0 && UnexpectedKeys.Count == 0;
}
