using System.Globalization;
using Distillation.Losses;
using Distillation.Tool.Cli;

namespace Distillation.Tool.Runs;

/// <summary>The options of the distillation objective: the terms by name and each loss's parameters.</summary>
internal sealed class LossOptions
{
    public const string Names = "kd (KL divergence at --temperature), kd+ls (KL on standardized logits), dkd (decoupled KD: --dkd-alpha, --dkd-beta, --dkd-warmup), dist (DIST, Pearson relations between and within classes at --temperature: --dist-beta, --dist-gamma), cosine (feature cosine), hint (FitNets hint: --hint-student-channels, --hint-teacher-channels)";

    public ToolOption<string> Loss { get; } = new("--loss",
        $"The distillation terms: {Names}; or a weighted list like kd:1,cosine:0.25. Cross-entropy on the labels always enters with --hard-weight; a term without a weight takes --soft-weight.", "kd");

    public ToolOption<double> Temperature { get; } = new("--temperature", "Temperature of kd, kd+ls, dkd and dist.", 4.0);

    public ToolOption<double> HardWeight { get; } = new("--hard-weight", "Weight of cross-entropy on the labels.", 1.0);

    public ToolOption<double> SoftWeight { get; } = new("--soft-weight", "Weight of a distillation term given without one.", 1.0);

    public ToolOption<double> SoftRamp { get; } = new("--soft-ramp",
        "The last fraction of the run (above 0, at most 1) over which every distillation term's weight falls linearly to 0, reaching it in the last epoch; cross-entropy keeps --hard-weight. 0: constant weights.", 0.0);

    public ToolOption<double> DkdAlpha { get; } = new("--dkd-alpha", "dkd: weight of the target-class term.", 1.0);

    public ToolOption<double> DkdBeta { get; } = new("--dkd-beta", "dkd: weight of the non-target-class term.", 8.0);

    public ToolOption<int> DkdWarmup { get; } = new("--dkd-warmup", "dkd: epochs over which its weight ramps up linearly.", 0);

    public ToolOption<double> DistBeta { get; } = new("--dist-beta", "dist: weight of the inter-class (per image) relation.", 1.0);

    public ToolOption<double> DistGamma { get; } = new("--dist-gamma", "dist: weight of the intra-class (per class) relation.", 1.0);

    public ToolOption<string> StudentFeatures { get; } = new("--student-features", "cosine, hint: the student's module whose output is matched.", "features");

    public ToolOption<string> TeacherFeatures { get; } = new("--teacher-features", "cosine, hint: the teacher's module whose output is matched.", "features");

    public ToolOption<int> HintStudentChannels { get; } = new("--hint-student-channels", "hint: channels of the student's feature map.", 16);

    public ToolOption<int> HintTeacherChannels { get; } = new("--hint-teacher-channels", "hint: channels of the teacher's feature map.", 32);

    public IEnumerable<ToolOption> All => [Loss, Temperature, HardWeight, SoftWeight, SoftRamp, DkdAlpha, DkdBeta, DkdWarmup, DistBeta, DistGamma, StudentFeatures, TeacherFeatures, HintStudentChannels, HintTeacherChannels];

    /// <summary>The terms of --loss, parsed; refuses an unknown name or a malformed weight.</summary>
    public IReadOnlyList<(string Name, double Weight)> Terms(RunSettings settings)
    {
        var text = settings.Get(Loss);
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw new UsageException($"{settings.Origin(Loss)} is empty; use {Names}.");
        }

        return parts.Select(part =>
        {
            var pieces = part.Split(':', 2, StringSplitOptions.TrimEntries);
            var weight = settings.Get(SoftWeight);
            if (pieces.Length == 2 && !(double.TryParse(pieces[1], NumberStyles.Float, CultureInfo.InvariantCulture, out weight) && double.IsFinite(weight) && weight >= 0))
            {
                throw new UsageException($"{settings.Origin(Loss)}: the weight '{pieces[1]}' in '{part}' is not a number ≥ 0.");
            }

            var name = pieces[0].ToLowerInvariant();
            return name is "kd" or "kd+ls" or "dkd" or "dist" or "cosine" or "hint"
                ? (name, weight)
                : throw new UsageException($"{settings.Origin(Loss)}: unknown loss '{pieces[0]}'; use {Names}.");
        }).ToList();
    }

    /// <summary>Whether a term reads the teacher's features (which ONNX and logits teachers do not give).</summary>
    public bool ReadsFeatures(RunSettings settings) => Terms(settings).Any(t => t.Name is "cosine" or "hint");

    /// <summary>Checks every number before anything is loaded; the objective's own checks run when it is built.</summary>
    public void Check(RunSettings settings)
    {
        var terms = Terms(settings);
        Checks.Above(settings, Temperature, 0);
        Checks.AtLeast(settings, HardWeight, 0);
        Checks.AtLeast(settings, SoftWeight, 0);
        if (settings.Get(SoftRamp) is var ramp && !(ramp >= 0 && ramp <= 1))
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"{settings.Origin(SoftRamp)} must be a fraction from 0 to 1, was {ramp}."));
        }

        Checks.AtLeast(settings, DkdAlpha, 0);
        Checks.AtLeast(settings, DkdBeta, 0);
        Checks.NonNegative(settings, DkdWarmup);
        Checks.AtLeast(settings, DistBeta, 0);
        Checks.AtLeast(settings, DistGamma, 0);
        Checks.Positive(settings, HintStudentChannels);
        Checks.Positive(settings, HintTeacherChannels);
        if (settings.Get(HardWeight) == 0 && terms.All(t => t.Weight == 0))
        {
            throw new UsageException($"{settings.Origin(HardWeight)} and every weight of {settings.Origin(Loss)} are 0: there is nothing to optimize.");
        }

        // The terms' own range checks (a temperature of 1e300, a weight beyond 1e6), before the output folder is written.
        try
        {
            using var objective = Create(settings);
        }
        catch (ArgumentOutOfRangeException e)
        {
            var message = ErrorText.OneLine(e.Message);
            throw new UsageException(e.ParamName == "temperature" && message.StartsWith("temperature ", StringComparison.Ordinal)
                ? settings.Origin(Temperature) + message["temperature".Length..]
                : $"{settings.Origin(Loss)}: {message}");
        }
    }

    /// <summary>Builds the objective: cross-entropy with --hard-weight, then each term.</summary>
    public DistillationObjective Create(RunSettings settings)
    {
        var temperature = settings.Get(Temperature);
        IDistillationLoss Term(string name) => name switch
        {
            "kd" => new KLDivergenceLoss(temperature),
            "kd+ls" => new KLDivergenceLoss(temperature, standardizeLogits: true),
            "dkd" => new DecoupledKDLoss(settings.Get(DkdAlpha), settings.Get(DkdBeta), temperature, settings.Get(DkdWarmup)),
            "dist" => new DistLoss(settings.Get(DistBeta), settings.Get(DistGamma), temperature),
            "cosine" => new CosineFeatureLoss(settings.Get(StudentFeatures), settings.Get(TeacherFeatures)),
            "hint" => new HintLoss(settings.Get(HintStudentChannels), settings.Get(HintTeacherChannels), settings.Get(StudentFeatures), settings.Get(TeacherFeatures)),
            _ => throw new UsageException($"unknown loss '{name}'"),
        };

        var ramp = settings.Get(SoftRamp);
        WeightSchedule Weight(double weight) => ramp > 0 ? WeightSchedule.RampTo(weight, finalWeight: 0, ramp) : WeightSchedule.Constant(weight);
        return new DistillationObjective([(new LabelCrossEntropyLoss(), settings.Get(HardWeight)), .. Terms(settings).Select(t => (Term(t.Name), Weight(t.Weight)))]);
    }
}
