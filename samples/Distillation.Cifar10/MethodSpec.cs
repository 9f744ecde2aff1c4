using System.Globalization;
using Distillation.Losses;

namespace Distillation.Cifar10;

/// <summary>
/// Turns <c>--method</c> into an objective: one method (<c>kd</c>, <c>kd+ls</c>, <c>cosine</c>, <c>hint</c>,
/// <c>dkd</c>) or a comma-separated weighted combination such as <c>kd:1,cosine:0.25</c>. Cross-entropy
/// always enters first with <c>--hard-weight</c>; a method's weight defaults to <c>--soft-weight</c>.
/// Every spelling goes through the one path, so <c>kd</c> and <c>kd:1</c> (with soft weight 1) are
/// the same objective, with the same description and checkpoints. With <c>--soft-ramp</c> every
/// distillation term's weight moves linearly to 0 over the last part of the run
/// (<see cref="WeightSchedule.RampTo"/>); cross-entropy keeps its weight.
/// </summary>
internal static class MethodSpec
{
    public const string Help =
        "kd (the notebook's KL term), kd+ls (KL on standardized logits), cosine (hidden-feature cosine), hint (FitNets regressor + MSE), " +
        "dkd (decoupled KD, alpha 1, beta 8), dist (DIST: inter- and intra-class Pearson relations, beta = gamma = 1, at --temperature), or weighted combinations like kd:1,cosine:0.25. Cross-entropy enters with --hard-weight.";

    private static readonly string[] Names = ["kd", "kd+ls", "kd-ls", "cosine", "hint", "dkd", "dist"];

    /// <summary>Builds the objective; call <see cref="Check"/> first for a message instead of an exception.</summary>
    /// <param name="text">The method list.</param>
    /// <param name="temperature">The temperature of the terms that take one.</param>
    /// <param name="hardWeight">Cross-entropy's weight.</param>
    /// <param name="softWeight">A method's weight when the list gives none.</param>
    /// <param name="softRamp">The last fraction of the run over which the distillation terms' weights fall linearly to 0 (0: constant weights).</param>
    /// <exception cref="FormatException">The text is not a method list, or every weight is 0.</exception>
    public static DistillationObjective Create(string text, double temperature, double hardWeight, double softWeight, double softRamp = 0) =>
        new([(new LabelCrossEntropyLoss(), hardWeight), .. Parse(text, hardWeight, softWeight).Select(t => (Term(t.Name, temperature), Weight(t.Weight, softRamp)))]);

    /// <summary>What is wrong with the method list and weights, in one line, or null: without building a loss (no native library needed).</summary>
    public static string? Check(string text, double hardWeight, double softWeight)
    {
        try
        {
            Parse(text, hardWeight, softWeight);
            return null;
        }
        catch (FormatException e)
        {
            return e.Message;
        }
    }

    /// <summary>Whether the method list has a term that reads the teacher's features (cosine, hint); false when it does not parse.</summary>
    public static bool ReadsFeatures(string text) =>
        Check(text, 1, 1) is null && Parse(text, 1, 1).Exists(t => t.Name is "cosine" or "hint");

    private static List<(string Name, double Weight)> Parse(string text, double hardWeight, double softWeight)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw new FormatException($"--method is empty. Use {Help}");
        }

        var terms = parts.Select(part =>
        {
            var pieces = part.Split(':', 2, StringSplitOptions.TrimEntries);
            var weight = softWeight;
            if (pieces.Length == 2 && !double.TryParse(pieces[1], NumberStyles.Float, CultureInfo.InvariantCulture, out weight))
            {
                throw new FormatException($"--method: '{pieces[1]}' in '{part}' is not a number.");
            }

            var name = pieces[0].ToLowerInvariant();
            try
            {
                // The library's own bound, checked by the objective as the run will: a weight beyond it cannot be run in float32 (or is a learning-rate change).
                using var probe = new DistillationObjective((new LabelCrossEntropyLoss(), weight));
            }
            catch (ArgumentOutOfRangeException e) when (e.ParamName is { } option && e.Message.StartsWith(option, StringComparison.Ordinal))
            {
                var flag = pieces.Length == 2 ? $"--method weight of {pieces[0]}" : "--soft-weight";
                throw new FormatException(flag + e.Message[option.Length..], e);
            }

            return Names.Contains(name) ? (name, weight) : throw new FormatException($"--method: unknown method '{pieces[0]}'. Use {Help}");
        }).ToList();

        // With every weight 0 the loss is 0 whatever the model does: training would change nothing.
        if (hardWeight == 0 && terms.TrueForAll(t => t.weight == 0))
        {
            throw new FormatException(parts.Any(p => p.Contains(':', StringComparison.Ordinal))
                ? "--hard-weight and every --method weight are 0: there is nothing to optimize."
                : "--hard-weight and --soft-weight are both 0: the distillation loss would be 0 and there would be nothing to optimize.");
        }

        return terms;
    }

    private static WeightSchedule Weight(double weight, double softRamp) =>
        softRamp > 0 ? WeightSchedule.RampTo(weight, finalWeight: 0, softRamp) : WeightSchedule.Constant(weight);

    private static IDistillationLoss Term(string name, double temperature) => name switch
    {
        "kd" => new KLDivergenceLoss(temperature),
        "kd+ls" or "kd-ls" => new KLDivergenceLoss(temperature, standardizeLogits: true),
        "dist" => new DistLoss(temperature: temperature),
        "cosine" => new CosineFeatureLoss(),
        "hint" => new HintLoss(),
        "dkd" => new DecoupledKDLoss(alpha: 1, beta: 8, temperature: temperature, warmupEpochs: 0),
        _ => throw new FormatException($"--method: unknown method '{name}'. Use {Help}"),
    };
}
