using System.Globalization;

namespace Distillation.Cifar10;

/// <summary>The tables the sample prints: the results, the seed comparison and the recipe with its gains.</summary>
internal static class ConsoleTables
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static void PrintRecipe(RunSummary teacher, RecipeComparison recipe)
    {
        string Percent(double? value) => value is { } v ? (v * 100).ToString("F2", Invariant) : "-";
        string Time(double seconds) => ConsoleProgress.Format(TimeSpan.FromSeconds(seconds));
        Console.WriteLine(string.Create(Invariant,
            $"\nOver seeds {string.Join(", ", recipe.Seeds)}: {recipe.EvaluatedOn} accuracy, mean ± sd (teacher {Percent(teacher.TestAccuracy)} %, {(teacher.TrainingSeconds > 0 ? "trained in " + Time(teacher.TrainingSeconds) : "loaded")})"));
        Console.WriteLine($"{"Run",-22} {"Accuracy (%)",16}   {"Training time",16}   Per seed (%)");
        Console.WriteLine(new string('-', 84));
        foreach (var row in recipe.Rows)
        {
            Console.WriteLine(string.Create(Invariant,
                $"{row.Name,-22} {row.Accuracy.Mean * 100,7:F2} ± {row.Accuracy.StandardDeviation * 100,5:F2}   {Time(row.TrainingSeconds.Mean),16}   {string.Join(" ", row.Accuracy.Values.Select(v => (v * 100).ToString("F2", Invariant)))}"));
        }

        if (recipe.Gain is null)
        {
            return;
        }

        Console.WriteLine(GainLine("Gain over the control", recipe.Gain, meanWidth: 7));
    }

    /// <summary>One gain in points: the mean with its sign, the spread, and each seed's gain with its sign.</summary>
    public static string GainLine(string name, Spread points, int meanWidth) =>
        string.Create(Invariant,
            $"{name,-22} {(points.Mean * 100).ToString("+0.00;-0.00", Invariant).PadLeft(meanWidth)} ± {points.StandardDeviation * 100,5:F2} points   per seed {string.Join(" ", points.Values.Select(v => (v * 100).ToString("+0.00;-0.00", Invariant)))}");

    public static void PrintTable(string title, IReadOnlyList<RunSummary> runs, string evaluatedOn = "test")
    {
        Console.WriteLine($"\n{title}");
        Console.WriteLine($"{"Model",-22} {"Parameters",12} {"Time to train",15} {"Last-epoch loss",16} {char.ToUpperInvariant(evaluatedOn[0]) + evaluatedOn[1..] + " accuracy",14}");
        Console.WriteLine(new string('-', 83));
        foreach (var run in runs)
        {
            var time = run.TrainingSeconds > 0 ? ConsoleProgress.Format(TimeSpan.FromSeconds(run.TrainingSeconds)) : "(loaded)";
            var loss = run.LastEpochLoss is { } l ? l.ToString("F4", Invariant) : "-";
            Console.WriteLine(string.Create(Invariant,
                $"{run.Name,-22} {run.Parameters,12:N0} {time,15} {loss,16} {(run.TestAccuracy is { } accuracy ? accuracy.ToString("P2", Invariant) : "-"),14}"));
        }
    }

    public static void PrintComparison(RunSummary teacher, Comparison comparison)
    {
        Console.WriteLine(string.Create(Invariant, $"\nOver seeds {string.Join(", ", comparison.Seeds)} (teacher {(teacher.TestAccuracy is { } accuracy ? accuracy.ToString("P2", Invariant) : "not evaluated")}): test accuracy and last-epoch loss, mean ± sd"));
        Console.WriteLine($"{"Run",-22} {"Accuracy (%)",18} {"Last-epoch loss",20}   Per seed (%)");
        Console.WriteLine(new string('-', 90));
        foreach (var row in comparison.Rows)
        {
            Console.WriteLine(string.Create(Invariant,
                $"{row.Name,-22} {row.Accuracy.Mean * 100,8:F2} ± {row.Accuracy.StandardDeviation * 100,5:F2}   {row.LastEpochLoss.Mean,9:F4} ± {row.LastEpochLoss.StandardDeviation,7:F4}   {string.Join(" ", row.Accuracy.Values.Select(v => (v * 100).ToString("F2", Invariant)))}"));
        }

        foreach (var gain in comparison.Gains)
        {
            Console.WriteLine(GainLine(gain.Name, gain.Points, meanWidth: 8));
        }
    }
}
