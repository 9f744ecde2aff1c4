using System.Globalization;
using Distillation.Losses;

namespace Distillation.Cifar10;

/// <summary>
/// Turns <c>--method</c> into an objective: one method (<c>kd</c>, <c>kd+ls</c>, <c>cosine</c>, <c>hint</c>,
/// <c>dkd</c>) or a comma-separated weighted combination such as <c>kd:1,cosine:0.25</c>. Cross-entropy
/// always enters first with <c>--hard-weight</c>; a method's weight defaults to <c>--soft-weight</c>.
/// Every spelling goes through the one path, so <c>kd</c> and <c>kd:1</c> (with soft weight 1) are
/// the same objective, with the same description and checkpoints.
/// </summary>
internal static class MethodSpec
{
    public const string Help =
        "kd (the notebook's KL term), kd+ls (KL on standardized logits), cosine (hidden-feature cosine), hint (FitNets regressor + MSE), " +
        "dkd (decoupled KD, alpha 1, beta 8), or weighted combinations like kd:1,cosine:0.25. Cross-entropy enters with --hard-weight.";

    public static DistillationObjective Create(string text, double temperature, double hardWeight, double softWeight)
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

            return (Term(pieces[0], temperature), weight);
        }).ToList();
        if (hardWeight == 0 && terms.TrueForAll(t => t.weight == 0))
        {
            throw new FormatException("--hard-weight and every method's weight are 0: there is nothing to optimize.");
        }

        return new DistillationObjective([(new LabelCrossEntropyLoss(), hardWeight), .. terms]);
    }

    private static IDistillationLoss Term(string name, double temperature) => name.ToLowerInvariant() switch
    {
        "kd" => new KLDivergenceLoss(temperature),
        "kd+ls" or "kd-ls" => new KLDivergenceLoss(temperature, standardizeLogits: true),
        "cosine" => new CosineFeatureLoss(),
        "hint" => new HintLoss(),
        "dkd" => new DecoupledKDLoss(alpha: 1, beta: 8, temperature: temperature, warmupEpochs: 0),
        _ => throw new FormatException($"--method: unknown method '{name}'. Use {Help}"),
    };
}
