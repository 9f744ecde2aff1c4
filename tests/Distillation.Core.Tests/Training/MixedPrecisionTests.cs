using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Training;

public sealed class MixedPrecisionTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();
    private readonly TempFolder folder = new();

    public void Dispose()
    {
        set_num_threads(threadsBefore);
        folder.Dispose();
    }

    private static TrainerOptions Options(TrainingPrecision precision, int epochs = 1, bool? channelsLast = null, double initialLossScale = DynamicLossScaler.DefaultInitialScale) => new()
    {
        Epochs = epochs,
        BatchSize = 16,
        Seed = 5,
        Precision = precision,
        ChannelsLast = channelsLast,
        InitialLossScale = initialLossScale,
        Optimizer = new OptimizationOptions { Kind = OptimizerKind.AdamW, LearningRate = 0.003, WeightDecay = 0.01, GradientClipNorm = 5 },
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
    };

    private static Trainer<ConvBatchNormNet, ConvBatchNormNet> NewTrainer(TrainerOptions options, long initSeed = 3, ILogger<Trainer<ConvBatchNormNet, ConvBatchNormNet>>? logger = null)
    {
        manual_seed(100);
        var teacher = new ConvBatchNormNet(16);
        manual_seed(initSeed);
        return new Trainer<ConvBatchNormNet, ConvBatchNormNet>(teacher, new ConvBatchNormNet(8), options, logger);
    }

    private static float[] Weights(nn.Module module) => module.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();

    [Theory]
    [InlineData(TrainingPrecision.BFloat16Mixed)]
    [InlineData(TrainingPrecision.Float16Mixed)]
    public void The_first_20_steps_track_float32_and_the_weights_stay_float32(TrainingPrecision precision)
    {
        // 320 images in batches of 16: 20 steps. bfloat16 keeps 8 significant bits, so each product
        // is off by up to 0.4 %, which the sums average down; after 20 AdamW steps the two trajectories
        // differ by rounding alone: the largest gap measured here was 0.73 % of the loss (float16, with
        // 11 bits and its loss scaling, is closer still). 2 % leaves room for another CPU's kernels and
        // is far below what a broken step gives: without a gradient the loss stays near ln 4 ≈ 1.39
        // while float32 falls from 1.25 to 0.04 within these steps.
        using var train = Quadrants.Create(320, seed: 1);
        var float32 = new StepLossRecorder();
        var mixed = new StepLossRecorder();
        var float32Options = Options(TrainingPrecision.Float32);
        float32Options.Callbacks.Add(float32);
        var mixedOptions = Options(precision);
        mixedOptions.Callbacks.Add(mixed);

        NewTrainer(float32Options).TrainStudent(train);
        var mixedTrainer = NewTrainer(mixedOptions);
        mixedTrainer.TrainStudent(train);

        mixed.Losses.Should().HaveCount(20);
        float32.Losses[^1].Should().BeLessThan(float32.Losses[0] * 0.6, "the slice must be learnt within the steps for the comparison to mean anything");
        var gaps = mixed.Losses.Zip(float32.Losses, (m, f) => Math.Abs(m - f) / f).ToArray();
        gaps.Max().Should().BeLessThan(0.02, $"per-step losses float32 [{string.Join(", ", float32.Losses.Select(l => l.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)))}] mixed [{string.Join(", ", mixed.Losses.Select(l => l.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)))}]");
        mixed.Losses.Should().NotEqual(float32.Losses, "mixed precision must actually change the arithmetic");
        mixedTrainer.Student.state_dict().Values.Where(v => v.is_floating_point()).Should().OnlyContain(v => v.dtype == ScalarType.Float32);
    }

    [Fact]
    public void The_float32_master_weights_receive_the_bfloat16_gradient()
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        using var model = new ConvBatchNormNet(8);
        var images = rand(16, 3, 8, 8);
        var labels = randint(0, 4, [16]);
        Tensor[] Gradients(TrainingPrecision precision)
        {
            model.zero_grad();
            var logits = MixedPrecision.Forward(model, images, precision);
            logits.dtype.Should().Be(ScalarType.Float32);
            nn.functional.cross_entropy(logits, labels).backward();
            return model.parameters().Select(p => p.grad!.clone()).ToArray();
        }

        var reference = Gradients(TrainingPrecision.Float32);
        var mixed = Gradients(TrainingPrecision.BFloat16Mixed);

        // A second batch: a stale gradient (the first batch's kept) would fail the comparison below.
        images = rand(16, 3, 8, 8);
        labels = randint(0, 4, [16]);
        var secondReference = Gradients(TrainingPrecision.Float32);
        var secondMixed = Gradients(TrainingPrecision.BFloat16Mixed);

        foreach (var (expected, actual) in reference.Zip(mixed).Concat(secondReference.Zip(secondMixed)))
        {
            actual.dtype.Should().Be(ScalarType.Float32);
            if (expected.norm().item<float>() < 1e-4f)
            {
                // The convolution's bias before BatchNorm: BatchNorm subtracts the batch mean, so its
                // gradient is zero up to rounding, and the two roundings point anywhere.
                continue;
            }

            actual.norm().item<float>().Should().BeGreaterThan(0);
            var cosine = nn.functional.cosine_similarity(actual.flatten(), expected.flatten(), dim: 0).item<float>();
            cosine.Should().BeGreaterThan(0.99f);
            var relative = actual.sub(expected).norm().item<float>() / expected.norm().item<float>();
            relative.Should().BeLessThan(0.1f);
        }

        // And the two batches' gradients differ, so the check above could tell them apart.
        nn.functional.cosine_similarity(secondMixed[0].flatten(), mixed[0].flatten(), dim: 0).item<float>().Should().BeLessThan(0.99f);
    }

    [Fact]
    public void Mixed_precision_learns_a_feature_objective_with_a_regressor_in_float32()
    {
        using var train = Quadrants.Create(160, seed: 1);
        using var test = Quadrants.Create(64, seed: 2);
        var trainer = NewTrainer(Options(TrainingPrecision.BFloat16Mixed, epochs: 3));
        manual_seed(9);
        using var objective = new DistillationObjective((new LabelCrossEntropyLoss(), 1.0), (new KLDivergenceLoss(4), 1.0), (new HintLoss(8, 16, "features.0", "features.0"), 0.5));

        var result = trainer.Distill(train, test, objective);

        result.History.Should().OnlyContain(r => double.IsFinite(r.MeanLoss));
        result.History[^1].MeanLoss.Should().BeLessThan(result.History[0].MeanLoss);
        objective.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float32);
    }

    [Fact]
    public void A_mixed_precision_run_interrupted_and_resumed_ends_with_the_weights_of_an_uninterrupted_run()
    {
        using var train = Quadrants.Create(160, seed: 1);
        TrainerOptions WithCheckpoints(string directory, bool resume = false)
        {
            var options = Options(TrainingPrecision.BFloat16Mixed, epochs: 3);
            options.Checkpoints = new CheckpointOptions { Directory = directory, Resume = resume };
            return options;
        }

        var whole = NewTrainer(WithCheckpoints(Path.Combine(folder.Path, "whole")));
        var expected = whole.TrainStudent(train);

        using var cancellation = new CancellationTokenSource();
        var progress = new SynchronousProgress<TrainingProgress>(p =>
        {
            if (p is BatchProgress { Epoch: 3, Batch: 2 })
            {
                cancellation.Cancel();
            }
        });
        NewTrainer(WithCheckpoints(folder.Path)).Invoking(t => t.TrainStudent(train, null, progress, cancellation.Token)).Should().Throw<OperationCanceledException>();

        var resumed = NewTrainer(WithCheckpoints(folder.Path, resume: true), initSeed: 99);
        var result = resumed.TrainStudent(train);

        result.ResumedAfterEpoch.Should().Be(2);
        Weights(resumed.Student).Should().Equal(Weights(whole.Student));
        result.History.Select(r => r.MeanLoss).Should().Equal(expected.History.Select(r => r.MeanLoss));
    }

    [Fact]
    public void A_checkpoint_of_float32_training_is_not_resumed_in_mixed_precision()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var float32 = Options(TrainingPrecision.Float32);
        float32.Checkpoints = new CheckpointOptions { Directory = folder.Path };
        NewTrainer(float32).TrainStudent(train);

        var mixed = Options(TrainingPrecision.BFloat16Mixed, epochs: 1);
        mixed.Checkpoints = new CheckpointOptions { Directory = folder.Path, Resume = true };
        var act = () => NewTrainer(mixed).TrainStudent(train);

        act.Should().Throw<CheckpointMismatchException>().WithMessage("*Precision*Float32*BFloat16Mixed*");
    }

    [Fact]
    public void A_model_that_is_not_float32_is_refused_before_training_naming_the_parameter()
    {
        using var train = Quadrants.Create(32, seed: 1);
        var trainer = NewTrainer(Options(TrainingPrecision.BFloat16Mixed));
        trainer.Student.to(ScalarType.Float64);
        var before = Weights64(trainer.Student);

        trainer.Invoking(t => t.Check(train, new LabelCrossEntropyLoss())).Should().Throw<InvalidOperationException>()
            .WithMessage("TrainerOptions.Precision BFloat16Mixed cannot run: it keeps float32 master weights, and the model's features.0.weight is Float64; use TrainingPrecision.Float32.");
        trainer.Invoking(t => t.TrainStudent(train)).Should().Throw<InvalidOperationException>().WithMessage("*features.0.weight is Float64*");
        Weights64(trainer.Student).Should().Equal(before);

        static double[] Weights64(nn.Module module) => module.parameters().SelectMany(p => p.data<double>().ToArray()).ToArray();
    }

    [Theory]
    [InlineData(true, 0.5, TrainingPrecision.BFloat16Mixed)]
    [InlineData(true, 1.5, TrainingPrecision.Float32)]
    [InlineData(false, 0.5, TrainingPrecision.Float32)]
    public void Auto_picks_mixed_precision_only_where_bfloat16_is_measured_faster(bool support, double factor, TrainingPrecision expected)
    {
        var logger = new ListLogger();
        using var model = new ConvBatchNormNet(4);

        MixedPrecision.Resolve(TrainingPrecision.Auto, model, CPU, logger, new FakeBFloat16Probe(support, factor)).Should().Be(expected);

        logger.Entries.Select(e => e.Message).Should().ContainSingle(m => m.StartsWith("Training precision Auto chose " + (expected == TrainingPrecision.Float32 ? "float32" : "bfloat16"), StringComparison.Ordinal));
    }

    [Fact]
    public void Auto_trains_a_float64_model_in_float32_and_says_why()
    {
        var logger = new ListLogger();
        using var model = new ConvBatchNormNet(4);
        model.to(ScalarType.Float64);

        MixedPrecision.Resolve(TrainingPrecision.Auto, model, CPU, logger, new FakeBFloat16Probe(true, 0.5)).Should().Be(TrainingPrecision.Float32);

        logger.Entries.Select(e => e.Message).Should().ContainSingle(m => m.Contains("features.0.weight is Float64", StringComparison.Ordinal));
    }

    [Fact]
    public void An_explicit_request_where_bfloat16_is_slow_runs_and_warns_once_with_the_factor()
    {
        var logger = new ListLogger();
        using var model = new ConvBatchNormNet(4);
        var probe = new FakeBFloat16Probe(false, 6.0);

        MixedPrecision.Resolve(TrainingPrecision.BFloat16Mixed, model, CPU, logger, probe).Should().Be(TrainingPrecision.BFloat16Mixed);

        logger.Entries.Should().ContainSingle(e => e.Level == LogLevel.Warning).Which.Message.Should().Contain("6.00x");
        probe.Timings.Should().Be(1);
    }

    [Fact]
    public void The_trainer_resolves_auto_with_its_probe_and_records_the_choice_in_the_checkpoint()
    {
        using var train = Quadrants.Create(32, seed: 1);
        var options = Options(TrainingPrecision.Auto);
        options.Probe = new FakeBFloat16Probe(true, 0.5);
        options.Checkpoints = new CheckpointOptions { Directory = folder.Path };
        NewTrainer(options).TrainStudent(train);

        var header = CheckpointFiles.Header(options.Checkpoints.LastCheckpointPath(TrainingPhase.StudentAlone));
        header.Should().Contain("\"Precision\":\"BFloat16Mixed channels-last\"");
    }

    [Fact]
    public void Channels_last_batches_reach_the_model_in_that_layout_and_train_as_the_default_layout_does()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var (nchwLosses, nhwcLosses) = (new StepLossRecorder(), new StepLossRecorder());
        var nchwOptions = Options(TrainingPrecision.Float32);
        nchwOptions.Callbacks.Add(nchwLosses);
        var nhwcOptions = Options(TrainingPrecision.Float32, channelsLast: true);
        nhwcOptions.Callbacks.Add(nhwcLosses);
        var nchw = NewTrainer(nchwOptions);
        var nhwc = NewTrainer(nhwcOptions);
        var layouts = new List<long>();
        var hook = nhwc.Student.register_forward_pre_hook((module, input) =>
        {
            layouts.Add(input.stride(1));
            return input;
        });

        nchw.TrainStudent(train);
        nhwc.TrainStudent(train);
        hook.remove();

        layouts.Should().NotBeEmpty().And.OnlyContain(stride => stride == 1, "channel stride 1 is the NHWC layout");
        // The same arithmetic in another memory order: the sums may run in another order, no more.
        nhwcLosses.Losses.Should().HaveCount(4);
        nhwcLosses.Losses.Zip(nchwLosses.Losses, (x, y) => Math.Abs(x - y) / y).Max().Should().BeLessThan(1e-4);
    }

    [Theory]
    [InlineData(TrainingPrecision.BFloat16Mixed, null, true)]
    [InlineData(TrainingPrecision.Float32, null, false)]
    [InlineData(TrainingPrecision.BFloat16Mixed, false, false)]
    public void Channels_last_is_on_by_default_only_in_mixed_precision_and_recorded(TrainingPrecision precision, bool? channelsLast, bool expected)
    {
        using var train = Quadrants.Create(32, seed: 1);
        var options = Options(precision, channelsLast: channelsLast);
        options.Checkpoints = new CheckpointOptions { Directory = folder.Path };
        var trainer = NewTrainer(options);
        var strides = new List<long>();
        var hook = trainer.Student.register_forward_pre_hook((module, input) =>
        {
            strides.Add(input.stride(1));
            return input;
        });

        trainer.TrainStudent(train);
        hook.remove();

        strides.Should().NotBeEmpty().And.OnlyContain(stride => (stride == 1) == expected);
        CheckpointFiles.Header(options.Checkpoints.LastCheckpointPath(TrainingPhase.StudentAlone))
            .Should().Contain($"\"Precision\":\"{precision}{(expected ? " channels-last" : "")}\"");
    }

    [Fact]
    public void Steps_whose_scaled_gradients_overflow_float16_are_skipped_and_leave_the_weights_alone()
    {
        // 1e30 times any gradient is beyond float16's 65,504: every step of the epoch (4 of them) overflows.
        using var train = Quadrants.Create(64, seed: 1);
        var logger = new ListLogger<Trainer<ConvBatchNormNet, ConvBatchNormNet>>();
        var trainer = NewTrainer(Options(TrainingPrecision.Float16Mixed, initialLossScale: 1e30), logger: logger);
        var before = Weights(trainer.Student);

        trainer.TrainStudent(train);

        Weights(trainer.Student).Should().Equal(before, "no optimizer step ran");
        var skipped = logger.Inner.Entries.Where(e => e.Message.Contains("overflowed", StringComparison.Ordinal)).Select(e => e.Message).ToArray();
        skipped.Should().HaveCount(4);
        skipped[^1].Should().EndWith($"halved to {1e30 / 16}");

        var normal = NewTrainer(Options(TrainingPrecision.Float16Mixed));
        normal.TrainStudent(train);
        Weights(normal.Student).Should().NotEqual(before, "with the default scale the same steps train");
    }

    [Fact]
    public void Steps_without_an_overflow_grow_the_scale_and_the_checkpoint_keeps_it()
    {
        // 64 images in batches of 16: 4 steps from 1,024, doubling every 2 good steps: 4,096.
        using var train = Quadrants.Create(64, seed: 1);
        var options = Options(TrainingPrecision.Float16Mixed, initialLossScale: 1024);
        options.LossScaleGrowthInterval = 2;
        options.Checkpoints = new CheckpointOptions { Directory = folder.Path };

        NewTrainer(options).TrainStudent(train);

        CheckpointFiles.Header(options.Checkpoints.LastCheckpointPath(TrainingPhase.StudentAlone)).Should().Contain("\"LossScale\":4096,\"LossScaleGoodSteps\":0");
    }

    [Fact]
    public void A_float16_run_resumed_from_a_checkpoint_continues_with_the_saved_loss_scale()
    {
        // From 1e12 the scale halves on each of the first overflowing steps; a resumed run that started
        // again from 1e12 would skip steps the uninterrupted run took, and end with other weights.
        using var train = Quadrants.Create(160, seed: 1);
        TrainerOptions WithCheckpoints(string directory, bool resume = false)
        {
            var options = Options(TrainingPrecision.Float16Mixed, epochs: 3, initialLossScale: 1e12);
            options.Checkpoints = new CheckpointOptions { Directory = directory, Resume = resume };
            return options;
        }

        var whole = NewTrainer(WithCheckpoints(Path.Combine(folder.Path, "whole")));
        var expected = whole.TrainStudent(train);

        var firstEpoch = WithCheckpoints(folder.Path);
        firstEpoch.Epochs = 3;
        using var cancellation = new CancellationTokenSource();
        var progress = new SynchronousProgress<TrainingProgress>(p =>
        {
            if (p is BatchProgress { Epoch: 2, Batch: 1 })
            {
                cancellation.Cancel();
            }
        });
        NewTrainer(firstEpoch).Invoking(t => t.TrainStudent(train, null, progress, cancellation.Token)).Should().Throw<OperationCanceledException>();

        var resumed = NewTrainer(WithCheckpoints(folder.Path, resume: true), initSeed: 99);
        var result = resumed.TrainStudent(train);

        result.ResumedAfterEpoch.Should().Be(1);
        Weights(resumed.Student).Should().Equal(Weights(whole.Student));
        result.History.Select(r => r.MeanLoss).Should().Equal(expected.History.Select(r => r.MeanLoss));
        CheckpointFiles.Header(firstEpoch.Checkpoints!.LastCheckpointPath(TrainingPhase.StudentAlone)).Should().Contain("\"Precision\":\"Float16Mixed\"");
    }

    /// <summary>Records the dtype its convolution computes in.</summary>
    private sealed class DtypeRecorder : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Conv2d conv = nn.Conv2d(3, 4, 3);

        public DtypeRecorder()
            : base(nameof(DtypeRecorder)) => RegisterComponents();

        public ScalarType? Seen { get; private set; }

        public override Tensor forward(Tensor input)
        {
            var output = conv.call(input);
            Seen = output.dtype;
            return output.mean([2L, 3L]);
        }
    }

    [Theory]
    [InlineData(TrainingPrecision.Float16Mixed, ScalarType.Float16)]
    [InlineData(TrainingPrecision.BFloat16Mixed, ScalarType.BFloat16)]
    [InlineData(TrainingPrecision.Float32, ScalarType.Float32)]
    public void The_forward_runs_convolutions_in_the_precision_asked_for_and_returns_float32_logits(TrainingPrecision precision, ScalarType convolution)
    {
        using var scope = NewDisposeScope();
        using var model = new DtypeRecorder();

        var logits = MixedPrecision.Forward(model, rand(2, 3, 8, 8), precision);

        model.Seen.Should().Be(convolution);
        logits.dtype.Should().Be(ScalarType.Float32);
    }

    [Fact]
    public void Float16_mixed_precision_on_the_cpu_runs_and_warns_and_auto_never_picks_it()
    {
        var logger = new ListLogger();
        using var model = new ConvBatchNormNet(4);

        MixedPrecision.Resolve(TrainingPrecision.Float16Mixed, model, CPU, logger).Should().Be(TrainingPrecision.Float16Mixed);
        logger.Entries.Should().ContainSingle(e => e.Level == LogLevel.Warning).Which.Message.Should().Contain("Float16Mixed runs on the CPU");
        MixedPrecision.Resolve(TrainingPrecision.Auto, model, CPU, new ListLogger(), new FakeBFloat16Probe(true, 0.5)).Should().Be(TrainingPrecision.BFloat16Mixed);

        using var float64 = new ConvBatchNormNet(4);
        float64.to(ScalarType.Float64);
        var act = () => MixedPrecision.Resolve(TrainingPrecision.Float16Mixed, float64, CPU, logger);
        act.Should().Throw<InvalidOperationException>().WithMessage("TrainerOptions.Precision Float16Mixed cannot run: *float32 master weights*Float64*");
    }

    private sealed class StepLossRecorder : ITrainingCallback
    {
        public List<double> Losses { get; } = [];

        public void OnStepEnd(StepEndContext context) => Losses.Add(context.Loss.Total.item<float>());
    }
}

/// <summary>Convolution, BatchNorm, ReLU, pooling and a linear layer: the layers autocast treats differently, for 8×8 images.</summary>
internal sealed class ConvBatchNormNet : nn.Module<Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Sequential features;
    private readonly TorchSharp.Modules.Linear classifier;

    public ConvBatchNormNet(int width)
        : base(nameof(ConvBatchNormNet))
    {
        features = nn.Sequential(nn.Conv2d(3, width, 3, padding: 1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2));
        classifier = nn.Linear(width * 16, 4);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => classifier.call(features.call(input).flatten(1));
}
