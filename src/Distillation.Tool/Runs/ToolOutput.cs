using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Distillation.Evaluation;
using Distillation.Training;

namespace Distillation.Tool.Runs;

/// <summary>
/// What a command prints, through the console layer it shares with the sample: progress (a bar per
/// epoch on a terminal, one line per epoch in a log), result lines and tables. With <c>--quiet</c>
/// only the results; with <c>--json</c> standard output holds the one JSON object and nothing else
/// (the progress and the result lines go to standard error, or with <c>--quiet</c> nowhere).
/// </summary>
internal sealed class ToolOutput : IProgress<TrainingProgress>
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>How the commands write JSON: results.json, reports and --json output alike.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    private readonly Terminal terminal;
    private readonly OutputStream? progress;
    private readonly OutputStream? results;
    private readonly TrainingProgressView view;

    public ToolOutput(Terminal terminal, bool quiet, bool json = false)
    {
        this.terminal = terminal;
        Json = json;
        var human = json ? terminal.Error : terminal.Out;
        progress = quiet ? null : human;
        results = json && quiet ? null : human;
        view = new TrainingProgressView(progress);
    }

    /// <summary>The help of the training commands' --json.</summary>
    public const string JsonHelp = "Print the run's results (those of results.json) as one JSON object on standard output, and nothing else there: the progress and the result lines go to standard error (none with --quiet).";

    /// <summary>Whether standard output is for the JSON object only.</summary>
    public bool Json { get; }

    /// <summary>Images per training batch, for the progress bar's images/s.</summary>
    public int BatchSize
    {
        get => view.BatchSize;
        set => view.BatchSize = value;
    }

    /// <summary>A progress line: left out with --quiet.</summary>
    public void Progress(string line) => progress?.Line(line);

    /// <summary>A result line: printed unless --json --quiet (on standard error with --json).</summary>
    public void Result(string line) => results?.Line(line);

    /// <summary>With --json, the object that is all of standard output; otherwise nothing.</summary>
    public void PrintJson(string json)
    {
        if (Json)
        {
            terminal.Out.Writer.WriteLine(json);
        }
    }

    public void Report(TrainingProgress value) => view.Report(value);

    /// <summary>Runs a training run with the progress display (a live bar on a terminal).</summary>
    public T Track<T>(Func<T> run) => view.Track(run);

    /// <summary>Accuracy, top-5, and with <paramref name="tables"/> the per-class table and the confusion matrix.</summary>
    public void PrintEvaluation(string name, DetailedEvaluation evaluation, bool tables)
    {
        Result(string.Create(Invariant, $"{name}: accuracy {evaluation.Top1Accuracy:P2} ({evaluation.Top1Correct:N0}/{evaluation.Total:N0}), top-{evaluation.TopK} {evaluation.Top5Accuracy:P2}"));
        if (!tables || results is null)
        {
            return;
        }

        var perClass = ResultTable.Create("Class", ">Images", ">Correct", ">Accuracy");
        foreach (var row in evaluation.PerClass)
        {
            perClass.AddTextRow(row.Name, row.Images.ToString("N0", Invariant), row.Correct.ToString("N0", Invariant), row.Accuracy.ToString("P1", Invariant));
        }

        results.Line();
        results.Write(perClass);
        results.Line();
        results.Line("Confusion matrix (rows: true class, columns: predicted class, in the order above):");
        var matrix = evaluation.Confusion.ToArray();
        var confusion = ResultTable.Create(["", .. Enumerable.Range(0, matrix.Length).Select(c => ">" + c.ToString(Invariant))]);
        for (var r = 0; r < matrix.Length; r++)
        {
            confusion.AddTextRow([evaluation.ClassNames[r], .. matrix[r].Select(v => v.ToString(Invariant))]);
        }

        results.Write(confusion);
    }

    public static string Format(TimeSpan time) => TrainingProgressView.Duration(time);

    public static string Elapsed(Stopwatch clock) => Format(clock.Elapsed);
}
