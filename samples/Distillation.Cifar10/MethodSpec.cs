using System.Globalization;
using Distillation.Losses;

namespace Distillation.Cifar10;

/// <summary>
/// Turns <c>--method</c> into a loss: one method (<c>kd</c>, <c>kd+ls</c>, <c>cosine</c>, <c>hint</c>,
/// <c>dkd</c>) or a comma-separated weighted combination such as <c>kd:1,cosine:0.25</c>. Cross-entropy
/// always enters with <c>--hard-weight</c>; a single method's weight defaults to <c>--soft-weight</c>.
/// </summary>
internal static class MethodSpec
{
    public const string Help =
        "kd (the notebook's KL term), kd+ls (KL on standardized logits), cosine (hidden-feature cosine), hint (FitNets regressor + MSE), " +
        "dkd (decoupled KD, alpha 1, beta 8), or weighted combinations like kd:1,cosine:0.25. Cross-entropy enters with --hard-weight.";

    public static IDistillationLoss Create(string text, double temperature, double hardWeight, double softWeight)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw new FormatException($"--method is empty. Use {Help}");
        }

        if (parts is ["kd"])
        {
            // The notebook's loss, exactly: hardWeight·CE + softWeight·T²·KL.
            return new KLDivergenceLoss(new KLDivergenceLossOptions(temperature, hardWeight, softWeight));
        }

        var terms = parts.Select(part =>
        {
            var pieces = part.Split(':', 2, StringSplitOptions.TrimEntries);
            var weight = softWeight;
            if (pieces.Length == 2 && !double.TryParse(pieces[1], NumberStyles.Float, CultureInfo.InvariantCulture, out weight))
            {
                throw new FormatException($"--method: '{pieces[1]}' in '{part}' is not a number.");
            }

            return new WeightedTerm(Term(pieces[0], temperature), weight);
        });
        return new DistillationObjective(hardWeight, terms);
    }

    private static ILossTerm Term(string name, double temperature) => name.ToLowerInvariant() switch
    {
        "kd" => new KLDivergenceTerm(temperature),
        "kd+ls" or "kd-ls" => new KLDivergenceTerm(temperature, standardizeLogits: true),
        "cosine" => new CosineFeatureTerm(),
        "hint" => new HintTerm(),
        "dkd" => new DecoupledKDTerm(alpha: 1, beta: 8, temperature: temperature, warmupEpochs: 0),
        _ => throw new FormatException($"--method: unknown method '{name}'. Use {Help}"),
    };
}
