using Distillation.Devices;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distillation.Tests.Training;

/// <summary>float16 mixed precision: the loss scaler on its own, then through the trainer (on the CPU: slow, exact enough on small tensors).</summary>
public sealed class DynamicLossScalerTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();
    private readonly TempFolder folder = new();

    public void Dispose()
    {
        set_num_threads(threadsBefore);
        folder.Dispose();
    }

    [Fact]
    public void The_scale_halves_on_an_overflow_and_doubles_after_the_growth_interval_without_one()
    {
        var scaler = new DynamicLossScaler(1024, growthInterval: 3);

        scaler.Update(overflowed: false);
        scaler.Update(overflowed: false);
        scaler.Scale.Should().Be(1024);
        scaler.Update(overflowed: false);
        scaler.Scale.Should().Be(2048, "three good steps in a row");
        scaler.GoodSteps.Should().Be(0);

        scaler.Update(overflowed: false);
        scaler.Update(overflowed: true);
        scaler.Scale.Should().Be(1024);
        scaler.GoodSteps.Should().Be(0, "an overflow restarts the count");
        scaler.SkippedSteps.Should().Be(1);
        scaler.Update(overflowed: false);
        scaler.Update(overflowed: false);
        scaler.Scale.Should().Be(1024);
    }

    [Fact]
    public void Unscaling_divides_every_gradient_and_finds_an_infinity_or_a_nan_in_any_of_them()
    {
        using var scope = NewDisposeScope();
        var a = new Parameter(zeros(3)) { grad = tensor(new float[] { 8, -4, 2 }) };
        var b = new Parameter(zeros(2)) { grad = tensor(new float[] { 6, 10 }) };
        var noGradient = new Parameter(zeros(1));
        var scaler = new DynamicLossScaler(2);

        scaler.UnscaleAndCheck([a, b, noGradient]).Should().BeFalse();
        a.grad!.data<float>().ToArray().Should().Equal(4, -2, 1);
        b.grad!.data<float>().ToArray().Should().Equal(3, 5);

        b.grad = tensor(new float[] { 1, float.PositiveInfinity });
        scaler.UnscaleAndCheck([a, b]).Should().BeTrue();
        a.grad = tensor(new float[] { float.NaN, 0, 0 });
        b.grad = tensor(new float[] { 1, 1 });
        scaler.UnscaleAndCheck([a, b]).Should().BeTrue("a NaN in the first parameter counts too");
    }

    private static TrainerOptions Options(TrainingPrecision precision, int epochs = 1, double initialLossScale = DynamicLossScaler.DefaultInitialScale) => new()
    {
        Epochs = epochs,
        BatchSize = 16,
        Seed = 5,
        Precision = precision,
        InitialLossScale = initialLossScale,
        Optimizer = new OptimizationOptions { Kind = OptimizerKind.AdamW, LearningRate = 0.003, WeightDecay = 0.01, GradientClipNorm = 5 },
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
    };

    private static Trainer<ConvBatchNormNet, ConvBatchNormNet> NewTrainer(TrainerOptions options, ILogger<Trainer<ConvBatchNormNet, ConvBatchNormNet>>? logger = null, long initSeed = 3)
    {
        manual_seed(100);
        var teacher = new ConvBatchNormNet(16);
        manual_seed(initSeed);
        return new Trainer<ConvBatchNormNet, ConvBatchNormNet>(teacher, new ConvBatchNormNet(8), options, logger);
    }

    private static float[] Weights(nn.Module module) => module.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();

    [Fact]
    public void The_first_20_steps_of_float16_mixed_precision_track_float32()
    {
        // As the bfloat16 test (MixedPrecisionTests): float16 keeps 11 significant bits to bfloat16's 8,
        // so its per-step gap is smaller still; 2 % is far below what a broken step gives (a loss
        // stuck near ln 4 ≈ 1.39 while float32 falls from 1.25 to 0.04).
        using var train = Quadrants.Create(320, seed: 1);
        var float32 = new StepLosses();
        var mixed = new StepLosses();
        var float32Options = Options(TrainingPrecision.Float32);
        float32Options.Callbacks.Add(float32);
        var mixedOptions = Options(TrainingPrecision.Float16Mixed);
        mixedOptions.Callbacks.Add(mixed);

        NewTrainer(float32Options).TrainStudent(train);
        var mixedTrainer = NewTrainer(mixedOptions);
        mixedTrainer.TrainStudent(train);

        mixed.Losses.Should().HaveCount(20);
        float32.Losses[^1].Should().BeLessThan(float32.Losses[0] * 0.6);
        mixed.Losses.Zip(float32.Losses, (m, f) => Math.Abs(m - f) / f).Max().Should().BeLessThan(0.02);
        mixed.Losses.Should().NotEqual(float32.Losses, "float16 must actually change the arithmetic");
        mixedTrainer.Student.state_dict().Values.Where(v => v.is_floating_point()).Should().OnlyContain(v => v.dtype == ScalarType.Float32);
    }

    [Fact]
    public void Steps_whose_scaled_gradients_overflow_float16_are_skipped_and_leave_the_weights_alone()
    {
        // 1e30 times any gradient is beyond float16's 65,504: every step of the epoch (4 of them) overflows.
        using var train = Quadrants.Create(64, seed: 1);
        var logger = new ListLogger<Trainer<ConvBatchNormNet, ConvBatchNormNet>>();
        var trainer = NewTrainer(Options(TrainingPrecision.Float16Mixed, initialLossScale: 1e30), logger);
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
        private readonly Conv2d conv = nn.Conv2d(3, 4, 3);

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

    private sealed class StepLosses : ITrainingCallback
    {
        public List<double> Losses { get; } = [];

        public void OnStepEnd(StepEndContext context) => Losses.Add(context.Loss.Total.item<float>());
    }
}
