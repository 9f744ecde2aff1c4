using System.Diagnostics;
using System.Globalization;
using Distillation.Evaluation;
using Distillation.Training;

namespace Distillation.Tool.Runs;

/// <summary>What a command prints: one line per epoch (plain lines, fit for logs), results and tables.</summary>
internal sealed class ToolOutput(TextWriter output, bool quiet) : IProgress<TrainingProgress>
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public TextWriter Writer => output;

    /// <summary>A progress line: left out with --quiet.</summary>
    public void Progress(string line)
    {
        if (!quiet)
        {
            output.WriteLine(line);
        }
    }

    /// <summary>A result line: always printed.</summary>
    public void Result(string line) => output.WriteLine(line);

    public void Report(TrainingProgress value)
    {
        if (value is EpochReport epoch)
        {
            var accuracy = epoch.Accuracy is { } a ? string.Create(Invariant, $", test accuracy {a:P2}") : "";
            if (epoch is { Agreement: { } agreement, TeacherKLDivergence: { } divergence, TeacherAccuracy: { } teacherAccuracy })
            {
                accuracy += string.Create(Invariant, $", agreement {agreement:P2}, KL {divergence:F4} (teacher {teacherAccuracy:P2})");
            }

            Progress(string.Create(Invariant, $"  epoch {epoch.Epoch}/{epoch.Epochs}: loss {epoch.MeanLoss:F4}, {epoch.ImagesPerSecond:N0} images/s, {Format(epoch.TrainingTime)}{accuracy}"));
        }
    }

    /// <summary>Accuracy, top-5, and with <paramref name="tables"/> the per-class table and the confusion matrix.</summary>
    public void PrintEvaluation(string name, DetailedEvaluation evaluation, bool tables)
    {
        Result(string.Create(Invariant, $"{name}: accuracy {evaluation.Top1Accuracy:P2} ({evaluation.Top1Correct:N0}/{evaluation.Total:N0}), top-{evaluation.TopK} {evaluation.Top5Accuracy:P2}"));
        if (!tables)
        {
            return;
        }

        var width = Math.Max(5, evaluation.ClassNames.Max(n => n.Length));
        Result("");
        Result($"{"Class".PadRight(width)} {"Images",8} {"Correct",8} {"Accuracy",9}");
        foreach (var row in evaluation.PerClass)
        {
            Result(string.Create(Invariant, $"{row.Name.PadRight(width)} {row.Images,8:N0} {row.Correct,8:N0} {row.Accuracy,9:P1}"));
        }

        Result("");
        Result("Confusion matrix (rows: true class, columns: predicted class, in the order above):");
        var matrix = evaluation.Confusion.ToArray();
        var cell = Math.Max(3, matrix.SelectMany(r => r).Select(v => v.ToString(Invariant).Length).Max());
        Result($"{"".PadRight(width)} {string.Join(" ", Enumerable.Range(0, matrix.Length).Select(c => c.ToString(Invariant).PadLeft(cell)))}");
        for (var r = 0; r < matrix.Length; r++)
        {
            Result($"{evaluation.ClassNames[r].PadRight(width)} {string.Join(" ", matrix[r].Select(v => v.ToString(Invariant).PadLeft(cell)))}");
        }
    }

    public static string Format(TimeSpan time) => time.TotalHours >= 1
        ? string.Create(Invariant, $"{(int)time.TotalHours}h {time.Minutes:D2}m {time.Seconds:D2}s")
        : time.TotalMinutes >= 1
            ? string.Create(Invariant, $"{time.Minutes}m {time.Seconds:D2}s")
            : string.Create(Invariant, $"{time.TotalSeconds:F1}s");

    public static string Elapsed(Stopwatch clock) => Format(clock.Elapsed);
}
