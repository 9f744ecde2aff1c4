using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Tests.Training.Teachers;

/// <summary>TeacherOutputOptions.ViewCacheDirectory: the teacher's logits of every crop-and-flip view, computed once, looked up per batch.</summary>
public sealed class ViewCacheTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();
    private readonly TempFolder folder = new();

    public void Dispose()
    {
        set_num_threads(threadsBefore);
        folder.Dispose();
    }

    private string CacheFolder => Path.Combine(folder.Path, "views");

    private static AugmentationOptions PadAndFlip(int padding = 1) => new() { Padding = padding };

    private static TinyNet TeacherNet(int seed = 100)
    {
        manual_seed(seed);
        return new TinyNet(16);
    }

    private TrainerOptions Options(AugmentationOptions augmentation, bool viewCache, int epochs = 2, bool checkpoints = false, bool resume = false) => new()
    {
        Epochs = epochs,
        BatchSize = 32,
        EvaluationBatchSize = 40,
        Seed = 7,
        Optimizer = new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.05, Momentum = 0.9 },
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        Augmentation = augmentation,
        TeacherOutputs = new TeacherOutputOptions { Precision = TeacherPrecision.Float32, ViewCacheDirectory = viewCache ? CacheFolder : null },
        Checkpoints = checkpoints ? new CheckpointOptions { Directory = Path.Combine(folder.Path, "checkpoints"), Resume = resume } : null,
    };

    /// <summary>Counts the teacher's forward passes; optionally acts on one of them.</summary>
    private sealed class CountingTeacher(ITeacher inner) : DelegatingTeacher(inner)
    {
        public int Calls { get; private set; }

        public Action<int>? OnCall { get; init; }

        public override TeacherOutput Forward(TeacherBatch batch)
        {
            Calls++;
            OnCall?.Invoke(Calls);
            return base.Forward(batch);
        }
    }

    /// <summary>The live teacher with its logits rounded to float16, as the cache stores them.</summary>
    private sealed class Float16Teacher(ITeacher inner) : DelegatingTeacher(inner)
    {
        public override TeacherOutput Forward(TeacherBatch batch)
        {
            var output = base.Forward(batch);
            return output with { Logits = output.Logits.to(ScalarType.Float16).to(ScalarType.Float32) };
        }
    }

    /// <summary>Every step's loss, and the teacher's calls when the run started (after the teacher was prepared).</summary>
    private sealed class Recorder(Func<int> calls) : ITrainingCallback
    {
        public List<float> Losses { get; } = [];

        public int CallsAtStart { get; private set; } = -1;

        public void OnRunStart(RunStartContext context) => CallsAtStart = calls();

        public void OnStepEnd(StepEndContext context) => Losses.Add(context.Loss.Total.item<float>());
    }

    private sealed record Run(TrainingResult Result, List<float> Losses, int CallsWhilePreparing, int CallsWhileTraining, float[] Weights, ListLogger Log);

    private static Run Distill(TinyNet teacherNet, TrainerOptions options, ImageDataset train, bool roundToFloat16 = false, Action<int>? onCall = null, CancellationToken cancellationToken = default)
    {
        var counting = new CountingTeacher(Teacher.From(teacherNet)) { OnCall = onCall };
        using ITeacher teacher = roundToFloat16 ? new Float16Teacher(counting) : counting;
        var recorder = new Recorder(() => counting.Calls);
        options.Callbacks.Add(recorder);
        var logger = new ListLogger<Trainer<ITeacher, TinyNet>>();
        manual_seed(3);
        using var student = new TinyNet(4);
        var result = new Trainer<ITeacher, TinyNet>(teacher, student, options, logger).Distill(train, loss: new KLDivergenceLoss(4), cancellationToken: cancellationToken);
        var weights = student.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();
        return new Run(result, recorder.Losses, recorder.CallsAtStart, counting.Calls - recorder.CallsAtStart, weights, logger.Inner);
    }

    private static IEnumerable<string> Messages(Run run) => run.Log.Entries.Select(e => e.Message);

    [Fact]
    public void Looked_up_logits_are_the_live_teachers_logits_of_the_very_views_rounded_to_float16()
    {
        set_num_threads(1);
        using var train = Quadrants.Create(96, seed: 1);
        using var net = TeacherNet();
        var options = PadAndFlip(padding: 2);
        using var cached = Teacher.From(net).UseViewCache(CacheFolder);
        using var preparation = cached.Prepare(new TeacherRequest(train, CPU) { Augmented = true, Augmentation = options, BatchSize = 40 });
        var augmentation = new BatchAugmentation(options, train.Normalization);
        using var shuffle = new Generator(3);
        using var draws = new Generator(4);

        preparation.OutputsCached.Should().BeTrue();
        using var plan = train.PlanBatches(32, shuffle);
        for (var step = 0; step < plan.BatchCount; step++)
        {
            using var scope = NewDisposeScope();
            var (images, views) = augmentation.ApplyWithViews(plan.GetBatch(step).Images, draws);
            var indices = plan.GetIndices(step);
            var looked = cached.Forward(new TeacherBatch(images, indices) { Views = views }).Logits;
            Tensor live;
            using (no_grad())
            {
                live = net.call(images);
            }

            // float16 keeps 11 significant bits: rounding moves a value by at most 2^-11 of itself (2^-25 below 2^-14).
            looked.dtype.Should().Be(ScalarType.Float32);
            looked.sub(live).abs().le(live.abs().mul(Math.Pow(2, -11)).add(Math.Pow(2, -25))).all().item<bool>().Should().BeTrue($"batch {step}");

            // Another view of the same images is another image: its logits differ.
            var otherViews = views!.add(1).remainder(50);
            cached.Forward(new TeacherBatch(images, indices) { Views = otherViews }).Logits.sub(live).abs().max().item<float>().Should().BeGreaterThan(1e-3f);
        }

        net.training.Should().BeFalse("the prepared live teacher is in eval mode");
    }

    [Fact]
    public void A_run_with_the_view_cache_has_the_live_runs_losses_and_never_calls_the_teacher_while_training()
    {
        using var train = Quadrants.Create(96, seed: 1);
        using var net = TeacherNet();

        var live = Distill(net, Options(PadAndFlip(), viewCache: false), train);
        var rounded = Distill(net, Options(PadAndFlip(), viewCache: false), train, roundToFloat16: true);
        var cached = Distill(net, Options(PadAndFlip(), viewCache: true), train);

        cached.Result.TeacherOutputsCached.Should().BeTrue();
        live.Result.TeacherOutputsCached.Should().BeFalse();
        cached.CallsWhilePreparing.Should().Be(3 * 18, "the cache runs 3 batches of 40 images through each of 18 views once");
        cached.CallsWhileTraining.Should().Be(0);
        live.CallsWhileTraining.Should().Be(2 * 3);
        Messages(cached).Should().Contain(m => m.Contains("96 images x 18 views built and saved", StringComparison.Ordinal));

        // The cache holds the live logits rounded to float16: with the same rounding the run is the live run, bit for bit.
        cached.Losses.Should().HaveCount(6).And.Equal(rounded.Losses);
        cached.Weights.Should().Equal(rounded.Weights);

        // Against the float32 teacher the rounding (≤ 2^-11 relative per logit) moves each step's loss by far less than 1e-3 of it.
        cached.Losses.Zip(live.Losses).Should().OnlyContain(p => Math.Abs(p.First - p.Second) <= 1e-3 * Math.Abs(p.Second));
    }

    [Fact]
    public void A_second_run_loads_the_file_and_never_calls_the_teacher()
    {
        using var train = Quadrants.Create(96, seed: 1);
        using var net = TeacherNet();

        var first = Distill(net, Options(PadAndFlip(), viewCache: true), train);
        var file = Directory.GetFiles(CacheFolder).Should().ContainSingle().Subject;
        var second = Distill(net, Options(PadAndFlip(), viewCache: true), train);

        first.CallsWhilePreparing.Should().BeGreaterThan(0);
        (second.CallsWhilePreparing + second.CallsWhileTraining).Should().Be(0, "the file serves every batch");
        Messages(second).Should().Contain(m => m.Contains($"loaded from {file}", StringComparison.Ordinal));
        second.Losses.Should().Equal(first.Losses);
        second.Weights.Should().Equal(first.Weights);
    }

    [Fact]
    public void Views_computed_in_two_ranges_and_written_as_a_file_are_the_caches_views_and_distil_as_the_cached_run_does()
    {
        using var train = Quadrants.Create(96, seed: 1);
        using var net = TeacherNet();
        var cached = Distill(net, Options(PadAndFlip(), viewCache: true), train);
        Tensor cacheFile;
        using (var content = Distillation.Serialization.Safetensors.Read(Directory.GetFiles(CacheFolder).Single()))
        {
            cacheFile = content.Tensors["logits"].clone();
        }

        // Batches 0–1 and 2 of 40 images (as two shards would compute them), joined in order.
        using var teacher = Teacher.From(net);
        var done = new List<int>();
        using var head = PrecomputedTeacher.ComputeViews(teacher, train, PadAndFlip(), batchSize: 40, firstBatch: 0, endBatch: 2, batchDone: done.Add);
        using var tail = PrecomputedTeacher.ComputeViews(teacher, train, PadAndFlip(), batchSize: 40, firstBatch: 2);
        using var joined = cat([head, tail], 0);
        done.Should().Equal(0, 1);
        head.shape.Should().Equal(80, 18, 4);
        joined.dtype.Should().Be(ScalarType.Float16);
        joined.eq(cacheFile).all().item<bool>().Should().BeTrue("the same teacher, images and views, rounded to float16 alike");

        var file = Path.Combine(folder.Path, "views.safetensors");
        PrecomputedTeacher.WriteViews(file, joined, PadAndFlip(), 8, 8, new Dictionary<string, string> { ["made-by"] = "test" });
        var options = Options(PadAndFlip(), viewCache: false);
        var recorder = new Recorder(() => 0);
        options.Callbacks.Add(recorder);
        using var precomputed = Teacher.FromLogitsFile(file);
        precomputed.Views.Should().Be(18);
        manual_seed(3);
        using var student = new TinyNet(4);
        new Trainer<ITeacher, TinyNet>(precomputed, student, options).Distill(train, loss: new KLDivergenceLoss(4));
        recorder.Losses.Should().Equal(cached.Losses);
        cacheFile.Dispose();
    }

    [Fact]
    public void A_written_file_of_views_refuses_a_run_with_other_views_or_image_size_and_computing_refuses_what_has_no_views()
    {
        using var train = Quadrants.Create(40, seed: 1);
        using var net = TeacherNet();
        using var teacher = Teacher.From(net);
        using var views = PrecomputedTeacher.ComputeViews(teacher, train, PadAndFlip(), batchSize: 40);
        var file = Path.Combine(folder.Path, "views.safetensors");

        // Black padding makes as many views as the mean-coloured one: only the file's metadata tells them apart.
        PrecomputedTeacher.WriteViews(file, views, PadAndFlip(), 8, 8);
        using (var precomputed = Teacher.FromLogitsFile(file))
        {
            var refuse = () => precomputed.Prepare(new TeacherRequest(train, CPU) { Augmented = true, Augmentation = new AugmentationOptions { Padding = 1, PadWithBlack = true } });
            refuse.Should().Throw<InvalidOperationException>().WithMessage("*they are views of 'pad-and-crop 1, flip', and this run's augmentation is 'pad-and-crop 1 black, flip'*");
        }

        PrecomputedTeacher.WriteViews(file, views, PadAndFlip(), 16, 16);
        using (var precomputed = Teacher.FromLogitsFile(file))
        {
            var refuse = () => precomputed.Prepare(new TeacherRequest(train, CPU) { Augmented = true, Augmentation = PadAndFlip() });
            refuse.Should().Throw<InvalidOperationException>().WithMessage("*they are views of 16x16 images, and the training images are 8x8*");
        }

        var wrongCount = () => PrecomputedTeacher.WriteViews(file, views, PadAndFlip(padding: 2), 8, 8);
        wrongCount.Should().Throw<ArgumentException>().WithMessage("The views tensor has shape [40, 18, 4]; pad-and-crop 2, flip needs [images, 50, classes].*");
        var ownKey = () => PrecomputedTeacher.WriteViews(file, views, PadAndFlip(), 8, 8, new Dictionary<string, string> { ["views"] = "mine" });
        ownKey.Should().Throw<ArgumentException>().WithMessage("The metadata key 'views' is the file's own*");

        var resized = () => PrecomputedTeacher.ComputeViews(teacher, train, new AugmentationOptions { RandomResizedCrop = true, Padding = 0 });
        resized.Should().Throw<ArgumentException>().WithMessage("*has no fixed views of an image*").Which.ParamName.Should().Be("augmentation");
        var invalid = () => PrecomputedTeacher.ComputeViews(teacher, train, new AugmentationOptions { RandomResizedCrop = true });
        invalid.Should().Throw<ArgumentOutOfRangeException>().WithMessage("Padding must be 0 with RandomResizedCrop, which replaces the pad-and-crop, was 4.*", "the options are validated first");
        var mixed = () => PrecomputedTeacher.ComputeViews(teacher, train, new AugmentationOptions { Padding = 1, MixupAlpha = 0.2 });
        mixed.Should().Throw<ArgumentException>().WithMessage("*has no fixed views of an image*");
        var beyond = () => PrecomputedTeacher.ComputeViews(teacher, train, PadAndFlip(), batchSize: 16, firstBatch: 2, endBatch: 4);
        beyond.Should().Throw<ArgumentOutOfRangeException>().WithMessage("The batches [2, 4) are not a range of the 3 batches of 40 images in batches of 16.*");
    }

    [Fact]
    public void Other_teacher_weights_or_padding_get_files_of_their_own_and_damaged_or_mismatched_files_are_rebuilt_saying_why()
    {
        using var train = Quadrants.Create(96, seed: 1);
        using var net = TeacherNet();
        using var otherNet = TeacherNet(seed: 200);

        var first = Distill(net, Options(PadAndFlip(), viewCache: true), train);
        var file = Directory.GetFiles(CacheFolder).Should().ContainSingle().Subject;

        var other = Distill(otherNet, Options(PadAndFlip(), viewCache: true), train);
        var otherLive = Distill(otherNet, Options(PadAndFlip(), viewCache: false), train, roundToFloat16: true);
        other.CallsWhilePreparing.Should().BeGreaterThan(0, "another teacher's views are computed, not loaded");
        other.Losses.Should().Equal(otherLive.Losses);
        other.Losses.Should().NotEqual(first.Losses);
        var otherFile = Directory.GetFiles(CacheFolder).Should().HaveCount(2).And.Subject.Single(f => f != file);

        var padded = Distill(net, Options(PadAndFlip(padding: 2), viewCache: true), train);
        padded.CallsWhilePreparing.Should().Be(3 * 50);
        Directory.GetFiles(CacheFolder).Should().HaveCount(3);

        // A truncated file: rebuilt, with a warning naming the file and the fault.
        File.WriteAllBytes(file, File.ReadAllBytes(file)[..100]);
        var afterDamage = Distill(net, Options(PadAndFlip(), viewCache: true), train);
        afterDamage.Log.Entries.Should().Contain(e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning && e.Message.Contains($"{file} does not fit this run and is rebuilt", StringComparison.Ordinal) && e.Message.Contains("truncated", StringComparison.OrdinalIgnoreCase));
        afterDamage.CallsWhilePreparing.Should().Be(3 * 18);
        afterDamage.Losses.Should().Equal(first.Losses);

        // Another teacher's file under this one's name: its metadata says whose it is.
        File.Copy(otherFile, file, overwrite: true);
        var afterSwap = Distill(net, Options(PadAndFlip(), viewCache: true), train);
        Messages(afterSwap).Should().Contain(m => m.Contains("holds the logits of teacher", StringComparison.Ordinal) && m.Contains("not of this run's teacher", StringComparison.Ordinal));
        afterSwap.Losses.Should().Equal(first.Losses);
        new FileInfo(file).Length.Should().Be(new FileInfo(otherFile).Length, "the file was written anew, of the same shape");
        Distill(net, Options(PadAndFlip(), viewCache: true), train).CallsWhilePreparing.Should().Be(0, "the rebuilt file is this teacher's");
    }

    [Fact]
    public void A_bfloat16_teacher_asked_for_by_name_computes_views_of_its_own_and_gets_its_float32_weights_back()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var net = TeacherNet();
        var before = net.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();
        var float32 = Distill(net, Options(PadAndFlip(), viewCache: true), train);
        var options = Options(PadAndFlip(), viewCache: true);
        options.TeacherOutputs.Precision = TeacherPrecision.BFloat16;

        var bfloat16 = Distill(net, options, train);

        bfloat16.Result.TeacherOutputsCached.Should().BeTrue();
        bfloat16.CallsWhilePreparing.Should().Be(2 * 18, "the bfloat16 teacher's views are computed, not the float32 file loaded");
        bfloat16.CallsWhileTraining.Should().Be(0);
        Directory.GetFiles(CacheFolder).Should().HaveCount(2);
        bfloat16.Losses.Should().NotEqual(float32.Losses);
        net.parameters().SelectMany(p => p.data<float>().ToArray()).Should().Equal(before);
    }

    [Fact]
    public void Mixed_batches_and_random_resized_crops_run_the_teacher_live_saying_why()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var net = TeacherNet();

        var mixed = Distill(net, Options(new AugmentationOptions { Padding = 1, MixupAlpha = 0.4 }, viewCache: true), train);
        var resized = Distill(net, Options(new AugmentationOptions { Padding = 0, RandomResizedCrop = true }, viewCache: true), train);

        mixed.Result.TeacherOutputsCached.Should().BeFalse();
        mixed.CallsWhileTraining.Should().Be(2 * 2);
        Messages(mixed).Should().Contain(m => m.Contains("view cache not used", StringComparison.Ordinal) && m.Contains("mixup", StringComparison.Ordinal));
        resized.Result.TeacherOutputsCached.Should().BeFalse();
        Messages(resized).Should().Contain(m => m.Contains("random-resized crop", StringComparison.Ordinal));
        Directory.Exists(CacheFolder).Should().BeFalse("nothing was cached");
    }

    [Fact]
    public void Cancellation_while_the_views_are_computed_stops_at_the_next_view_and_writes_no_file()
    {
        using var train = Quadrants.Create(96, seed: 1);
        using var net = TeacherNet();
        using var cancellation = new CancellationTokenSource();
        var callsAfterCancel = 0;

        var act = () => Distill(net, Options(PadAndFlip(), viewCache: true), train, onCall: calls =>
        {
            if (cancellation.IsCancellationRequested)
            {
                callsAfterCancel++;
            }
            else if (calls == 5)
            {
                cancellation.Cancel();
            }
        }, cancellationToken: cancellation.Token);

        act.Should().Throw<OperationCanceledException>();
        callsAfterCancel.Should().Be(0);
        (Directory.Exists(CacheFolder) ? Directory.GetFiles(CacheFolder) : []).Should().BeEmpty("no file, whole or partial, is written");
    }

    [Fact]
    public void A_run_with_the_view_cache_resumes_exactly_and_a_live_run_may_not_resume_it()
    {
        using var train = Quadrants.Create(96, seed: 1);
        using var net = TeacherNet();
        var whole = Distill(net, Options(PadAndFlip(), viewCache: true, epochs: 3), train);

        // Cancelled in epoch 3, after epoch 2's checkpoint; a new trainer resumes.
        using var cancellation = new CancellationTokenSource();
        var interrupted = Options(PadAndFlip(), viewCache: true, epochs: 3, checkpoints: true);
        var steps = 0;
        interrupted.Callbacks.Add(new StepCanceller(() =>
        {
            if (++steps == 7)
            {
                cancellation.Cancel();
            }
        }));
        var act = () => Distill(net, interrupted, train, cancellationToken: cancellation.Token);
        act.Should().Throw<OperationCanceledException>();

        var resumed = Distill(net, Options(PadAndFlip(), viewCache: true, epochs: 3, checkpoints: true, resume: true), train);

        resumed.Result.ResumedAfterEpoch.Should().Be(2);
        resumed.CallsWhilePreparing.Should().Be(0);
        resumed.Losses.Should().Equal(whole.Losses.Skip(6));
        resumed.Weights.Should().Equal(whole.Weights);

        var live = () => Distill(net, Options(PadAndFlip(), viewCache: false, epochs: 3, checkpoints: true, resume: true), train);
        live.Should().Throw<CheckpointMismatchException>("the cached logits are rounded: the teacher differs");
    }

    private sealed class StepCanceller(Action onStep) : ITrainingCallback
    {
        public void OnStepEnd(StepEndContext context) => onStep();
    }
}
