using System.Diagnostics;
using System.Globalization;
using System.Text;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Models;
using Distillation.Serialization;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Benchmarks;

/// <summary>One reading during the long run: where training stood, and memory at that moment.</summary>
/// <param name="Kind"><c>start</c>, <c>batch</c> (every N steps), <c>epoch</c> (after the epoch's report, evaluation included) or <c>end</c>.</param>
/// <param name="Epoch">The epoch, from 1 (0 before training).</param>
/// <param name="Batch">Batches done in the epoch.</param>
/// <param name="Step">Batches done since the run began.</param>
/// <param name="Seconds">Wall time since the run began.</param>
/// <param name="ResidentMiB">VmRSS.</param>
/// <param name="PeakResidentMiB">VmHWM.</param>
/// <param name="LiveTensors">TorchSharp tensor handles alive.</param>
/// <param name="ManagedHeapMiB">The .NET heap (<see cref="GC.GetTotalMemory(bool)"/> without a collection).</param>
internal sealed record StabilitySample(
    string Kind, int Epoch, int Batch, long Step, double Seconds, double ResidentMiB, double PeakResidentMiB, long LiveTensors, double ManagedHeapMiB);

/// <summary>One epoch of the long run.</summary>
/// <param name="LoadAverage">The 1-minute load average at the epoch's end (other work on the machine slows the epoch).</param>
internal sealed record StabilityEpoch(int Epoch, double ImagesPerSecond, double TrainingSeconds, double MeanLoss, double? Accuracy, double ResidentMiBAfter, long LiveTensorsAfter, double? LoadAverage);

/// <summary>What the samples say about growth.</summary>
/// <param name="WarmupSteps">Samples at or before this step are left out of the figures below.</param>
/// <param name="ResidentFirstMiB">The first batch sample after the warm-up.</param>
/// <param name="ResidentLastMiB">The last batch sample.</param>
/// <param name="EpochMeanResidentMiB">Mean RSS of each epoch's batch samples after the warm-up.</param>
/// <param name="EpochToEpochMiB">The change of that mean from each epoch to the next.</param>
/// <param name="GrowthPerEpochMiB">(mean of the last epoch − mean of the first) / (epochs − 1).</param>
/// <param name="SlopeMiBPer1000Steps">Least-squares slope of RSS against the step, batch samples after the warm-up.</param>
/// <param name="SlopeMiBPerEpoch">The same slope times the batches of an epoch.</param>
/// <param name="SlopeAfterFirstEpochMiBPerEpoch">The slope over the batch samples of the second epoch on, per epoch: growth that keeps going, not a one-time step.</param>
internal sealed record StabilitySummary(
    int WarmupSteps,
    int StepsPerEpoch,
    int Samples,
    double ResidentFirstMiB,
    double ResidentLastMiB,
    double ResidentMinMiB,
    double ResidentMaxMiB,
    double PeakResidentMiB,
    long LiveTensorsFirst,
    long LiveTensorsLast,
    long LiveTensorsMin,
    long LiveTensorsMax,
    IReadOnlyList<double> EpochMeanResidentMiB,
    IReadOnlyList<double> EpochToEpochMiB,
    double? GrowthPerEpochMiB,
    double? SlopeMiBPer1000Steps,
    double? SlopeMiBPerEpoch,
    double? SlopeAfterFirstEpochMiBPerEpoch,
    double ManagedHeapFirstMiB,
    double ManagedHeapLastMiB,
    string? TeacherWeights);

/// <summary>
/// Several full epochs of live-teacher distillation (the heavier path) with resident memory and the
/// live tensor count read every N steps through the progress callback: a long-run leak check.
/// </summary>
internal static class StabilityBenchmark
{
    /// <summary>Samples up to this step are the warm-up (allocator pools and caches filling).</summary>
    private const int WarmupSteps = 100;

    public static BenchReport Run(BenchOptions options)
    {
        using var data = BenchData.Load(options, options.DistillImages, options.StudentEvalImages);
        Console.WriteLine($"Data: {data.Source}");

        manual_seed(42);
        using var teacher = new TeacherNet();
        string teacherNote;
        if (options.TeacherWeights is { } weights)
        {
            teacher.LoadWeights(weights);
            teacherNote = $"teacher: trained weights from {weights}";
        }
        else
        {
            teacherNote = "teacher: random initialisation (no --teacher-weights); the cost per step is the same, the loss values are not the notebook's";
        }

        Console.WriteLine(teacherNote);
        manual_seed(42);
        using var student = new StudentNet();

        var trainer = new Trainer<TeacherNet, StudentNet>(teacher, student, new TrainerOptions
        {
            Epochs = options.Epochs,
            BatchSize = options.BatchSize,
            Seed = 42,
            EvaluateEveryEpoch = true,
            Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads },
            TeacherOutputs = new TeacherOutputOptions { Cache = false },
        });
        using var kd = DistillationObjective.Notebook();

        var samples = new List<StabilitySample>();
        var epochs = new List<StabilityEpoch>();
        var clock = Stopwatch.StartNew();
        var step = 0L;
        var stepsPerEpoch = 0;

        StabilitySample Take(string kind, int epoch, int batch)
        {
            var m = MemorySample.Take(kind);
            var sample = new StabilitySample(kind, epoch, batch, step, clock.Elapsed.TotalSeconds, m.ResidentMiB, m.PeakResidentMiB, m.LiveTensors,
                GC.GetTotalMemory(false) / (1024.0 * 1024.0));
            samples.Add(sample);
            return sample;
        }

        void Print(StabilitySample s, string extra = "") => Console.WriteLine(Invariant(
            $"{s.Kind,-5} epoch {s.Epoch} batch {s.Batch,4} step {s.Step,5} {s.Seconds,7:F1} s: RSS {s.ResidentMiB,7:F1} MiB, peak {s.PeakResidentMiB,7:F1} MiB, live tensors {s.LiveTensors,4}, managed heap {s.ManagedHeapMiB,6:F1} MiB{extra}"));

        var progress = new SynchronousProgress(p =>
        {
            switch (p)
            {
                case BatchProgress b:
                    step++;
                    stepsPerEpoch = b.BatchCount;
                    if (b.Batch % options.SampleEvery == 0)
                    {
                        Print(Take("batch", b.Epoch, b.Batch));
                    }

                    break;
                case EpochReport e:
                    var s = Take("epoch", e.Epoch, stepsPerEpoch);
                    epochs.Add(new StabilityEpoch(e.Epoch, e.ImagesPerSecond, e.TrainingTime.TotalSeconds, e.MeanLoss, e.Accuracy, s.ResidentMiB, s.LiveTensors, LoadAverage()));
                    Print(s, Invariant($"; {e.ImagesPerSecond:F0} images/s, loss {e.MeanLoss:F4}, accuracy {e.Accuracy:P2}, load average {epochs[^1].LoadAverage:F2}"));
                    break;
            }
        });

        Print(Take("start", 0, 0));
        var result = trainer.Distill(data.Train, data.Test, kd, progress);
        Print(Take("end", options.Epochs, 0));

        var summary = Summarize(samples, stepsPerEpoch, options.TeacherWeights);
        var notes = new List<string> { teacherNote, $"live teacher (Cache = false), notebook KL loss (T = 10, CE + KD), {options.Epochs} epochs, student evaluated on the test images after every epoch" };
        if (result.FinalEvaluation is { } final)
        {
            notes.Add(Invariant($"student accuracy after the run: {final.Accuracy:P2}"));
        }

        return new BenchReport
        {
            Mode = "stability",
            Environment = BenchEnvironment.Capture(options, data.Source),
            Memory = samples.Where(s => s.Kind != "batch").Select(s => new MemorySample($"{s.Kind} {s.Epoch}", s.PeakResidentMiB, s.ResidentMiB, s.LiveTensors)).ToList(),
            Stability = new StabilityResult(summary, epochs, samples),
            Notes = notes,
            WallSeconds = clock.Elapsed.TotalSeconds,
        };
    }

    private static StabilitySummary Summarize(List<StabilitySample> all, int stepsPerEpoch, string? teacherWeights)
    {
        var batches = all.Where(s => s.Kind == "batch").ToList();
        var warmup = WarmupSteps;
        var settled = batches.Where(s => s.Step > warmup).ToList();
        if (settled.Count == 0)
        {
            // A short run (a smoke test): every sample counts.
            warmup = 0;
            settled = batches.Count > 0 ? batches : all;
        }

        var epochMeans = settled.GroupBy(s => s.Epoch).OrderBy(g => g.Key).Select(g => g.Average(s => s.ResidentMiB)).ToList();
        double? growth = epochMeans.Count >= 2 ? (epochMeans[^1] - epochMeans[0]) / (epochMeans.Count - 1) : null;
        var epochToEpoch = epochMeans.Skip(1).Select((m, i) => m - epochMeans[i]).ToList();
        var slope = Slope(settled);
        var slopeLater = Slope(settled.Where(s => s.Epoch >= 2).ToList());

        return new StabilitySummary(
            warmup,
            stepsPerEpoch,
            settled.Count,
            settled[0].ResidentMiB,
            settled[^1].ResidentMiB,
            settled.Min(s => s.ResidentMiB),
            settled.Max(s => s.ResidentMiB),
            all.Max(s => s.PeakResidentMiB),
            settled[0].LiveTensors,
            settled[^1].LiveTensors,
            settled.Min(s => s.LiveTensors),
            settled.Max(s => s.LiveTensors),
            epochMeans,
            epochToEpoch,
            growth,
            slope * 1000,
            slope * stepsPerEpoch,
            slopeLater * stepsPerEpoch,
            settled[0].ManagedHeapMiB,
            settled[^1].ManagedHeapMiB,
            teacherWeights);
    }

    /// <summary>Least-squares slope of RSS (MiB) against the step; null with fewer than 3 samples.</summary>
    private static double? Slope(List<StabilitySample> samples)
    {
        if (samples.Count < 3)
        {
            return null;
        }

        var meanX = samples.Average(s => (double)s.Step);
        var meanY = samples.Average(s => s.ResidentMiB);
        var sxx = samples.Sum(s => (s.Step - meanX) * (s.Step - meanX));
        var sxy = samples.Sum(s => (s.Step - meanX) * (s.ResidentMiB - meanY));
        return sxx > 0 ? sxy / sxx : null;
    }

    private static double? LoadAverage() =>
        File.Exists("/proc/loadavg") && double.TryParse(File.ReadAllText("/proc/loadavg").Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var load) ? load : null;

    public static string Markdown(BenchReport report)
    {
        var text = new StringBuilder();
        if (report.Stability is not { } stability)
        {
            return "";
        }

        var s = stability.Summary;
        text.AppendLine("| Epoch | images/s | seconds | mean loss | accuracy | RSS after (MiB) | live tensors after | load average |");
        text.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var e in stability.Epochs)
        {
            text.AppendLine(Invariant($"| {e.Epoch} | {e.ImagesPerSecond:N0} | {e.TrainingSeconds:F1} | {e.MeanLoss:F4} | {e.Accuracy:P2} | {e.ResidentMiBAfter:N1} | {e.LiveTensorsAfter} | {e.LoadAverage:F2} |"));
        }

        text.AppendLine();
        text.AppendLine(Invariant($"Batch samples after step {s.WarmupSteps} ({s.Samples} samples, {s.StepsPerEpoch} steps per epoch):"));
        text.AppendLine(Invariant($"  RSS first {s.ResidentFirstMiB:F1} MiB, last {s.ResidentLastMiB:F1} MiB, min {s.ResidentMinMiB:F1} MiB, max {s.ResidentMaxMiB:F1} MiB; peak (VmHWM) {s.PeakResidentMiB:F1} MiB"));
        text.AppendLine(Invariant($"  live tensors first {s.LiveTensorsFirst}, last {s.LiveTensorsLast}, min {s.LiveTensorsMin}, max {s.LiveTensorsMax}"));
        text.AppendLine("  mean RSS per epoch: " + string.Join(", ", s.EpochMeanResidentMiB.Select((m, i) => Invariant($"epoch {i + 1} {m:F1} MiB"))));
        text.AppendLine("  change of the mean from epoch to epoch: " + string.Join(", ", s.EpochToEpochMiB.Select((d, i) => Invariant($"{i + 1}→{i + 2} {d:+0.0;−0.0;0.0} MiB"))));
        text.AppendLine(Invariant($"  growth per epoch (last epoch's mean − first's, per epoch): {s.GrowthPerEpochMiB:+0.0;−0.0;0.0} MiB"));
        text.AppendLine(Invariant($"  linear slope of RSS over steps: {s.SlopeMiBPer1000Steps:+0.00;−0.00;0.00} MiB per 1,000 steps ({s.SlopeMiBPerEpoch:+0.00;−0.00;0.00} MiB per epoch); from epoch 2 on {s.SlopeAfterFirstEpochMiBPerEpoch:+0.00;−0.00;0.00} MiB per epoch"));
        text.AppendLine(Invariant($"  managed heap first {s.ManagedHeapFirstMiB:F1} MiB, last {s.ManagedHeapLastMiB:F1} MiB"));
        foreach (var note in report.Notes)
        {
            text.AppendLine(note);
        }

        return text.ToString();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>Runs the handler on the reporting (training) thread, unlike <see cref="Progress{T}"/>, which posts it elsewhere.</summary>
    private sealed class SynchronousProgress(Action<TrainingProgress> handler) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => handler(value);
    }
}

/// <summary>The long run's figures: the summary, each epoch, every sample.</summary>
internal sealed record StabilityResult(StabilitySummary Summary, IReadOnlyList<StabilityEpoch> Epochs, IReadOnlyList<StabilitySample> Samples);
