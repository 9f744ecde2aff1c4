using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// A weighted sum of losses, <c>total = Σ wᵢ · lossᵢ</c>, cross-entropy against the labels being a
/// term like any other, as Keras' <c>Distiller</c> and torchdistill's <c>WeightedSumLoss</c> combine
/// terms over one context. Each term's unweighted value is reported under its
/// <see cref="IDistillationLoss.Name"/>, and <see cref="Description"/> prints the formula,
/// e.g. <c>1·ce + 1·kd(T=10)</c>. A weight may follow a <see cref="WeightSchedule"/> (a warm-up, a
/// ramp to a final value over the end of training), taken each batch from the context's epoch; the
/// formula prints it, e.g. <c>1·ce + 1(to 0 over the last 0.25)·kd(T=4)</c>.
/// </summary>
/// <remarks>
/// Terms that are TorchSharp modules (a <see cref="HintLoss"/>'s regressor) are registered as this
/// module's submodules, so <c>parameters()</c>, <c>to(device)</c> and <c>Dispose()</c> reach them.
/// The objective owns them: disposing it disposes them.
/// </remarks>
public sealed class DistillationObjective : nn.Module, IDistillationLoss
{
    private readonly IDistillationLoss[] losses;
    private readonly double[] weights;
    private readonly WeightSchedule[] schedules;

    /// <summary>Creates the objective from loss–weight pairs.</summary>
    /// <param name="terms">The terms and their weights (each from 0 to 1,000,000 and 0 or ≥ 1.2e-38); at least one, with distinct names.</param>
    /// <exception cref="ArgumentException">There is no term, a term is null, or two terms share a name.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A weight is out of its range; the one-line message names it.</exception>
    public DistillationObjective(params (IDistillationLoss Loss, double Weight)[] terms)
        : this(terms?.Select(t => t.Loss).ToArray()!, terms?.Select(t => t.Weight).ToArray()!)
    {
    }

    /// <summary>Creates the objective from loss–schedule pairs: weights that change with the epoch, or constants (a <see cref="double"/> converts).</summary>
    /// <param name="terms">The terms and their weight schedules; at least one, with distinct names.</param>
    /// <exception cref="ArgumentException">There is no term, a term or schedule is null, or two terms share a name.</exception>
    public DistillationObjective(params (IDistillationLoss Loss, WeightSchedule Weight)[] terms)
        : this(terms?.Select(t => t.Loss).ToArray()!, null, terms?.Select(t => t.Weight).ToArray()!)
    {
    }

    /// <summary>Creates the objective from a list of losses and a list of their weights, matched by position.</summary>
    /// <param name="losses">The terms; at least one, with distinct names.</param>
    /// <param name="weights">One weight per term, each from 0 to 1,000,000 and 0 or ≥ 1.2e-38.</param>
    /// <exception cref="ArgumentException">The lists differ in length or are empty, a term is null, or two terms share a name.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A weight is out of its range; the one-line message names it.</exception>
    public DistillationObjective(IReadOnlyList<IDistillationLoss> losses, IReadOnlyList<double> weights)
        : this(losses, weights, null)
    {
    }

    /// <summary>The one constructor: constant <paramref name="weights"/> or <paramref name="schedules"/>, exactly one of them given.</summary>
    private DistillationObjective(IReadOnlyList<IDistillationLoss> losses, IReadOnlyList<double>? weights, IReadOnlyList<WeightSchedule>? schedules)
        : base(nameof(DistillationObjective))
    {
        ArgumentNullException.ThrowIfNull(losses);
        var weightCount = weights?.Count ?? schedules?.Count ?? throw new ArgumentNullException(nameof(weights));
        if (losses.Count != weightCount)
        {
            throw new ArgumentException($"The objective got {losses.Count} losses but {weightCount} weights; give one weight per loss.", nameof(weights));
        }

        if (losses.Count == 0)
        {
            throw new ArgumentException("The objective needs at least one term.", nameof(losses));
        }

        this.losses = [.. losses];
        for (var i = 0; i < this.losses.Length; i++)
        {
            if (this.losses[i] is null)
            {
                throw new ArgumentException($"Term {i} of the objective is null.", nameof(losses));
            }

            if (weights is not null)
            {
                LogitChecks.RequireWeight(weights[i], $"weight of {this.losses[i].Name}");
            }
            else if (schedules![i] is null)
            {
                throw new ArgumentException($"The weight schedule of {this.losses[i].Name} (term {i}) is null.", nameof(schedules));
            }
        }

        // Constant weights become constant schedules; a schedule's own checks ran when it was made.
        this.schedules = weights is not null ? weights.Select(WeightSchedule.Constant).ToArray() : [.. schedules!];
        this.weights = this.schedules.Select(s => s.Weight).ToArray();

        var duplicate = this.losses.GroupBy(l => l.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"Two terms of the objective are named '{duplicate.Key}'; each term needs its own name.", nameof(losses));
        }

        foreach (var loss in this.losses)
        {
            if (loss is nn.Module module)
            {
                register_module(loss.Name, module);
            }
        }
    }

    /// <summary>
    /// Hinton's objective: <c>hardWeight · CE + softWeight · KD(T)</c>, with
    /// <see cref="KLDivergenceLoss"/> as KD.
    /// </summary>
    /// <param name="temperature">T, from 0.0001 to 10,000 (beyond, logits / T or T² leave what float32 represents usefully).</param>
    /// <param name="hardWeight">The weight of cross-entropy against the labels, from 0 to 1,000,000 and 0 or ≥ 1.2e-38.</param>
    /// <param name="softWeight">The weight of the distillation term, from 0 to 1,000,000 and 0 or ≥ 1.2e-38.</param>
    /// <returns>The objective.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public static DistillationObjective KnowledgeDistillation(double temperature, double hardWeight = 1.0, double softWeight = 1.0) =>
        new((new LabelCrossEntropyLoss(), hardWeight), (new KLDivergenceLoss(temperature), softWeight));

    /// <summary>The notebook's objective: <c>1·CE + 1·KD</c> at T = 10.</summary>
    /// <returns>The objective.</returns>
    public static DistillationObjective Notebook() => KnowledgeDistillation(10.0, 1.0, 1.0);

    /// <summary>The PyTorch knowledge-distillation tutorial's objective: <c>0.75·CE + 0.25·KD</c> at T = 2.</summary>
    /// <returns>The objective.</returns>
    public static DistillationObjective PyTorchTutorial() => KnowledgeDistillation(2.0, 0.75, 0.25);

    /// <summary>The terms, in order.</summary>
    public IReadOnlyList<IDistillationLoss> Losses => losses;

    /// <summary>The terms' weights, in the order of <see cref="Losses"/>: each schedule's <see cref="WeightSchedule.Weight"/>.</summary>
    public IReadOnlyList<double> Weights => weights;

    /// <summary>The terms' weight schedules, in the order of <see cref="Losses"/>; constant for plain weights.</summary>
    public IReadOnlyList<WeightSchedule> WeightSchedules => schedules;

    /// <summary>The formula, e.g. <c>1·ce + 1·kd(T=10)</c>.</summary>
    public string Name => Description;

    /// <summary>
    /// The formula, e.g. <c>1·ce + 1·kd(T=10)</c>, or with a schedule <c>1·ce + 1(warm-up 5 epochs)·kd(T=4)</c>;
    /// equal for every spelling of the same objective.
    /// </summary>
    public string Description => string.Join(" + ", losses.Zip(schedules, (loss, schedule) =>
        string.Create(CultureInfo.InvariantCulture, $"{schedule}·{loss.Description}")));

    /// <inheritdoc />
    public bool NeedsTeacher => losses.Any(l => l.NeedsTeacher);

    /// <inheritdoc />
    public IReadOnlyList<string> StudentFeatureModules => losses.SelectMany(l => l.StudentFeatureModules).Distinct(StringComparer.Ordinal).ToArray();

    /// <inheritdoc />
    public IReadOnlyList<string> TeacherFeatureModules => losses.SelectMany(l => l.TeacherFeatureModules).Distinct(StringComparer.Ordinal).ToArray();

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException">A scheduled weight needs an epoch the context does not give (below 1, or past <see cref="DistillationContext.Epochs"/> for a ramp).</exception>
    public LossResult Compute(DistillationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        Tensor? total = null;
        var parts = new LossPart[losses.Length];
        for (var i = 0; i < losses.Length; i++)
        {
            var weight = schedules[i].WeightAt(context.Epoch, context.Epochs, $"the weight of {losses[i].Name}");
            var value = losses[i].Compute(context).Total;
            var weighted = value.mul(weight);
            total = total is null ? weighted : total.add(weighted);
            parts[i] = new LossPart(losses[i].Name, value.detach(), weight);
        }

        return new LossResult(total!, parts);
    }

    /// <inheritdoc />
    public override string ToString() => Description;
}
