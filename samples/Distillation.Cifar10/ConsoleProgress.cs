using System.Diagnostics;
using System.Globalization;
using Distillation.Data;
using Distillation.Diagnostics;
using Distillation.Training;

namespace Distillation.Cifar10;

/// <summary>
/// Renders training progress: a one-line bar with ETA on a terminal, and one line per epoch
/// everywhere (also when the output goes to a file, where the bar is left out).
/// </summary>
internal sealed class ConsoleProgress : IProgress<TrainingProgress>, IProgress<DownloadProgress>
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;
    private readonly bool interactive = !Console.IsOutputRedirected;
    private readonly Stopwatch runClock = new();
    private long lastDraw;
    private bool barShown;

    /// <summary>What the per-epoch accuracy is measured on: "test", or "validation" with a validation set.</summary>
    public string EvaluationSet { get; set; } = "test";

    /// <summary>Starts timing a new run, for its ETA.</summary>
    public void StartRun() => runClock.Restart();

    public void Report(TrainingProgress value)
    {
        switch (value)
        {
            case BatchProgress batch when interactive:
                DrawBar(batch);
                break;
            case EpochReport epoch:
                ClearBar();
                var parts = epoch.LossParts.Count > 1
                    ? " (" + string.Join(", ", epoch.LossParts.Select(p => string.Create(Invariant, $"{p.Key} {p.Value:F4}"))) + ")"
                    : "";
                var accuracy = epoch.Accuracy is { } a ? string.Create(Invariant, $", {EvaluationSet} accuracy {a:P2}") : "";
                if (epoch is { Agreement: { } agreement, TeacherKLDivergence: { } divergence, TeacherAccuracy: { } teacherAccuracy })
                {
                    accuracy += string.Create(Invariant, $", agreement {agreement:P2}, KL {divergence:F4} (teacher {teacherAccuracy:P2})");
                }


                // Resident memory each epoch, so growth across epochs shows in the log.
                var memory = ProcessMemory.Read() is { } m ? string.Create(Invariant, $", RSS {m.ResidentMiB:N0} MiB") : "";
                Console.WriteLine(string.Create(Invariant,
                    $"  Epoch {epoch.Epoch}/{epoch.Epochs}, Loss: {epoch.MeanLoss:F4}{parts}, {epoch.ImagesPerSecond:N0} images/s, {Format(epoch.TrainingTime)}{accuracy}{memory}"));
                break;
        }
    }

    public void Report(DownloadProgress value)
    {
        if (!interactive)
        {
            return;
        }

        var now = Stopwatch.GetTimestamp();
        if (Stopwatch.GetElapsedTime(lastDraw, now) < TimeSpan.FromMilliseconds(200) && value.BytesReceived != value.TotalBytes)
        {
            return;
        }

        lastDraw = now;
        var total = value.TotalBytes is { } t ? string.Create(Invariant, $" of {t / 1048576.0:F1} MiB") : "";
        Console.Write(string.Create(Invariant, $"\r  downloading {value.BytesReceived / 1048576.0:F1} MiB{total}   "));
        barShown = true;
        if (value.BytesReceived == value.TotalBytes)
        {
            ClearBar();
        }
    }

    private void DrawBar(BatchProgress batch)
    {
        var now = Stopwatch.GetTimestamp();
        if (Stopwatch.GetElapsedTime(lastDraw, now) < TimeSpan.FromMilliseconds(200) && batch.Batch != batch.BatchCount)
        {
            return;
        }

        lastDraw = now;
        var done = (batch.Epoch - 1 + (double)batch.Batch / batch.BatchCount) / batch.Epochs;
        var eta = done > 0 ? TimeSpan.FromSeconds(runClock.Elapsed.TotalSeconds * (1 - done) / done) : TimeSpan.Zero;
        const int width = 30;
        var filled = (int)Math.Round(done * width);
        Console.Write(string.Create(Invariant,
            $"\r  [{new string('#', filled)}{new string('.', width - filled)}] {done,4:P0} epoch {batch.Epoch}/{batch.Epochs} batch {batch.Batch}/{batch.BatchCount} ETA {Format(eta)}   "));
        barShown = true;
    }

    private void ClearBar()
    {
        if (barShown)
        {
            Console.Write("\r" + new string(' ', Math.Max(0, Console.WindowWidth - 1)) + "\r");
            barShown = false;
        }
    }

    public static string Format(TimeSpan time) => time.TotalHours >= 1
        ? string.Create(Invariant, $"{(int)time.TotalHours}h {time.Minutes:D2}m {time.Seconds:D2}s")
        : time.TotalMinutes >= 1
            ? string.Create(Invariant, $"{time.Minutes}m {time.Seconds:D2}s")
            : string.Create(Invariant, $"{time.TotalSeconds:F1}s");
}
