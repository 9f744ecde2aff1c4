using System.Globalization;
using Distillation.IO;

namespace Distillation.Training;

public sealed partial record TrainingResult
{
    private static readonly string[] FidelityColumns = ["agreement", "teacher_kl", "teacher_accuracy"];

    /// <summary>
    /// Writes the epoch histories of training runs as one CSV table, one row per run and epoch: <c>run, phase, epoch, mean_loss, loss_&lt;part&gt;…, accuracy, images_per_second, seconds</c>. There is one <c>loss_&lt;part&gt;</c> column for every loss part named in any run (in order of first appearance), empty where a run has no such part; <c>accuracy</c> is empty for an epoch without evaluation. When any epoch measured fidelity (<see cref="TrainerOptions.TrackFidelity"/>), three more columns follow: <c>agreement, teacher_kl, teacher_accuracy</c>, empty where an epoch has none. RFC 4180, invariant culture, as <see cref="Evaluation.EvaluationReport.WriteSummaryCsv"/>.
    /// </summary>
    /// <param name="writer">Where to write.</param>
    /// <param name="runs">The runs, each with the name its rows carry.</param>
    public static void WriteHistoryCsv(TextWriter writer, IEnumerable<(string Run, TrainingResult Result)> runs)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(runs);
        var all = runs.ToArray();

        // Prefixed, so a part cannot collide with a fixed column.
        var parts = all.SelectMany(r => r.Result.History).SelectMany(e => e.LossParts.Keys).Distinct(StringComparer.Ordinal).ToArray();
        var fidelity = all.SelectMany(r => r.Result.History).Any(e => e.Agreement is not null);
        Csv.WriteRow(
            writer,
            ["run", "phase", "epoch", "mean_loss", .. parts.Select(p => "loss_" + p), "accuracy", "images_per_second", "seconds", .. (fidelity ? FidelityColumns : Array.Empty<string>())]);
        foreach (var (run, result) in all)
        {
            foreach (var epoch in result.History)
            {
                Csv.WriteRow(
                    writer,
                    [
                        run,
                        epoch.Phase.ToString(),
                        Csv.Integer(epoch.Epoch),
                        Csv.Number(epoch.MeanLoss),
                        .. parts.Select(p => epoch.LossParts.TryGetValue(p, out var value) ? Csv.Number(value) : null),
                        Csv.Number(epoch.Accuracy),
                        Csv.Number(epoch.ImagesPerSecond),
                        Csv.Number(epoch.TrainingTime.TotalSeconds),
                        .. (fidelity ? new string?[] { Csv.Number(epoch.Agreement), Csv.Number(epoch.TeacherKLDivergence), Csv.Number(epoch.TeacherAccuracy) } : Array.Empty<string?>()),
                    ]);
            }
        }
    }

    /// <summary>Writes the table to <paramref name="path"/> atomically.</summary>
    /// <param name="path">The file; its folder is created if needed.</param>
    /// <param name="runs">The runs, each with the name its rows carry.</param>
    public static void WriteHistoryCsvFile(string path, IEnumerable<(string Run, TrainingResult Result)> runs)
    {
        using var text = new StringWriter(CultureInfo.InvariantCulture);
        WriteHistoryCsv(text, runs);
        AtomicFile.WriteAllText(path, text.ToString());
    }
}
