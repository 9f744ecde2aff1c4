using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>One named part of a loss, before its weight is applied, for logging.</summary>
/// <param name="Name">The part's name, e.g. <c>ce</c> or <c>kd</c>.</param>
/// <param name="Value">The part's scalar value (detached from the graph).</param>
/// <param name="Weight">The weight it enters the total with.</param>
public sealed record LossPart(string Name, Tensor Value, double Weight);

/// <summary>A loss's scalar total, to back-propagate, and its named parts.</summary>
/// <param name="Total">The scalar to back-propagate.</param>
/// <param name="Parts">The parts that make the total, each unweighted and detached.</param>
public sealed record LossResult(Tensor Total, IReadOnlyList<LossPart> Parts)
{
    /// <summary>The unweighted, detached value of the part named <paramref name="name"/>.</summary>
    /// <param name="name">The part's name, e.g. <c>kd</c>.</param>
    /// <returns>The part's scalar tensor.</returns>
    /// <exception cref="KeyNotFoundException">No part has that name; the message lists the parts.</exception>
    public Tensor this[string name] =>
        Parts.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.Ordinal))?.Value
        ?? throw new KeyNotFoundException($"The loss has no part named '{name}'; its parts are {string.Join(", ", Parts.Select(p => p.Name))}.");

    /// <summary>A single-part result: <paramref name="value"/> is both the total and the part named <paramref name="name"/>.</summary>
    internal static LossResult Single(string name, Tensor value) => new(value, [new LossPart(name, value.detach(), 1.0)]);
}
