using System.Globalization;
using Spectre.Console;

namespace Distillation.Cifar10;

/// <summary>The tables the sample prints (Spectre tables through the shared console layer): the results, the seed comparison and the recipe with its gains.</summary>
internal static class ConsoleTables
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static void PrintRecipe(OutputStream output, RunSummary? teacher, RecipeComparison recipe)
    {
        var teacherNote = teacher is null ? "no teacher" : $"teacher {Percent(teacher.TestAccuracy)} %, {(teacher.TrainingSeconds > 0 ? "trained in " + Time(teacher.TrainingSeconds) : "loaded")}";
        output.Line(string.Create(Invariant, $"\nOver seeds {string.Join(", ", recipe.Seeds)}: {recipe.EvaluatedOn} accuracy, mean ± sd ({teacherNote})"));
        var table = ResultTable.Create("Run", ">Accuracy (%)", ">Training time", "Per seed (%)");
        foreach (var row in recipe.Rows)
        {
            table.AddTextRow(row.Name, MeanAndSpread(row.Accuracy, 100, "F2"), Time(row.TrainingSeconds.Mean), PerSeed(row.Accuracy));
        }

        if (recipe.Gain is { } gain)
        {
            AddGainRow(table, "Gain over the control", gain, columns: 4);
        }

        output.Write(table);
    }

    /// <summary>
    /// One gain in points, as its row shows it: the mean with its sign and the spread
    /// (<c>+0.36 ± 0.21 points</c>), and each seed's gain with its sign (<c>+0.51 +0.21</c>).
    /// </summary>
    public static (string Mean, string PerSeed) GainCells(Spread points) =>
        (string.Create(Invariant, $"{(points.Mean * 100).ToString("+0.00;-0.00", Invariant)} ± {points.StandardDeviation * 100:F2} points"),
         string.Join(" ", points.Values.Select(v => (v * 100).ToString("+0.00;-0.00", Invariant))));

    public static void PrintTable(OutputStream output, string title, IReadOnlyList<RunSummary> runs, string evaluatedOn = "test")
    {
        output.Line($"\n{title}");
        var table = ResultTable.Create("Model", ">Parameters", ">Time to train", ">Last-epoch loss", ">" + char.ToUpperInvariant(evaluatedOn[0]) + evaluatedOn[1..] + " accuracy");
        foreach (var run in runs)
        {
            table.AddTextRow(
                run.Name,
                run.Parameters.ToString("N0", Invariant),
                run.TrainingSeconds > 0 ? Time(run.TrainingSeconds) : "(loaded)",
                run.LastEpochLoss is { } loss ? loss.ToString("F4", Invariant) : "-",
                run.TestAccuracy is { } accuracy ? accuracy.ToString("P2", Invariant) : "-");
        }

        output.Write(table);
    }

    public static void PrintComparison(OutputStream output, RunSummary teacher, Comparison comparison)
    {
        output.Line(string.Create(Invariant, $"\nOver seeds {string.Join(", ", comparison.Seeds)} (teacher {(teacher.TestAccuracy is { } accuracy ? accuracy.ToString("P2", Invariant) : "not evaluated")}): test accuracy and last-epoch loss, mean ± sd"));
        var table = ResultTable.Create("Run", ">Accuracy (%)", ">Last-epoch loss", "Per seed (%)");
        foreach (var row in comparison.Rows)
        {
            table.AddTextRow(row.Name, MeanAndSpread(row.Accuracy, 100, "F2"), MeanAndSpread(row.LastEpochLoss, 1, "F4"), PerSeed(row.Accuracy));
        }

        foreach (var gain in comparison.Gains)
        {
            AddGainRow(table, gain.Name, gain.Points, columns: 4);
        }

        output.Write(table);
    }

    private static void AddGainRow(Table table, string name, Spread points, int columns)
    {
        var (mean, perSeed) = GainCells(points);
        table.AddTextRow([name, mean, .. Enumerable.Repeat("", columns - 3), perSeed]);
    }

    private static string MeanAndSpread(Spread spread, double scale, string format) =>
        $"{(spread.Mean * scale).ToString(format, Invariant)} ± {(spread.StandardDeviation * scale).ToString(format, Invariant)}";

    private static string PerSeed(Spread accuracy) => string.Join(" ", accuracy.Values.Select(v => (v * 100).ToString("F2", Invariant)));

    private static string Percent(double? value) => value is { } v ? (v * 100).ToString("F2", Invariant) : "-";

    private static string Time(double seconds) => TrainingProgressView.Duration(TimeSpan.FromSeconds(seconds));
}
