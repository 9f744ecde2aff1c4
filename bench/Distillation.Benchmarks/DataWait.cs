using System.Diagnostics;
using System.Globalization;
using Distillation.Data;
using Distillation.Devices;
using Distillation.Models;
using Distillation.Models.Zoo;
using Distillation.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Benchmarks;

/// <summary>
/// The share of a training step spent waiting for data, measured in the trainer itself: a zoo model
/// trained with cross-entropy (<see cref="Trainer{TTeacher, TStudent}.TrainStudent"/>, the training
/// augmentation of the image size) on a <see cref="StreamingImageFolder"/> that prefetches 2 batches,
/// for a few steps. The wait is the time <see cref="BatchPlan.GetBatch"/> takes on the training
/// thread (waiting for the prefetched decode, then converting and normalizing); the step is the time
/// between two step-end callbacks (the batch, the augmentation, forward, backward and the
/// optimizer step). The first step is left out of the share: its batch is decoded from cold, as
/// at the start of every epoch, which a longer run amortises.
/// </summary>
internal sealed class DataWait
{
    private readonly BenchOptions options;
    private readonly string root;
    private readonly ImageFolderOptions folderOptions;
    private readonly List<double> steps = [];
    private readonly List<double> waits = [];
    private readonly List<double> firstWaits = [];

    public DataWait(BenchOptions options, string root, ImageFolderOptions folderOptions)
    {
        this.options = options;
        this.root = root;
        this.folderOptions = folderOptions;

        Name = string.Create(CultureInfo.InvariantCulture,
            $"training {options.Model} at {folderOptions.ImageSize} px, batch {options.BatchSize}, {folderOptions.MaxDegreeOfParallelism} decode thread{(folderOptions.MaxDegreeOfParallelism == 1 ? string.Empty : "s")}, {options.Threads} intra-op threads");
    }

    public string Name { get; }

    /// <summary>The augmentation in words (its crop and flip; the bench mixes nothing).</summary>
    public static string Describe(AugmentationOptions augmentation) =>
        (augmentation.RandomResizedCrop
            ? string.Create(CultureInfo.InvariantCulture, $"random-resized crop {augmentation.CropScaleMin:R} to {augmentation.CropScaleMax:R}")
            : string.Create(CultureInfo.InvariantCulture, $"pad-and-crop {augmentation.Padding}"))
        + (augmentation.HorizontalFlip ? ", flip" : string.Empty);

    public string Description => string.Create(CultureInfo.InvariantCulture,
        $"data wait: {Name}; Trainer.TrainStudent (cross-entropy, {DataWait.Describe(AugmentationOptions.ForImageSize(folderOptions.ImageSize))}) on the streamed folder (prefetch {folderOptions.PrefetchBatches}), {options.Steps} steps a round; the wait is GetBatch on the training thread, the step the time between step ends, both per step over steps 2…{options.Steps} (the first, decoded from cold, reported apart)");

    /// <summary>One short run: mean seconds per step and per wait over the steps after the first, and the first step's wait.</summary>
    public (double Step, double Wait, double FirstWait) Measure(long seed)
    {
        using var folder = StreamingImageFolder.Open(root, folderOptions);
        var timed = new WaitTimedSource(folder);
        var clock = new StepClock(options.Steps);
        var trainerOptions = new TrainerOptions
        {
            Epochs = 1,
            BatchSize = options.BatchSize,
            Seed = seed,
            Augmentation = AugmentationOptions.ForImageSize(folderOptions.ImageSize),
            Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads },
        };
        trainerOptions.Callbacks.Add(clock);
        using var model = ModelZoo.Create(options.Model!, classes: folder.ClassNames.Count);

        // TrainStudent never calls the teacher; the trainer's constructor needs one.
        using var unusedTeacher = new StudentNet();
        var trainer = new Trainer<StudentNet, nn.Module<Tensor, Tensor>>(unusedTeacher, model, trainerOptions);
        trainer.TrainStudent(timed);
        var stepTimes = clock.StepSeconds;
        if (stepTimes.Count < 2 || timed.WaitSeconds.Count < stepTimes.Count)
        {
            throw new InvalidOperationException($"The data-wait run took {stepTimes.Count} steps and {timed.WaitSeconds.Count} batches; it needs at least 2 steps (the folder holds {folder.Count} images, batch {options.BatchSize}).");
        }

        var later = stepTimes.Count - 1;
        return (stepTimes.Skip(1).Sum() / later, timed.WaitSeconds.Skip(1).Take(later).Sum() / later, timed.WaitSeconds[0]);
    }

    public void Keep(double step, double wait, double firstWait)
    {
        steps.Add(step * 1000);
        waits.Add(wait * 1000);
        firstWaits.Add(firstWait * 1000);
    }

    public IReadOnlyList<CaseResult> Cases =>
    [
        new(Name + ": step", Stats.Of(steps), null, null, "ms per step"),
        new(Name + ": waiting for data", Stats.Of(waits), null, null, "ms per step"),
        new(Name + ": the first step's wait (cold)", Stats.Of(firstWaits), null, null, "ms"),
    ];

    /// <summary>The share over all timed rounds (total wait over total step time); the issue's goal is at most 10 %.</summary>
    public IReadOnlyList<ShareResult> Shares
    {
        get
        {
            if (steps.Count == 0)
            {
                return [];
            }

            var share = waits.Sum() / steps.Sum();
            return [new ShareResult(Name + ": data wait share of a step", share, 0.10, share <= 0.10)];
        }
    }

    /// <summary>Timestamps the step ends and stops the run after the asked number of steps.</summary>
    private sealed class StepClock(int stepsWanted) : ITrainingCallback
    {
        private readonly Stopwatch clock = new();
        private TimeSpan last;

        public List<double> StepSeconds { get; } = [];

        public void OnRunStart(RunStartContext context)
        {
            clock.Restart();
            last = TimeSpan.Zero;
        }

        public void OnStepEnd(StepEndContext context)
        {
            var now = clock.Elapsed;
            StepSeconds.Add((now - last).TotalSeconds);
            last = now;
            if (StepSeconds.Count >= stepsWanted)
            {
                context.StopTraining();
            }
        }
    }

    /// <summary>
    /// A source that times every <see cref="BatchPlan.GetBatch"/> of the one it wraps. Its plans keep
    /// the wrapped plan's order (the wrapped plan draws the permutation); their
    /// <see cref="BatchPlan.GetIndices"/> would give the stored order, which only a cached teacher
    /// reads, and this run has none.
    /// </summary>
    private sealed class WaitTimedSource(IBatchSource inner) : IBatchSource
    {
        public List<double> WaitSeconds { get; } = [];

        public int Count => inner.Count;

        public IReadOnlyList<string> ClassNames => inner.ClassNames;

        public ImageNormalization Normalization => inner.Normalization;

        public BatchPlan PlanBatches(int batchSize, Generator? shuffle = null) => new TimedPlan(this, inner.PlanBatches(batchSize, shuffle));

        // Forwarded, so the streamed folder crops while decoding here as it does under the trainer.
        BatchPlan? IBatchSource.PlanAugmentedBatches(int batchSize, Generator? shuffle, AugmentationOptions augmentation, Generator draws) =>
            inner.PlanAugmentedBatches(batchSize, shuffle, augmentation, draws) is { } plan ? new TimedPlan(this, plan) : null;

        private sealed class TimedPlan(WaitTimedSource owner, BatchPlan plan) : BatchPlan(plan.ImageCount, plan.BatchSize, shuffle: null)
        {
            public override bool AugmentedBySource => plan.AugmentedBySource;

            protected override Batch ReadBatch(int index, long start, long length, Device device)
            {
                var clock = Stopwatch.StartNew();
                var batch = plan.GetBatch(index, device);
                owner.WaitSeconds.Add(clock.Elapsed.TotalSeconds);
                return batch;
            }

            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    plan.Dispose();
                }

                base.Dispose(disposing);
            }
        }
    }
}
