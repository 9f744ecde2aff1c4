using System.Diagnostics;
using System.Globalization;
using System.Text;
using Distillation.Data;
using Distillation.Devices;
using static TorchSharp.torch;

namespace Distillation.Benchmarks;

/// <summary>
/// Image folders: images/s of one pass of <c>GetBatch</c> over a shuffled plan, streamed
/// (<see cref="StreamingImageFolder"/>, decoded in prefetched batches) against resident
/// (<see cref="ImageFolderDataset"/>, decoded once up front, whose load is timed as its own case),
/// on a folder of PNGs written from CIFAR-10. Cases alternate within every round.
/// </summary>
internal static class StreamingBenchmark
{
    public static BenchReport Run(BenchOptions options)
    {
        DeviceSelector.Resolve(new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads });
        var clock = Stopwatch.StartNew();
        var root = options.Folder ?? Path.Combine(Path.GetTempPath(), $"distill-bench-png-{options.Images}");
        var notes = new List<string>();
        if (!Directory.Exists(root))
        {
            using var data = BenchData.Load(options, options.Images, 1);
            Console.WriteLine($"Writing {data.Train.Count:N0} PNGs ({data.Source}) to {root} …");
            var seconds = Stats.Seconds(() => ImageFolderWriter.WritePng(data.Train, root));
            notes.Add(Invariant($"PNG folder {root} written from {data.Source} in {seconds:F1} s ({data.Train.Count / seconds:N0} images/s)"));
        }
        else
        {
            notes.Add($"PNG folder {root} reused (already there)");
        }

        var folderOptions = new ImageFolderOptions { ImageSize = options.ImageSize, Order = ImageFolderOrder.FileName };
        var count = 0;
        double ResidentLoad()
        {
            var seconds = Stats.Seconds(() =>
            {
                using var resident = ImageFolderDataset.Load(root, folderOptions);
                count = resident.Count;
            });
            return count / seconds;
        }

        using var resident = ImageFolderDataset.Load(root, folderOptions);
        count = resident.Count;
        double Pass(IBatchSource source, long seed)
        {
            using var generator = new Generator((ulong)seed);
            using var plan = source.PlanBatches(options.BatchSize, generator);
            var seconds = Stats.Seconds(() =>
            {
                for (var b = 0; b < plan.BatchCount; b++)
                {
                    using var scope = NewDisposeScope();
                    plan.GetBatch(b);
                }
            });
            return plan.ImageCount / seconds;
        }

        double Streamed(int prefetch, long seed)
        {
            var streamOptions = new ImageFolderOptions { ImageSize = options.ImageSize, Order = ImageFolderOrder.FileName, PrefetchBatches = prefetch };
            using var streaming = StreamingImageFolder.Open(root, streamOptions);
            return Pass(streaming, seed);
        }

        var cases = new (string Name, Func<long, double> Run)[]
        {
            ("resident: one pass over the decoded tensor", seed => Pass(resident, seed)),
            ("resident: load (decode the whole folder)", _ => ResidentLoad()),
            ("streaming, prefetch 2: one pass", seed => Streamed(2, seed)),
            ("streaming, no prefetch: one pass", seed => Streamed(0, seed)),
        };
        var samples = cases.ToDictionary(c => c.Name, _ => new List<double>());
        for (var round = 0; round < options.Warmup + options.Repeats; round++)
        {
            foreach (var (name, run) in cases)
            {
                var imagesPerSecond = run(round);
                Console.WriteLine(Invariant($"round {round}{(round < options.Warmup ? " (warm-up)" : string.Empty)}: {name}: {imagesPerSecond:N0} images/s"));
                if (round >= options.Warmup)
                {
                    samples[name].Add(imagesPerSecond);
                }
            }
        }

        var residentBytes = ImageFolderDataset.ResidentBytes(count, options.ImageSize);
        var streamingBytes = (long)(2 + 1) * options.BatchSize * 3 * options.ImageSize * options.ImageSize;
        notes.Add(Invariant($"{count:N0} images at {options.ImageSize}×{options.ImageSize}, batch {options.BatchSize}, {options.Threads} intra-op threads, decoding on {Environment.ProcessorCount} threads"));
        notes.Add(Invariant($"resident images and labels: {residentBytes / 1e6:F1} MB; streaming holds the file list and at most 3 batches of pixels (prefetch 2 + the current): {streamingBytes / 1e6:F1} MB"));
        notes.Add("the machine is shared with other agents' builds and tests: absolute figures vary with their load (see the load average); the cases alternate within each round, so their ratios are the comparable figures");
        return new BenchReport
        {
            Mode = options.Mode,
            Environment = BenchEnvironment.Capture(options, root),
            Cases = cases.Select(c => new CaseResult(c.Name, Stats.Of(samples[c.Name]), null, null, "images/s")).ToArray(),
            Memory = [MemorySample.Take("all rounds")],
            Notes = notes,
            WallSeconds = clock.Elapsed.TotalSeconds,
        };
    }

    /// <summary>Writes CIFAR-10 as <c>folder/train/&lt;class&gt;/&lt;index&gt;.png</c> and <c>folder/test/…</c>, the binary files' order in the names.</summary>
    public static BenchReport WritePngFolder(BenchOptions options)
    {
        var root = options.Folder ?? throw new UsageException("png-folder needs --folder DIR.");
        var clock = Stopwatch.StartNew();
        var notes = new List<string>();
        foreach (var (split, name) in new[] { (Cifar10Split.Train, ImageFolderDataset.TrainFolderName), (Cifar10Split.Test, ImageFolderDataset.TestFolderName) })
        {
            using var data = Cifar10Dataset.Load(options.Data, split);
            var target = Path.Combine(root, name);
            var seconds = Stats.Seconds(() => ImageFolderWriter.WritePng(data, target));
            var line = Invariant($"{data.Count:N0} {split} images written to {target} in {seconds:F1} s");
            Console.WriteLine(line);
            notes.Add(line);
        }

        return new BenchReport { Mode = options.Mode, Environment = BenchEnvironment.Capture(options, options.Data), Notes = notes, WallSeconds = clock.Elapsed.TotalSeconds };
    }

    public static string Markdown(BenchReport report)
    {
        var text = new StringBuilder();
        text.AppendLine("| Case | images/s (median) | min–max | rounds |");
        text.AppendLine("|---|---:|---:|---:|");
        foreach (var c in report.Cases.Where(c => c.Stats is not null))
        {
            text.AppendLine(Invariant($"| {c.Name} | {c.Stats!.Median:N0} | {c.Stats.Min:N0}–{c.Stats.Max:N0} | {c.Stats.Count} |"));
        }

        foreach (var note in report.Notes)
        {
            text.AppendLine();
            text.AppendLine("- " + note);
        }

        return text.ToString();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
