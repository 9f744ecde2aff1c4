using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using OptimizationOptions = Distillation.Training.OptimizationOptions;

namespace Distillation.Tests.Training;

/// <summary>The training knobs of a fast, strong teacher: BatchNorm-bias rates, the per-step triangle, lookahead, label smoothing, flip TTA.</summary>
public sealed class FastTeacherTrainingTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();
    private readonly int threadsBefore = get_num_threads();

    public void Dispose()
    {
        scope.Dispose();
        set_num_threads(threadsBefore);
    }

    private static TrainerOptions Options(int epochs = 2) => new()
    {
        Epochs = epochs,
        BatchSize = 32,
        Optimizer = new OptimizationOptions { LearningRate = 0.01 },
        Seed = 11,
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
    };

    /// <summary>A convolution, BatchNorm and a classifier: one BatchNorm bias among the parameters.</summary>
    private static Sequential NormNet()
    {
        manual_seed(3);
        return Sequential(Conv2d(3, 4, 3, padding: 1), BatchNorm2d(4), ReLU(), AdaptiveAvgPool2d(1), Flatten(), Linear(4, 4));
    }

    // ----- BatchNorm biases at their own rate -----

    [Fact]
    public void Norm_biases_get_a_group_at_the_scaled_rate_with_the_decay_divided_by_it()
    {
        using var net = NormNet();
        var biases = Optimization.NormBiases(net);
        var norm = (BatchNorm2d)net[1];
        biases.Should().ContainSingle().Which.Should().BeSameAs(norm.bias);

        using var optimizer = Optimization.CreateOptimizer(net.parameters(), new OptimizationOptions
        {
            Kind = OptimizerKind.Sgd, LearningRate = 0.1, WeightDecay = 0.02, Nesterov = true, NormBiasLearningRateScale = 64,
        }, biases);

        var groups = optimizer.ParamGroups.Cast<SGD.ParamGroup>().ToArray();
        groups.Should().HaveCount(2);
        groups[0].LearningRate.Should().Be(0.1, "the first group holds the other parameters at the base rate");
        groups[0].Options.weight_decay.Should().Be(0.02);
        groups[0].Parameters.Should().HaveCount(net.parameters().Count() - 1);
        groups[1].Parameters.Should().ContainSingle().Which.Should().BeSameAs(norm.bias);
        groups[1].LearningRate.Should().BeApproximately(6.4, 1e-12);
        groups[1].Options.weight_decay.Should().BeApproximately(0.02 / 64, 1e-15, "rate × decay stays the same for every parameter");
        groups[1].Options.nesterov.Should().BeTrue();
    }

    [Fact]
    public void Scale_one_keeps_a_single_group()
    {
        using var net = NormNet();
        using var optimizer = Optimization.CreateOptimizer(net.parameters(), new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.1 }, Optimization.NormBiases(net));

        optimizer.ParamGroups.Should().ContainSingle();
    }

    [Fact]
    public void A_frozen_batchnorm_scale_stays_one_through_training_with_weight_decay()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var options = Options(epochs: 1);
        options.Optimizer = new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.1, WeightDecay = 0.5, NormBiasLearningRateScale = 8 };
        using var net = NormNet();
        var norm = (BatchNorm2d)net[1];
        norm.weight!.requires_grad = false;
        using var teacher = NormNet();
        var trainer = new Trainer<Sequential, Sequential>(teacher, net, options);

        trainer.TrainStudent(train);

        using var ones = ones_like(norm.weight);
        norm.weight.allclose(ones, rtol: 0, atol: 0).Should().BeTrue("a frozen parameter gets no gradient and is not trained, so not even weight decay moves it");
    }

    [Fact]
    public void Scale_must_be_positive()
    {
        var options = new OptimizationOptions { NormBiasLearningRateScale = 0 };

        options.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*NormBiasLearningRateScale*");
    }

    // ----- the triangle schedule -----

    [Fact]
    public void Triangle_ramps_from_the_start_factor_to_the_peak_and_down_to_the_end_factor_per_step()
    {
        var schedule = new LearningRateSchedule(new ScheduleOptions { Kind = ScheduleKind.Triangle, StartFactor = 0.2, PeakFraction = 0.25, EndFactor = 0.1 }, 2.0, totalEpochs: 4);

        // 4 epochs of 10 steps: 40 steps, the peak at step 10.
        schedule.SetsEveryStep.Should().BeTrue();
        schedule.LearningRateAt(1, 0, 10).Should().BeApproximately(0.4, 1e-12);
        schedule.LearningRateAt(1, 5, 10).Should().BeApproximately(2.0 * (0.2 + (0.8 * 5 / 10)), 1e-12);
        schedule.LearningRateAt(2, 0, 10).Should().BeApproximately(2.0, 1e-12);
        schedule.LearningRateAt(3, 5, 10).Should().BeApproximately(2.0 * (1 - (0.9 * 15 / 30)), 1e-12);
        schedule.LearningRateAt(4, 9, 10).Should().BeApproximately(2.0 * (1 - (0.9 * 29 / 30)), 1e-12);
        schedule.LearningRateAt(3).Should().Be(schedule.LearningRateAt(3, 0, 1), "per epoch, the triangle gives each epoch's first step");
    }

    [Fact]
    public void Epoch_schedules_ignore_the_step()
    {
        var schedule = new LearningRateSchedule(new ScheduleOptions { Kind = ScheduleKind.Cosine }, 0.1, totalEpochs: 5);

        schedule.SetsEveryStep.Should().BeFalse();
        schedule.LearningRateAt(3, 7, 10).Should().Be(schedule.LearningRateAt(3));
    }

    [Fact]
    public void Applying_a_rate_keeps_each_groups_ratio_to_the_first()
    {
        using var net = NormNet();
        using var optimizer = Optimization.CreateOptimizer(net.parameters(), new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.1, NormBiasLearningRateScale = 10 }, Optimization.NormBiases(net));
        var schedule = new LearningRateSchedule(new ScheduleOptions { Kind = ScheduleKind.Triangle }, 0.1, totalEpochs: 2);

        schedule.Apply(optimizer, 1, 0, 4);
        schedule.Apply(optimizer, 2, 3, 4);

        var rates = optimizer.ParamGroups.Select(g => g.LearningRate).ToArray();
        rates[0].Should().BeApproximately(schedule.LearningRateAt(2, 3, 4), 1e-12);
        rates[1].Should().BeApproximately(10 * rates[0], 1e-12);
    }

    [Fact]
    public void The_trainer_reports_the_triangles_rate_at_each_epochs_first_step()
    {
        using var train = Quadrants.Create(96, seed: 1);
        var options = Options(epochs: 3);
        options.Optimizer = new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.05 };
        options.Schedule = new ScheduleOptions { Kind = ScheduleKind.Triangle, PeakFraction = 0.5 };
        manual_seed(1);
        var trainer = new Trainer<TinyNet, TinyNet>(new TinyNet(4), new TinyNet(4), options);

        var result = trainer.TrainStudent(train);

        // 96 images in batches of 32: 3 steps an epoch, 9 in all, the peak at step 4.
        var expected = new LearningRateSchedule(options.Schedule, 0.05, 3);
        result.History.Select(e => e.LearningRate).Should().Equal(
            [expected.LearningRateAt(1, 0, 3), expected.LearningRateAt(2, 0, 3), expected.LearningRateAt(3, 0, 3)],
            (a, b) => Math.Abs(a - b) < 1e-12);
        result.History[1].LearningRate.Should().BeGreaterThan(result.History[0].LearningRate);
    }

    [Theory]
    [InlineData(-0.1, 0.23, 0.07, "StartFactor")]
    [InlineData(0.2, 0.0, 0.07, "PeakFraction")]
    [InlineData(0.2, 1.0, 0.07, "PeakFraction")]
    [InlineData(0.2, 0.23, 1.5, "EndFactor")]
    public void Triangle_settings_out_of_range_are_refused_by_name(double start, double peak, double end, string option)
    {
        var options = new ScheduleOptions { Kind = ScheduleKind.Triangle, StartFactor = start, PeakFraction = peak, EndFactor = end };

        options.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithMessage($"*{option}*");
    }

    [Fact]
    public void Triangle_refuses_a_warmup_of_its_own()
    {
        var options = new ScheduleOptions { Kind = ScheduleKind.Triangle, WarmupEpochs = 1 };

        options.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*WarmupEpochs*Triangle*");
    }

    // ----- lookahead -----

    [Fact]
    public void Lookahead_moves_the_average_when_due_and_sets_the_model_to_it()
    {
        using var net = Linear(1, 1, hasBias: false);
        using (no_grad())
        {
            net.weight!.fill_(0);
        }

        var options = new LookaheadOptions { EverySteps = 5, FinalDecay = 0.5, Power = 1 };
        using var lookahead = new LookaheadAveraging(net, options, totalSteps: 10);
        using (no_grad())
        {
            net.weight!.fill_(1);
        }

        lookahead.AfterStep(3);
        net.weight!.item<float>().Should().Be(1f, "step 3 is not a multiple of 5: nothing changes");

        lookahead.AfterStep(5);
        var decay = 0.5 * 5 / 10;
        net.weight!.item<float>().Should().BeApproximately((float)(1 - decay), 1e-6f, "the average moves 1 − decay of the way to the model, and the model takes it");

        using (no_grad())
        {
            net.weight!.fill_(10);
        }

        lookahead.AfterStep(10);
        net.weight!.item<float>().Should().BeApproximately((float)(1 - decay), 1e-6f, "after the last step the model keeps the average as it stands");
    }

    [Fact]
    public void Lookahead_leaves_integer_state_alone()
    {
        using var norm = BatchNorm1d(2);
        using var lookahead = new LookaheadAveraging(norm, new LookaheadOptions { EverySteps = 1 }, totalSteps: 2);
        norm.train();
        using var x = randn(8, 2);
        using var y = norm.call(x);

        lookahead.AfterStep(1);

        norm.num_batches_tracked!.item<long>().Should().Be(1);
    }

    [Fact]
    public void A_run_with_lookahead_ends_on_the_average_and_differs_from_one_without()
    {
        using var train = Quadrants.Create(128, seed: 1);
        TinyNet Trained(LookaheadOptions? lookahead)
        {
            var options = Options(epochs: 2);
            options.Optimizer = new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.05 };
            options.Lookahead = lookahead;
            manual_seed(1);
            var trainer = new Trainer<TinyNet, TinyNet>(new TinyNet(4), new TinyNet(4), options);
            trainer.TrainStudent(train);
            return trainer.Student;
        }

        using var plain = Trained(null);
        using var averaged = Trained(new LookaheadOptions { EverySteps = 1, FinalDecay = 0.9, Power = 0 });

        var (a, b) = (plain.parameters().First(), averaged.parameters().First());
        a.allclose(b).Should().BeFalse("with a decay of 0.9 after every step, the model trails its raw steps");
    }

    [Fact]
    public void Lookahead_with_checkpoints_is_refused()
    {
        var options = Options();
        options.Lookahead = new LookaheadOptions();
        options.Checkpoints = new CheckpointOptions { Directory = Path.Combine(Path.GetTempPath(), "unused") };

        options.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*Lookahead*Checkpoints*");
    }

    [Theory]
    [InlineData(0, 0.5, 3.0, "EverySteps")]
    [InlineData(5, 1.0, 3.0, "FinalDecay")]
    [InlineData(5, 0.5, -1.0, "Power")]
    public void Lookahead_settings_out_of_range_are_refused_by_name(int every, double decay, double power, string option)
    {
        var options = new LookaheadOptions { EverySteps = every, FinalDecay = decay, Power = power };

        options.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithMessage($"*{option}*");
    }

    // ----- label smoothing -----

    [Fact]
    public void Label_smoothing_mixes_the_label_with_the_uniform_target()
    {
        using var logits = tensor(new float[] { 2f, 0f, -1f, 0.5f, 1f, 3f }).reshape(2, 3);
        using var labels = tensor(new long[] { 0, 2 });
        var loss = new LabelCrossEntropyLoss(labelSmoothing: 0.3);

        var value = loss.Compute(new DistillationContext(logits, labels, null)).Total.item<float>();

        using var logProbabilities = functional.log_softmax(logits, 1);
        var hard = -(logProbabilities[0, 0].item<float>() + logProbabilities[1, 2].item<float>()) / 2;
        var uniform = -logProbabilities.mean().item<float>();
        value.Should().BeApproximately((0.7f * hard) + (0.3f * uniform), 1e-5f);
        loss.Description.Should().Be("ce(label smoothing 0.3)");
        new LabelCrossEntropyLoss().Description.Should().Be("ce", "without smoothing the description is the notebook's, so old checkpoints still match");
    }

    [Fact]
    public void Label_smoothing_out_of_range_is_refused()
    {
        FluentActions.Invoking(() => new LabelCrossEntropyLoss(1.0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*labelSmoothing*");
        var options = Options();
        options.LabelSmoothing = -0.1;
        options.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*LabelSmoothing*");
    }

    [Fact]
    public void Cross_entropy_training_uses_the_options_label_smoothing()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var options = Options(epochs: 1);
        options.LabelSmoothing = 0.2;
        manual_seed(1);
        var trainer = new Trainer<TinyNet, TinyNet>(new TinyNet(4), new TinyNet(4), options);

        trainer.TrainTeacher(train).LossName.Should().Be("ce(label smoothing 0.2)");
        trainer.TrainStudent(train).LossName.Should().Be("ce(label smoothing 0.2)");
    }

    // ----- flip test-time augmentation -----

    [Fact]
    public void Flip_tta_scores_the_average_of_each_image_and_its_mirror()
    {
        // Quadrants' classes are mirror images of each other in pairs: the mirror changes the answer.
        using var train = Quadrants.Create(256, seed: 1);
        using var test = Quadrants.Create(128, seed: 2);
        var options = Options(epochs: 3);
        manual_seed(1);
        var trainer = new Trainer<TinyNet, TinyNet>(new TinyNet(4), new TinyNet(8), options);
        trainer.TrainStudent(train);

        var plain = trainer.EvaluateStudent(test);
        var flipped = trainer.WithStudent(trainer.Student, new TrainerOptions
        {
            Epochs = options.Epochs, BatchSize = options.BatchSize, Optimizer = options.Optimizer, Seed = options.Seed, Device = options.Device, FlipTestTimeAugmentation = true,
        }).EvaluateStudent(test);

        // The same count by hand: argmax of the averaged logits.
        long expected;
        trainer.Student.eval();
        using (no_grad())
        {
            using var plan = test.PlanBatches(test.Count);
            var batch = plan.GetBatch(0, CPU);
            using var average = trainer.Student.call(batch.Images).add(trainer.Student.call(batch.Images.flip(3))).div(2);
            expected = average.argmax(1).eq(batch.Labels).sum().item<long>();
        }

        flipped.Correct.Should().Be(expected);
        flipped.Correct.Should().BeLessThan(plain.Correct, "the mirror of a quadrant is another class's quadrant");
    }
}
