using System.Globalization;
using System.Text;
using Distillation.Evaluation;
using Distillation.IO;
using Distillation.Training;

namespace Distillation.Cifar10;

/// <summary>One trained model's detailed evaluation, with the run it came from.</summary>
/// <param name="Kind">The run's name in the tables (e.g. <c>Teacher</c>, <c>(a) KD from baseline</c>); the same for every seed.</param>
/// <param name="Seed">The seed of a <c>--seeds</c> run; null in the notebook's runs.</param>
/// <param name="Phase">How the model was trained (teacher, student alone, distillation).</param>
/// <param name="Report">The footprint, evaluation and speed; its model name is <see cref="RunName"/>.</param>
internal sealed record ModelEvaluation(string Kind, long? Seed, TrainingPhase Phase, EvaluationReport Report)
{
    /// <summary>The run's name in the CSV files: the kind, and the seed when there is one.</summary>
    public string RunName => NameOf(Kind, Seed);

    /// <summary>The name a run of <paramref name="kind"/> goes by, e.g. <c>Student baseline, seed 42</c>.</summary>
    public static string NameOf(string kind, long? seed) => seed is { } s ? $"{kind}, seed {s}" : kind;
}

/// <summary>
/// Collects the histories and detailed evaluations of the sample's runs and writes them: one JSON
/// report per model, the training history of every run in one CSV, and the summary, per-class and
/// confusion tables (<see cref="EvaluationReport.WriteCsvFiles"/>).
/// </summary>
internal sealed class RunReports
{
    /// <summary>The training history of every run, one row per run and epoch.</summary>
    public const string HistoryFileName = "training-history.csv";

    private readonly List<(string Run, TrainingResult Result)> histories = [];
    private readonly List<ModelEvaluation> evaluations = [];

    /// <summary>The evaluations collected so far, in order.</summary>
    public IReadOnlyList<ModelEvaluation> Evaluations => evaluations;

    /// <summary>Adds a run's epoch history.</summary>
    public void AddHistory(string run, TrainingResult result) => histories.Add((run, result));

    /// <summary>Adds a model's evaluation.</summary>
    public void Add(ModelEvaluation evaluation) => evaluations.Add(evaluation);

    /// <summary>
    /// The file name of a model's JSON report: <c>report-</c>, then the run name in lower case with
    /// every run of characters other than letters and digits turned into one hyphen.
    /// </summary>
    public static string ReportFileName(string runName)
    {
        var slug = new StringBuilder();
        foreach (var c in runName.ToLowerInvariant())
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                slug.Append(c);
            }
            else if (slug.Length > 0 && slug[^1] != '-')
            {
                slug.Append('-');
            }
        }

        return $"report-{slug.ToString().TrimEnd('-')}.json";
    }

    /// <summary>
    /// Writes every file into <paramref name="folder"/>, each atomically through <paramref name="writer"/>
    /// (<see cref="AtomicFile.Write"/> by default); a file that cannot be written is reported to
    /// <paramref name="warn"/> in one line and the others are still written. Returns the paths written.
    /// </summary>
    public IReadOnlyList<string> WriteFiles(string folder, Action<string>? warn = null, FileWriter? writer = null)
    {
        var files = new List<(string Name, Action<TextWriter> Write)>();
        foreach (var evaluation in evaluations)
        {
            files.Add((ReportFileName(evaluation.RunName), text => text.Write(evaluation.Report.ToJson())));
        }

        if (histories.Count > 0)
        {
            files.Add((HistoryFileName, text => TrainingResult.WriteHistoryCsv(text, histories)));
        }

        if (evaluations.Count > 0)
        {
            var all = evaluations.Select(e => e.Report).ToArray();
            files.Add((EvaluationReport.SummaryCsvFileName, text => EvaluationReport.WriteSummaryCsv(text, all)));
            files.Add((EvaluationReport.PerClassCsvFileName, text => EvaluationReport.WritePerClassCsv(text, all)));
            files.Add((EvaluationReport.ConfusionCsvFileName, text => EvaluationReport.WriteConfusionCsv(text, all)));
        }

        var paths = new List<string>();
        foreach (var (name, write) in files)
        {
            var path = Path.Combine(folder, name);
            using var text = new StringWriter(CultureInfo.InvariantCulture);
            write(text);
            if (SampleFiles.TryWriteText(path, text.ToString(), warn ?? (_ => { }), writer))
            {
                paths.Add(path);
            }
        }

        return paths;
    }
}
