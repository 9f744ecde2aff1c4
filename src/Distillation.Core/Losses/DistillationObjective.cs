using System.Globalization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// A composable objective, <c>total = w_ce · CE(student, labels) + Σ wᵢ · termᵢ</c>, as Keras'
/// Distiller and torchdistill combine weighted terms over one context. Every term's unweighted
/// value is reported by name (<c>ce</c>, <c>kd</c>, <c>cosine</c>, <c>hint</c>, <c>dkd</c>, …).
/// </summary>
public sealed class DistillationObjective : IDistillationLoss
{
    /// <summary>Creates the objective.</summary>
    /// <param name="crossEntropyWeight">The weight of cross-entropy against the labels, ≥ 0 (reported as <c>ce</c> even at 0).</param>
    /// <param name="terms">The weighted terms; their names must differ from each other and from <c>ce</c>.</param>
    /// <exception cref="ArgumentException">A weight is negative or not finite, or two terms share a name.</exception>
    public DistillationObjective(double crossEntropyWeight, IEnumerable<WeightedTerm> terms)
    {
        ArgumentNullException.ThrowIfNull(terms);
        LogitChecks.RequireWeight(crossEntropyWeight, nameof(crossEntropyWeight));
        CrossEntropyWeight = crossEntropyWeight;
        Terms = terms.ToArray();
        foreach (var weighted in Terms)
        {
            ArgumentNullException.ThrowIfNull(weighted?.Term, nameof(terms));
            LogitChecks.RequireWeight(weighted.Weight, $"weight of {weighted.Term.Name}");
        }

        var names = Terms.Select(t => t.Term.Name).Prepend(CrossEntropyLoss.PartName).ToArray();
        var duplicate = names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"Two parts of the objective are named '{duplicate.Key}'; each term needs its own name.", nameof(terms));
        }
    }

    /// <summary>Creates the objective from weight–term pairs.</summary>
    /// <param name="crossEntropyWeight">The weight of cross-entropy against the labels.</param>
    /// <param name="terms">The weighted terms.</param>
    public DistillationObjective(double crossEntropyWeight, params (ILossTerm Term, double Weight)[] terms)
        : this(crossEntropyWeight, terms.Select(t => new WeightedTerm(t.Term, t.Weight)))
    {
    }

    /// <summary>The weight of cross-entropy against the labels.</summary>
    public double CrossEntropyWeight { get; }

    /// <summary>The weighted terms.</summary>
    public IReadOnlyList<WeightedTerm> Terms { get; }

    /// <inheritdoc />
    public string Name => string.Join(" + ", Terms
        .Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Weight}·{t.Term.Name}"))
        .Prepend(string.Create(CultureInfo.InvariantCulture, $"{CrossEntropyWeight}·ce")));

    /// <inheritdoc />
    public bool NeedsTeacher => Terms.Any(t => t.Term.NeedsTeacher);

    /// <inheritdoc />
    public IReadOnlyList<string> StudentFeatureModules => Terms.SelectMany(t => t.Term.StudentFeatureModules).Distinct(StringComparer.Ordinal).ToArray();

    /// <inheritdoc />
    public IReadOnlyList<string> TeacherFeatureModules => Terms.SelectMany(t => t.Term.TeacherFeatureModules).Distinct(StringComparer.Ordinal).ToArray();

    /// <inheritdoc />
    public IEnumerable<Parameter> TrainableParameters => Terms.SelectMany(t => t.Term.TrainableParameters);

    /// <inheritdoc />
    public void MoveTo(Device device)
    {
        foreach (var weighted in Terms)
        {
            weighted.Term.MoveTo(device);
        }
    }

    /// <inheritdoc />
    public LossResult Compute(DistillationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        LogitChecks.RequireLogits(context.StudentLogits, "studentLogits");
        LogitChecks.RequireLabels(context.Labels, context.StudentLogits);
        if (context.TeacherLogits is { } teacher)
        {
            LogitChecks.RequireLogits(teacher, "teacherLogits");
            LogitChecks.RequireSameShape(context.StudentLogits, teacher);
        }

        var ce = nn.functional.cross_entropy(context.StudentLogits, context.Labels);
        var total = ce.mul(CrossEntropyWeight);
        var parts = new List<LossPart>(Terms.Count + 1) { new(CrossEntropyLoss.PartName, ce.detach(), CrossEntropyWeight) };
        foreach (var weighted in Terms)
        {
            var value = weighted.Term.Compute(context);
            total = total.add(value.mul(weighted.Weight));
            parts.Add(new LossPart(weighted.Term.Name, value.detach(), weighted.Weight));
        }

        return new LossResult(total, parts);
    }
}
