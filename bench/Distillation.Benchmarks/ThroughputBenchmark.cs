using System.Diagnostics;
using System.Globalization;
using System.Text;
using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Models;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Benchmarks;

/// <summary>
/// End-to-end images/s of every phase through the library's public API, alternating the cases
/// within each round; the plain-loop overhead; the data path's share of a step; memory per round.
/// </summary>
internal static class ThroughputBenchmark
{
    private const string TeacherTraining = "teacher training";
    private const string TeacherPlainLoop = "teacher training, plain TorchSharp loop";
    private const string StudentTraining = "student training";
    private const string LiveDistillation = "distillation, live teacher";
    private const string CachedDistillation = "distillation, cached teacher outputs";
    private const string CachedDistillationWithBuild = "distillation, cached, one epoch including the cache build";
    private const string TeacherEvaluation = "teacher evaluation";
    private const string StudentEvaluation = "student evaluation";

    public static BenchReport Run(BenchOptions options)
    {
        var trainImages = Math.Max(Math.Max(options.TeacherImages, options.StudentImages), options.DistillImages);
        var testImages = Math.Max(options.TeacherEvalImages, options.StudentEvalImages);
        using var data = BenchData.Load(options, trainImages, testImages);
        using var teacherSlice = data.Train.Take(options.TeacherImages);
        using var studentSlice = data.Train.Take(options.StudentImages);
        using var distillSlice = data.Train.Take(options.DistillImages);
        using var teacherEval = data.Test.Take(options.TeacherEvalImages);
        using var studentEval = data.Test.Take(options.StudentEvalImages);
        Console.WriteLine($"Data: {data.Source}");

        TrainerOptions TrainerOptions(bool cache) => new()
        {
            Epochs = 1,
            BatchSize = options.BatchSize,
            Seed = 42,
            Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads },
            TeacherOutputs = new TeacherOutputOptions { Cache = cache },
        };

        manual_seed(42);
        using var teacher = new TeacherNet();
        manual_seed(42);
        using var student = new StudentNet();

        // Two trainers over the same models: the live teacher, and the teacher's outputs computed once
        // per training call (in memory) and sliced per batch, the library's default without augmentation.
        var trainer = new Trainer<TeacherNet, StudentNet>(teacher, student, TrainerOptions(false));
        var cachingTrainer = new Trainer<TeacherNet, StudentNet>(teacher, student, TrainerOptions(true));
        using var kd = DistillationObjective.Notebook();
        var cachedEpochRates = new List<double>();

        manual_seed(42);
        using var plainTeacher = new TeacherNet();
        using var plain = new PlainLoop(plainTeacher, teacherSlice.Normalization);

        // Each case runs one epoch (or one evaluation) and returns images and seconds, end to end.
        var cases = new List<(string Name, Func<(long Images, double Seconds)> Run)>
        {
            (TeacherTraining, () => Timed(teacherSlice.Count, () => trainer.TrainTeacher(teacherSlice))),
            (TeacherPlainLoop, () => Timed(teacherSlice.Count, () => plain.Epoch(teacherSlice, options.BatchSize))),
            (StudentTraining, () => Timed(studentSlice.Count, () => trainer.TrainStudent(studentSlice))),
            (LiveDistillation, () => Timed(distillSlice.Count, () => trainer.Distill(distillSlice, loss: kd))),
        };
        // End to end, one call is the cache build plus one epoch; the epoch alone (the library's own
        // epoch timing) is what every further epoch costs, and is kept beside it.
        cases.Add((CachedDistillationWithBuild, () => Timed(distillSlice.Count, () =>
        {
            var result = cachingTrainer.Distill(distillSlice, loss: kd);
            if (!result.TeacherOutputsCached)
            {
                throw new InvalidOperationException("The teacher's outputs were not cached.");
            }

            cachedEpochRates.Add(result.History[0].ImagesPerSecond);
        })));

        cases.Add((TeacherEvaluation, () => Timed(teacherEval.Count, () => trainer.EvaluateTeacher(teacherEval))));
        cases.Add((StudentEvaluation, () => Timed(studentEval.Count, () => trainer.EvaluateStudent(studentEval))));

        var samples = cases.ToDictionary(c => c.Name, _ => new List<double>(), StringComparer.Ordinal);
        samples[CachedDistillation] = [];
        var dataPathSeconds = new List<double>();
        var overheads = new List<double>();
        var memory = new List<MemorySample> { MemorySample.Take("start") };
        var clock = Stopwatch.StartNew();

        for (var round = -options.Warmup; round < options.Repeats; round++)
        {
            var warm = round < 0;

            // Alternate: odd rounds run the cases in reverse order, so drift on the shared machine hits all alike.
            var order = round % 2 == 0 ? cases : Enumerable.Reverse(cases).ToList();
            var rates = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var (name, run) in order)
            {
                var (images, seconds) = run();
                rates[name] = images / seconds;
                memory.Add(MemorySample.Take(warm ? $"warm-up: {name}" : $"round {round + 1}: {name}"));
            }

            var dataPath = DataPathSecondsPerBatch(studentSlice, options.BatchSize);
            var label = warm ? "warm-up" : $"round {round + 1}/{options.Repeats}";
            Console.WriteLine($"{label}: " + string.Join(", ", cases.Select(c => Invariant($"{c.Name} {rates[c.Name]:F0}"))) + Invariant($"; cached epoch {cachedEpochRates[^1]:F0}; data path {dataPath * 1000:F2} ms/batch"));
            if (warm)
            {
                continue;
            }

            foreach (var (name, rate) in rates)
            {
                samples[name].Add(rate);
            }

            samples[CachedDistillation].Add(cachedEpochRates[^1]);

            dataPathSeconds.Add(dataPath);
            overheads.Add(1 - (rates[TeacherTraining] / rates[TeacherPlainLoop]));
        }

        var stats = samples.ToDictionary(s => s.Key, s => Stats.Of(s.Value), StringComparer.Ordinal);
        double? StepSeconds(string name) => stats[name] is { } s ? options.BatchSize / s.Median : null;
        var dataPathStats = Stats.Of(dataPathSeconds);
        var studentRate = stats[StudentTraining]?.Median;

        var rows = new List<CaseResult>
        {
            Row(TeacherTraining, Targets.TeacherTraining),
            Row(StudentTraining, Targets.StudentTraining),
            Row(LiveDistillation, Targets.LiveDistillation),
            Row(CachedDistillation, studentRate * Targets.CachedShareOfStudent, Invariant($"{Targets.CachedShareOfStudent:P0} of student training; per epoch, after the build")),
            Row(CachedDistillationWithBuild, null, "end to end: the build plus one epoch"),
            Row(TeacherEvaluation, Targets.TeacherEvaluation),
            Row(StudentEvaluation, null),
            Row(TeacherPlainLoop, null, "reference for the overhead"),
        };

        CaseResult Row(string name, double? target, string? note = null) =>
            new(name, stats.GetValueOrDefault(name), target, target is { } t && stats.GetValueOrDefault(name) is { } s ? s.Median >= t : null, note);

        var overhead = Stats.Of(overheads);
        var shares = new List<ShareResult>();
        if (dataPathStats is not null)
        {
            foreach (var name in new[] { TeacherTraining, StudentTraining })
            {
                if (StepSeconds(name) is { } step)
                {
                    var share = dataPathStats.Median / step;
                    shares.Add(new ShareResult($"data path / {name} step", share, Targets.DataPathShare, share < Targets.DataPathShare));
                }
            }
        }

        memory.Add(MemorySample.Take("end"));
        return new BenchReport
        {
            Mode = "throughput",
            Environment = BenchEnvironment.Capture(options, data.Source),
            Cases = rows,
            Overhead = overhead is null ? null : new OverheadResult(
                "1 − teacher training (library) / teacher training (plain loop), per round",
                overhead, Targets.LibraryOverhead, overhead.Median < Targets.LibraryOverhead),
            DataPathMillisecondsPerBatch = dataPathStats is null ? null : dataPathStats with
            {
                Median = dataPathStats.Median * 1000, Min = dataPathStats.Min * 1000, Max = dataPathStats.Max * 1000,
            },
            DataPathShares = shares,
            Memory = memory,
            Samples = samples.ToDictionary(s => s.Key, s => (IReadOnlyList<double>)s.Value, StringComparer.Ordinal),
            WallSeconds = clock.Elapsed.TotalSeconds,
        };
    }

    /// <summary>
    /// The data path of one training batch through the public API: slice through a permutation,
    /// normalize, and augment (crop from 4-pixel padding, flip), averaged over 40 batches.
    /// </summary>
    private static double DataPathSecondsPerBatch(ImageDataset data, int batchSize)
    {
        const int batches = 40;
        using var shuffle = new Generator(7);
        using var draws = new Generator(8);
        var augmentation = new BatchAugmentation(new AugmentationOptions(), data.Normalization);
        using var plan = data.PlanBatches(batchSize, shuffle);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < batches; i++)
        {
            using var scope = NewDisposeScope();
            var batch = plan.GetBatch(i % plan.BatchCount);
            augmentation.Apply(batch.Images, draws);
        }

        return clock.Elapsed.TotalSeconds / batches;
    }

    private static (long Images, double Seconds) Timed(long images, Action run)
    {
        var clock = Stopwatch.StartNew();
        run();
        return (images, clock.Elapsed.TotalSeconds);
    }

    private static (long Images, double Seconds) Timed<T>(long images, Func<T> run) => Timed(images, () => { run(); });

    public static string Markdown(BenchReport report)
    {
        var text = new StringBuilder();
        text.AppendLine("| Case | Median images/s | Min | Max | Target | Met |");
        text.AppendLine("|---|---:|---:|---:|---:|:---:|");
        foreach (var row in report.Cases)
        {
            var target = row.Target is { } t ? Invariant($"≥ {t:N0}") : "";
            if (row.Note is { } note && row.Stats is not null)
            {
                target = target.Length == 0 ? note : $"{target} ({note})";
            }

            var met = row.Met switch { true => "yes", false => "**no**", null => "" };
            text.AppendLine(row.Stats is { } s
                ? Invariant($"| {row.Name} | {s.Median:N0} | {s.Min:N0} | {s.Max:N0} | {target} | {met} |")
                : $"| {row.Name} | {row.Note} | | | | |");
        }

        if (report.Overhead is { } o)
        {
            text.AppendLine(Invariant($"| library overhead over the plain loop | {o.Stats.Median:P1} | {o.Stats.Min:P1} | {o.Stats.Max:P1} | < {o.Target:P0} | {(o.Met ? "yes" : "**no**")} |"));
        }

        foreach (var share in report.DataPathShares)
        {
            text.AppendLine(Invariant($"| {share.Name} | {share.Share:P2} | | | < {share.Target:P0} | {(share.Met ? "yes" : "**no**")} |"));
        }

        return text.ToString();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
