using System.Globalization;
using Distillation.IO;

namespace Distillation.Evaluation;

// The CSV form of reports: three tables, one row per model, per class, and per confusion cell. RFC 4180: CRLF line ends, a field with a comma, quote or line break in double quotes (inner quotes doubled); numbers in the invariant culture. A number that is absent or not finite (the NaN accuracy of a class with no image) is an empty field.
public sealed partial record EvaluationReport
{
    /// <summary>The file name of the summary table in <see cref="WriteCsvFiles"/>.</summary>
    public const string SummaryCsvFileName = "summary.csv";

    /// <summary>The file name of the per-class table in <see cref="WriteCsvFiles"/>.</summary>
    public const string PerClassCsvFileName = "per-class-accuracy.csv";

    /// <summary>The file name of the confusion table in <see cref="WriteCsvFiles"/>.</summary>
    public const string ConfusionCsvFileName = "confusion-matrix.csv";

    /// <summary>
    /// One row per model: <c>model, parameters, trainable_parameters, weight_bytes, images,
    /// top1_accuracy, top5_accuracy, top_k, evaluation_seconds, speed_batch_size,
    /// images_per_second, ms_per_image_at_batch_size, ms_per_image_at_batch_size_1</c>; the speed
    /// columns are empty for a model whose speed was not measured.
    /// </summary>
    /// <param name="writer">Where to write.</param>
    /// <param name="reports">The models.</param>
    public static void WriteSummaryCsv(TextWriter writer, IEnumerable<EvaluationReport> reports)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(reports);
        Csv.WriteRow(
            writer,
            "model", "parameters", "trainable_parameters", "weight_bytes", "images",
            "top1_accuracy", "top5_accuracy", "top_k", "evaluation_seconds",
            "speed_batch_size", "images_per_second", "ms_per_image_at_batch_size", "ms_per_image_at_batch_size_1");
        foreach (var report in reports)
        {
            var evaluation = report.Evaluation;
            var speed = report.Speed;
            Csv.WriteRow(
                writer,
                report.ModelName,
                Csv.Integer(report.Footprint.Parameters),
                Csv.Integer(report.Footprint.TrainableParameters),
                Csv.Integer(report.Footprint.WeightBytes),
                Csv.Integer(evaluation.Total),
                Csv.Number(evaluation.Top1Accuracy),
                Csv.Number(evaluation.Top5Accuracy),
                Csv.Integer(evaluation.TopK),
                Csv.Number(evaluation.Elapsed.TotalSeconds),
                speed is null ? null : Csv.Integer(speed.BatchSize),
                Csv.Number(speed?.ImagesPerSecond),
                Csv.Number(speed?.MillisecondsPerImageAtBatchSize),
                Csv.Number(speed?.MillisecondsPerImageAtBatchSize1));
        }
    }

    /// <summary>One row per model and class, in label order: <c>model, class, images, correct, accuracy</c>.</summary>
    /// <param name="writer">Where to write.</param>
    /// <param name="reports">The models.</param>
    public static void WritePerClassCsv(TextWriter writer, IEnumerable<EvaluationReport> reports)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(reports);
        Csv.WriteRow(writer, "model", "class", "images", "correct", "accuracy");
        foreach (var report in reports)
        {
            foreach (var c in report.Evaluation.PerClass)
            {
                Csv.WriteRow(writer, report.ModelName, c.Name, Csv.Integer(c.Images), Csv.Integer(c.Correct), Csv.Number(c.Accuracy));
            }
        }
    }

    /// <summary>
    /// One row per model and confusion cell, zeros included, true class major:
    /// <c>model, true, predicted, count</c>, the classes by name.
    /// </summary>
    /// <param name="writer">Where to write.</param>
    /// <param name="reports">The models.</param>
    public static void WriteConfusionCsv(TextWriter writer, IEnumerable<EvaluationReport> reports)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(reports);
        Csv.WriteRow(writer, "model", "true", "predicted", "count");
        foreach (var report in reports)
        {
            var names = report.Evaluation.ClassNames;
            var confusion = report.Evaluation.Confusion;
            for (var t = 0; t < confusion.ClassCount; t++)
            {
                for (var p = 0; p < confusion.ClassCount; p++)
                {
                    Csv.WriteRow(writer, report.ModelName, names[t], names[p], Csv.Integer(confusion[t, p]));
                }
            }
        }
    }

    /// <summary>
    /// Writes the three tables into <paramref name="folder"/> as <see cref="SummaryCsvFileName"/>,
    /// <see cref="PerClassCsvFileName"/> and <see cref="ConfusionCsvFileName"/>, each atomically.
    /// </summary>
    /// <param name="folder">The folder; created if needed.</param>
    /// <param name="reports">The models.</param>
    /// <returns>The paths written, in that order.</returns>
    public static IReadOnlyList<string> WriteCsvFiles(string folder, IEnumerable<EvaluationReport> reports)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentNullException.ThrowIfNull(reports);
        var all = reports.ToArray();
        var tables = new (string Name, Action<TextWriter, IEnumerable<EvaluationReport>> Write)[]
        {
            (SummaryCsvFileName, WriteSummaryCsv),
            (PerClassCsvFileName, WritePerClassCsv),
            (ConfusionCsvFileName, WriteConfusionCsv),
        };

        var paths = new List<string>();
        foreach (var (name, write) in tables)
        {
            using var text = new StringWriter(CultureInfo.InvariantCulture);
            write(text, all);
            var path = Path.Combine(folder, name);
            AtomicFile.WriteAllText(path, text.ToString());
            paths.Add(path);
        }

        return paths;
    }
}
