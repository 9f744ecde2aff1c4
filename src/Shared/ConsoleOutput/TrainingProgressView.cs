using System.Collections.Concurrent;
using System.Globalization;
using Distillation.Data;
using Distillation.Diagnostics;
using Distillation.Training;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Distillation.ConsoleOutput;

/// <summary>
/// Shows training progress on one stream. Every epoch ends with one line (<see cref="EpochLine"/>):
/// in a log that line is all there is. On a terminal, while <see cref="Track{T}(Func{T})"/> runs, a
/// Spectre progress display also shows a bar per epoch (phase, epoch, step/steps, images/s,
/// elapsed) below the lines, and a bar for a download.
/// </summary>
internal sealed class TrainingProgressView : IProgress<TrainingProgress>, IProgress<DownloadProgress>
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    private readonly OutputStream? stream;
    private readonly Func<ProcessMemory?> memory;
    private readonly ConcurrentDictionary<int, string> counts = new();
    private ProgressContext? live;
    private ProgressTask? epochBar;
    private int epochOfBar;
    private ProgressTask? downloadBar;

    /// <summary>Progress on <paramref name="stream"/>, or nowhere when it is null (<c>--quiet</c>).</summary>
    /// <param name="stream">Where the lines and bars go.</param>
    /// <param name="memory">The resident memory printed at the end of each epoch line (null leaves it out); <see cref="ProcessMemory.Read"/> by default.</param>
    public TrainingProgressView(OutputStream? stream, Func<ProcessMemory?>? memory = null)
    {
        this.stream = stream;
        this.memory = memory ?? ProcessMemory.Read;
    }

    /// <summary>What the per-epoch accuracy is measured on: "test", or "validation" with a validation set.</summary>
    public string EvaluationSet { get; set; } = "test";

    /// <summary>Images per training batch, for the bar's images/s (the epoch line has the exact rate); 0 leaves the rate out.</summary>
    public int BatchSize { get; set; }

    /// <summary>
    /// Whether bars are drawn: only on a terminal that Spectre can redraw (interactive, with ANSI codes);
    /// elsewhere Spectre would print its fallback lines, which a log does not need beside the epoch lines.
    /// </summary>
    public bool ShowsBars => stream is { IsTerminal: true, Console.Profile.Capabilities: { Interactive: true, Ansi: true } };

    /// <summary>Runs <paramref name="run"/> (a training run) with the progress display on a terminal; elsewhere just runs it.</summary>
    public T Track<T>(Func<T> run)
    {
        if (!ShowsBars)
        {
            return run();
        }

        return NewDisplay().Start(context =>
        {
            live = context;
            try
            {
                return run();
            }
            finally
            {
                live = null;
                epochBar = null;
                downloadBar = null;
                counts.Clear();
            }
        });
    }

    /// <summary>Runs <paramref name="run"/> (a download) with the progress display on a terminal; elsewhere just runs it.</summary>
    public async Task<T> TrackAsync<T>(Func<Task<T>> run)
    {
        if (!ShowsBars)
        {
            return await run().ConfigureAwait(false);
        }

        return await NewDisplay().StartAsync(async context =>
        {
            live = context;
            try
            {
                return await run().ConfigureAwait(false);
            }
            finally
            {
                live = null;
                downloadBar = null;
                counts.Clear();
            }
        }).ConfigureAwait(false);
    }

    public void Report(TrainingProgress value)
    {
        switch (value)
        {
            case BatchProgress batch when live is { } context:
                if (epochBar is null || epochOfBar != batch.Epoch)
                {
                    epochBar?.StopTask();
                    epochBar = context.AddTask(Markup.Escape(string.Create(Invariant, $"{PhaseName(batch.Phase)}, epoch {batch.Epoch}/{batch.Epochs}")), maxValue: batch.BatchCount);
                    epochOfBar = batch.Epoch;
                }

                var rate = BatchSize > 0 && batch.EpochElapsed > TimeSpan.Zero
                    ? string.Create(Invariant, $", {batch.Batch * (double)BatchSize / batch.EpochElapsed.TotalSeconds:N0} images/s")
                    : "";
                counts[epochBar.Id] = string.Create(Invariant, $"step {batch.Batch}/{batch.BatchCount}{rate}");
                epochBar.Value = batch.Batch;
                break;
            case EpochReport epoch:
                if (epochBar is { } bar)
                {
                    bar.Value = bar.MaxValue;
                    bar.StopTask();
                    epochBar = null;
                }

                stream?.Line(EpochLine(epoch, EvaluationSet, memory()));
                break;
        }
    }

    public void Report(DownloadProgress value)
    {
        if (live is not { } context)
        {
            return;
        }

        downloadBar ??= context.AddTask("downloading", maxValue: Math.Max(1, value.TotalBytes ?? 1));
        if (value.TotalBytes is { } total)
        {
            downloadBar.MaxValue = Math.Max(1, total);
        }

        var of = value.TotalBytes is { } t ? string.Create(Invariant, $" of {t / 1048576.0:F1} MiB") : "";
        counts[downloadBar.Id] = string.Create(Invariant, $"{value.BytesReceived / 1048576.0:F1} MiB{of}");
        downloadBar.Value = value.BytesReceived;
    }

    /// <summary>
    /// The line that ends an epoch, e.g. <c>  Epoch 3/10, Loss: 1.0331, 7,625 images/s, 6.6s, test accuracy 62.62 %, RSS 1,345 MiB</c>:
    /// the loss (with its parts when there are several), the throughput and time, the accuracy when
    /// evaluated, the fidelity to the teacher when measured, and the resident memory.
    /// </summary>
    public static string EpochLine(EpochReport epoch, string evaluationSet, ProcessMemory? memory)
    {
        var parts = epoch.LossParts.Count > 1
            ? " (" + string.Join(", ", epoch.LossParts.Select(p => string.Create(Invariant, $"{p.Key} {p.Value:F4}"))) + ")"
            : "";
        var accuracy = epoch.Accuracy is { } a ? string.Create(Invariant, $", {evaluationSet} accuracy {a:P2}") : "";
        if (epoch is { Agreement: { } agreement, TeacherKLDivergence: { } divergence, TeacherAccuracy: { } teacherAccuracy })
        {
            accuracy += string.Create(Invariant, $", agreement {agreement:P2}, KL {divergence:F4} (teacher {teacherAccuracy:P2})");
        }

        // Resident memory each epoch, so growth across epochs shows in the log.
        var resident = memory is { } m ? string.Create(Invariant, $", RSS {m.ResidentMiB:N0} MiB") : "";
        return string.Create(Invariant,
            $"  Epoch {epoch.Epoch}/{epoch.Epochs}, Loss: {epoch.MeanLoss:F4}{parts}, {epoch.ImagesPerSecond:N0} images/s, {Duration(epoch.TrainingTime)}{accuracy}{resident}");
    }

    /// <summary>A duration as people read it: <c>6.5s</c>, <c>1m 06s</c>, <c>2h 03m 10s</c>.</summary>
    public static string Duration(TimeSpan time) => time.TotalHours >= 1
        ? string.Create(Invariant, $"{(int)time.TotalHours}h {time.Minutes:D2}m {time.Seconds:D2}s")
        : time.TotalMinutes >= 1
            ? string.Create(Invariant, $"{time.Minutes}m {time.Seconds:D2}s")
            : string.Create(Invariant, $"{time.TotalSeconds:F1}s");

    private static string PhaseName(TrainingPhase phase) => phase switch
    {
        TrainingPhase.Teacher => "teacher",
        TrainingPhase.StudentAlone => "student alone",
        _ => "distillation",
    };

    private Progress NewDisplay() => stream!.Console.Progress()
        .AutoClear(true)
        .HideCompleted(true)
        .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new CountColumn(counts), new ElapsedTimeColumn());

    /// <summary>The bar's count: step/steps and images/s of an epoch, or MiB of a download.</summary>
    private sealed class CountColumn(ConcurrentDictionary<int, string> counts) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(counts.TryGetValue(task.Id, out var count) ? count : "");
    }
}
