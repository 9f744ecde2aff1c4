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
public sealed record LossResult(Tensor Total, IReadOnlyList<LossPart> Parts);
