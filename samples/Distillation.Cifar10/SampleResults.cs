using System.Text.Json;
using System.Text.Json.Serialization;
using Distillation.Evaluation;
using Distillation.Training;

namespace Distillation.Cifar10;

/// <summary>One trained model's line in the results table and file.</summary>
internal sealed record RunSummary(
    string Name,
    string Phase,
    string Loss,
    long Parameters,
    double TrainingSeconds,
    double? LastEpochLoss,
    double? TestAccuracy, // the final evaluation's: the test set's, or the validation set's in a recipe's choosing runs (RecipeComparison.EvaluatedOn)
    IReadOnlyList<EpochSummary> Epochs);

/// <summary>One epoch in the results file; <see cref="Accuracy"/> is the test accuracy when the epoch was evaluated, else null.</summary>
internal sealed record EpochSummary(int Epoch, double MeanLoss, IReadOnlyDictionary<string, double> LossParts, double LearningRate, double ImagesPerSecond, double Seconds, double? Accuracy = null);

/// <summary>One seed of the comparison: the baseline and the three students that continue from it or restart.</summary>
internal sealed record SeedRuns(long Seed, RunSummary Baseline, RunSummary KdFromBaseline, RunSummary CeContinued, RunSummary KdFromScratch);

/// <summary>One run kind over all seeds.</summary>
internal sealed record ComparisonRow(string Name, Spread Accuracy, Spread LastEpochLoss);

/// <summary>A paired difference over seeds, in accuracy (fractions; ×100 for points).</summary>
internal sealed record Gain(string Name, Spread Points);

/// <summary>The seeds, every run, the mean ± sd of each kind and the distillation gains.</summary>
internal sealed record Comparison(IReadOnlyList<long> Seeds, IReadOnlyList<SeedRuns> Runs, IReadOnlyList<ComparisonRow> Rows, IReadOnlyList<Gain> Gains)
{
    public static Comparison Of(IReadOnlyList<SeedRuns> runs)
    {
        ComparisonRow Row(string name, Func<SeedRuns, RunSummary> pick) => new(
            name,
            Spread.Of(runs.Select(r => pick(r).TestAccuracy ?? double.NaN)),
            Spread.Of(runs.Select(r => pick(r).LastEpochLoss ?? double.NaN)));

        double[] Accuracies(Func<SeedRuns, RunSummary> pick) => runs.Select(r => pick(r).TestAccuracy ?? double.NaN).ToArray();

        return new Comparison(
            runs.Select(r => r.Seed).ToArray(),
            runs,
            [
                Row("Student baseline", r => r.Baseline),
                Row("(a) KD from baseline", r => r.KdFromBaseline),
                Row("(b) CE continued", r => r.CeContinued),
                Row("(c) KD from scratch", r => r.KdFromScratch),
            ],
            [
                new Gain("Gain a − b", Spread.OfDifferences(Accuracies(r => r.KdFromBaseline), Accuracies(r => r.CeContinued))),
                new Gain("Gain c − baseline", Spread.OfDifferences(Accuracies(r => r.KdFromScratch), Accuracies(r => r.Baseline))),
            ]);
    }
}

/// <summary>One seed of a recipe: the control (null with --no-control) and the distilled student (null with --control-only), same initialisation and batches.</summary>
internal sealed record RecipeSeedRuns(long Seed, RunSummary? Control, RunSummary? Distilled);

/// <summary>A run kind of a recipe over all seeds: accuracy and training time.</summary>
internal sealed record RecipeRow(string Name, Spread Accuracy, Spread TrainingSeconds);

/// <summary>A recipe's seeds, every run, the mean ± sd of the control and the distilled student, and the paired gain (fractions; ×100 for points; null unless both arms ran).</summary>
internal sealed record RecipeComparison(IReadOnlyList<long> Seeds, string EvaluatedOn, IReadOnlyList<RecipeSeedRuns> Runs, IReadOnlyList<RecipeRow> Rows, Spread? Gain)
{
    public const string ControlName = "Control (CE)";
    public const string DistilledName = "Distilled";

    public static RecipeComparison Of(IReadOnlyList<RecipeSeedRuns> runs, string evaluatedOn)
    {
        var withControl = runs.All(r => r.Control is not null);
        var withDistilled = runs.All(r => r.Distilled is not null);
        double[] Accuracies(Func<RecipeSeedRuns, RunSummary> pick) => runs.Select(r => pick(r).TestAccuracy ?? double.NaN).ToArray();
        RecipeRow Row(string name, Func<RecipeSeedRuns, RunSummary> pick) => new(name, Spread.Of(Accuracies(pick)), Spread.Of(runs.Select(r => pick(r).TrainingSeconds)));
        var rows = new List<RecipeRow>();
        if (withControl)
        {
            rows.Add(Row(ControlName, r => r.Control!));
        }

        if (withDistilled)
        {
            rows.Add(Row(DistilledName, r => r.Distilled!));
        }

        return new RecipeComparison(
            runs.Select(r => r.Seed).ToArray(),
            evaluatedOn,
            runs,
            rows,
            withControl && withDistilled ? Spread.OfDifferences(Accuracies(r => r.Distilled!), Accuracies(r => r.Control!)) : null);
    }
}

/// <summary>Everything the sample writes to results.json.</summary>
internal sealed record SampleResults(
    DateTimeOffset CreatedUtc,
    string Device,
    int Threads,
    string DataFolder,
    int TrainImages,
    int TestImages,
    SampleSettings Settings,
    IReadOnlyList<RunSummary> Runs,
    Comparison? Comparison)
{
    /// <summary>The recipe's comparison (--recipe); null otherwise.</summary>
    public RecipeComparison? Recipe { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    public static RunSummary Summarize(string name, TrainingResult result, double? testAccuracy = null) => new(
        name,
        result.Phase.ToString(),
        result.LossName,
        result.Parameters,
        Math.Round(result.TrainingTime.TotalSeconds, 2),
        result.LastEpochLoss,
        testAccuracy ?? result.FinalAccuracy ?? double.NaN,
        result.History.Select(e => new EpochSummary(e.Epoch, e.MeanLoss, e.LossParts, e.LearningRate, Math.Round(e.ImagesPerSecond, 1), Math.Round(e.TrainingTime.TotalSeconds, 2), e.Accuracy)).ToArray());

    /// <summary>
    /// Writes the file atomically through <paramref name="writer"/> (<see cref="Distillation.IO.AtomicFile.Write"/>
    /// by default: a uniquely named temporary file, flushed, renamed over the target, deleted on failure).
    /// </summary>
    /// <exception cref="IOException">The file cannot be written; the previous one is unchanged.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder is not writable.</exception>
    public void WriteTo(string path, FileWriter? writer = null) =>
        SampleFiles.WriteText(path, JsonSerializer.Serialize(this, Json), writer);
}
