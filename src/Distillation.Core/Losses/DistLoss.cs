using System.Globalization;
using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// DIST (Huang et al., NeurIPS 2022, "Knowledge Distillation from A Stronger Teacher"): the student
/// matches the teacher's relations rather than its exact probabilities. With <c>p = softmax(z / T)</c>
/// row by row, <c>inter = 1 − mean over rows of ρ(p_s[b, :], p_t[b, :])</c> (each image's ranking of
/// the classes) and <c>intra = 1 − mean over classes of ρ(p_s[:, c], p_t[:, c])</c> (each class's
/// ranking of the images in the batch), where ρ is the Pearson correlation computed as the published
/// code does, <c>⟨a − ā, b − b̄⟩ / (‖a − ā‖·‖b − b̄‖ + 1e-8)</c>. The loss is
/// <c>β·T²·inter + γ·T²·intra</c>; the paper's defaults are β = γ = 1 and T = 1.
/// </summary>
/// <remarks>
/// A relation invariant to shift and scale tolerates the gap to a much stronger teacher that exact
/// KL matching does not. The intra-class part compares images within the batch, so it depends on
/// the batch: with one image (or one class) its correlations are 0 and the part is 1 with no gradient.
/// </remarks>
public sealed class DistLoss : IDistillationLoss
{
    /// <summary>The Pearson denominator's epsilon, as the published code (it keeps a constant row finite).</summary>
    internal const double PearsonEpsilon = 1e-8;

    /// <summary>Creates the loss.</summary>
    /// <param name="beta">β, the weight of the inter-class part, from 0 to 1,000,000 and 0 or ≥ 1.2e-38. Default: 1.</param>
    /// <param name="gamma">γ, the weight of the intra-class part, from 0 to 1,000,000 and 0 or ≥ 1.2e-38. Default: 1.</param>
    /// <param name="temperature">T, from 0.0001 to 10,000 (beyond, logits / T or T² leave what float32 represents usefully). Default: 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">A weight or T is out of its range; the one-line message names it.</exception>
    public DistLoss(double beta = 1.0, double gamma = 1.0, double temperature = 1.0)
    {
        LogitChecks.RequireWeight(beta, nameof(beta));
        LogitChecks.RequireWeight(gamma, nameof(gamma));
        LogitChecks.RequireTemperature(temperature, nameof(temperature));
        (Beta, Gamma, Temperature) = (beta, gamma, temperature);
    }

    /// <summary>β, the weight of the inter-class part.</summary>
    public double Beta { get; }

    /// <summary>γ, the weight of the intra-class part.</summary>
    public double Gamma { get; }

    /// <summary>The temperature T.</summary>
    public double Temperature { get; }

    /// <inheritdoc />
    public string Name => "dist";

    /// <inheritdoc />
    public string Description => string.Create(CultureInfo.InvariantCulture, $"dist(β={Beta}, γ={Gamma}, T={Temperature})");

    /// <inheritdoc />
    public bool NeedsTeacher => true;

    /// <inheritdoc />
    public LossResult Compute(DistillationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var teacher = LogitChecks.RequireLogitPair(context, Name);
        var (inter, intra) = Parts(context.StudentLogits, teacher, Temperature);
        return LossResult.Single(Name, inter.mul(Beta).add(intra.mul(Gamma)));
    }

    /// <summary>The inter- and intra-class parts, each <c>T² · (1 − mean ρ)</c>, without β and γ. Inputs are not checked.</summary>
    internal static (Tensor Inter, Tensor Intra) Parts(Tensor studentLogits, Tensor teacherLogits, double temperature)
    {
        var squared = temperature * temperature;
        var student = nn.functional.softmax(studentLogits.div(temperature), 1);
        var teacher = nn.functional.softmax(teacherLogits.div(temperature), 1);
        var inter = OneMinusMeanCorrelation(student, teacher).mul(squared);
        var intra = OneMinusMeanCorrelation(student.t(), teacher.t()).mul(squared);
        return (inter, intra);
    }

    /// <summary><c>1 − mean over rows of ρ(a[r, :], b[r, :])</c>, with the epsilon in the denominator.</summary>
    private static Tensor OneMinusMeanCorrelation(Tensor a, Tensor b)
    {
        var centredA = a.sub(a.mean([1], keepdim: true));
        var centredB = b.sub(b.mean([1], keepdim: true));
        var covariance = centredA.mul(centredB).sum(1);
        var norms = centredA.norm(1).mul(centredB.norm(1)).add(PearsonEpsilon);
        return covariance.div(norms).mean().neg().add(1.0);
    }
}
