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
        new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads }.Resolve();
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
            notes.Add($"image folder {root} reused (already there)");
        }

        var folderOptions = new ImageFolderOptions { ImageSize = options.ImageSize, Order = ImageFolderOrder.FileName };
        var decodeThreads = options.DecodeThreads ?? Environment.ProcessorCount;
        var augmentation = options.Augment ? new BatchAugmentation(AugmentationOptions.ForImageSize(options.ImageSize), folderOptions.Normalization) : null;
        var augmented = augmentation is null ? string.Empty : $" + {DataWait.Describe(augmentation.Options)}";
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

        using var resident = options.StreamedOnly ? null : ImageFolderDataset.Load(root, folderOptions);
        double Pass(IBatchSource source, long seed)
        {
            using var generator = new Generator((ulong)seed);
            using var draws = new Generator((ulong)seed + 1);

            // The plan is made inside the timing: a streamed plan starts decoding ahead as it is made.
            var images = 0;
            var seconds = Stats.Seconds(() =>
            {
                // As the trainer plans a pass: a source that crops while decoding does, on its decode threads.
                using var plan = (augmentation is null ? null : source.PlanAugmentedBatches(options.BatchSize, generator, augmentation.Options, draws))
                    ?? source.PlanBatches(options.BatchSize, generator);
                images = plan.ImageCount;
                for (var b = 0; b < plan.BatchCount; b++)
                {
                    using var scope = NewDisposeScope();
                    var batch = plan.GetBatch(b);

                    // Otherwise, as the trainer does: the augmentation runs on the normalized batch, on the training thread.
                    if (!plan.AugmentedBySource)
                    {
                        augmentation?.Apply(batch.Images, draws);
                    }
                }
            });
            return images / seconds;
        }

        ImageFolderOptions StreamOptions(int prefetch, bool cropWhileDecoding = true) => new()
        {
            ImageSize = options.ImageSize,
            Order = ImageFolderOrder.FileName,
            PrefetchBatches = prefetch,
            MaxDegreeOfParallelism = decodeThreads,
            CropWhileDecoding = cropWhileDecoding,
        };

        double Streamed(int prefetch, long seed, bool cropWhileDecoding = true)
        {
            using var streaming = StreamingImageFolder.Open(root, StreamOptions(prefetch, cropWhileDecoding));
            count = streaming.Count;
            return Pass(streaming, seed);
        }

        var cases = new List<(string Name, Func<long, double> Run)>();
        if (resident is not null)
        {
            count = resident.Count;
            cases.Add(("resident: one pass over the decoded tensor" + augmented, seed => Pass(resident, seed)));
            cases.Add(("resident: load (decode the whole folder)", _ => ResidentLoad()));
        }

        var cropsWhileDecoding = augmentation?.Options.RandomResizedCrop == true;
        cases.Add(($"streaming, prefetch 2, {Threads(decodeThreads)}: one pass{augmented}{(cropsWhileDecoding ? " (while decoding)" : string.Empty)}", seed => Streamed(2, seed)));
        if (cropsWhileDecoding)
        {
            // The same pass with the crop on the reading thread, from the image resized to the dataset's size (the resident path's way).
            cases.Add(($"streaming, prefetch 2, {Threads(decodeThreads)}: one pass{augmented} (on the reading thread)", seed => Streamed(2, seed, cropWhileDecoding: false)));
        }

        if (!options.StreamedOnly)
        {
            cases.Add(($"streaming, no prefetch, {Threads(decodeThreads)}: one pass{augmented}", seed => Streamed(0, seed)));
        }

        var samples = cases.ToDictionary(c => c.Name, _ => new List<double>());
        var waits = options.Model is null ? null : new DataWait(options, root, StreamOptions(2));
        for (var round = 0; round < options.Warmup + options.Repeats; round++)
        {
            var warm = round < options.Warmup;
            foreach (var (name, run) in cases)
            {
                var imagesPerSecond = run(round);
                Console.WriteLine(Invariant($"round {round}{(warm ? " (warm-up)" : string.Empty)}: {name}: {imagesPerSecond:N0} images/s"));
                if (!warm)
                {
                    samples[name].Add(imagesPerSecond);
                }
            }

            if (waits is not null)
            {
                var (step, wait, firstWait) = waits.Measure(round);
                Console.WriteLine(Invariant($"round {round}{(warm ? " (warm-up)" : string.Empty)}: {waits.Name}: step {step * 1000:F0} ms, waiting for data {wait * 1000:F1} ms ({100 * wait / step:F1} %), first step's wait {firstWait * 1000:F0} ms"));
                if (!warm)
                {
                    waits.Keep(step, wait, firstWait);
                }
            }
        }

        if (waits is not null)
        {
            notes.Add(waits.Description);
        }
        var residentBytes = ImageFolderDataset.ResidentBytes(count, options.ImageSize);
        var streamingBytes = (long)(2 + 1) * options.BatchSize * 3 * options.ImageSize * options.ImageSize;
        notes.Add(Invariant($"{count:N0} images at {options.ImageSize}×{options.ImageSize}, batch {options.BatchSize}, {options.Threads} intra-op threads, decoding on {decodeThreads} threads (MaxDegreeOfParallelism) of {Environment.ProcessorCount} cores{(augmentation is null ? string.Empty : $"; every batch augmented ({DataWait.Describe(augmentation.Options)}) on the reading thread, as the trainer does")}"));
        notes.Add(Invariant($"resident images and labels: {residentBytes / 1e6:F1} MB; streaming holds the file list and at most 3 batches of pixels (prefetch 2 + the current): {streamingBytes / 1e6:F1} MB"));
        notes.Add("the machine is shared with other agents' builds and tests: absolute figures vary with their load (see the load average); the cases alternate within each round, so their ratios are the comparable figures");
        return new BenchReport
        {
            Mode = options.Mode,
            Environment = BenchEnvironment.Capture(options, root),
            Cases = [.. cases.Select(c => new CaseResult(c.Name, Stats.Of(samples[c.Name]), null, null, "images/s")), .. waits?.Cases ?? []],
            DataPathShares = waits?.Shares ?? [],
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
        text.AppendLine("| Case | median | min–max | unit | rounds |");
        text.AppendLine("|---|---:|---:|---|---:|");
        foreach (var c in report.Cases.Where(c => c.Stats is not null))
        {
            text.AppendLine(Invariant($"| {c.Name} | {c.Stats!.Median:N1} | {c.Stats.Min:N1}–{c.Stats.Max:N1} | {c.Note} | {c.Stats.Count} |"));
        }

        foreach (var share in report.DataPathShares)
        {
            text.AppendLine(Invariant($"| {share.Name} | {100 * share.Share:F1} % | | target ≤ {100 * share.Target:F0} %: {(share.Met ? "met" : "not met")} | |"));
        }

        foreach (var note in report.Notes)
        {
            text.AppendLine();
            text.AppendLine("- " + note);
        }

        return text.ToString();
    }

    private static string Threads(int count) => count == 1 ? "1 decode thread" : $"{count} decode threads";

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
