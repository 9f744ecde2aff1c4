using Distillation.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using OptimizationOptions = Distillation.Training.OptimizationOptions;   // TorchSharp.Modules has a type of the same name.

namespace Distillation.Tests.Training;

public sealed class OptimizerAndScheduleTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();

    public void Dispose() => scope.Dispose();

    private static Parameter Weights(params float[] values) => new(tensor(values));

    /// <summary>‖θ‖², minimised at 0.</summary>
    private static Tensor Quadratic(Parameter theta) => theta.pow(2).sum();

    private static double LossAfterOneStep(Parameter theta, optim.Optimizer optimizer)
    {
        optimizer.zero_grad();
        Quadratic(theta).backward();
        optimizer.step();
        using var _ = no_grad();
        return Quadratic(theta).item<float>();
    }

    private static ParamGroup SingleGroup(optim.Optimizer optimizer) =>
        optimizer.ParamGroups.Should().ContainSingle().Which.Should().BeAssignableTo<ParamGroup>().Subject;

    // ----- optimizers -----

    [Fact]
    public void Defaults_are_the_notebooks_adam()
    {
        var options = new OptimizationOptions();

        options.Kind.Should().Be(OptimizerKind.Adam);
        options.LearningRate.Should().Be(1e-3);
        options.WeightDecay.Should().Be(0);
        (options.Beta1, options.Beta2).Should().Be((0.9, 0.999));
        options.Momentum.Should().Be(0.9);
        options.Nesterov.Should().BeFalse();
        options.GradientClipNorm.Should().BeNull();
    }

    [Fact]
    public void Adam_is_created_with_the_requested_hyper_parameters_and_lowers_the_loss()
    {
        var theta = Weights(3f, -2f);
        using var optimizer = Optimization.CreateOptimizer([theta], new OptimizationOptions { LearningRate = 0.1, WeightDecay = 0.01, Beta1 = 0.8, Beta2 = 0.99 });

        var adam = optimizer.Should().BeOfType<Adam>().Subject;
        adam.Betas.Should().Be((0.8, 0.99));
        var group = SingleGroup(optimizer);
        group.LearningRate.Should().Be(0.1);
        ((Adam.Options)group.Options).weight_decay.Should().Be(0.01);

        LossAfterOneStep(theta, optimizer).Should().BeLessThan(13f, "the loss starts at 3² + 2² = 13");
    }

    [Fact]
    public void AdamW_is_created_with_the_requested_hyper_parameters_and_lowers_the_loss()
    {
        var theta = Weights(3f, -2f);
        using var optimizer = Optimization.CreateOptimizer([theta], new OptimizationOptions { Kind = OptimizerKind.AdamW, LearningRate = 0.05, WeightDecay = 0.02 });

        var adamW = optimizer.Should().BeOfType<AdamW>().Subject;
        adamW.Betas.Should().Be((0.9, 0.999), "the defaults are PyTorch's");
        var group = SingleGroup(optimizer);
        group.LearningRate.Should().Be(0.05);
        ((AdamW.Options)group.Options).weight_decay.Should().Be(0.02);

        LossAfterOneStep(theta, optimizer).Should().BeLessThan(13f);
    }

    [Fact]
    public void Sgd_is_created_with_the_requested_hyper_parameters_and_lowers_the_loss()
    {
        var theta = Weights(3f, -2f);
        using var optimizer = Optimization.CreateOptimizer([theta],
            new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.1, Momentum = 0.8, Nesterov = true, WeightDecay = 5e-4 });

        var sgd = optimizer.Should().BeOfType<SGD>().Subject;
        sgd.Momentum.Should().Be(0.8);
        var group = SingleGroup(optimizer);
        group.LearningRate.Should().Be(0.1);
        var options = (SGD.Options)group.Options;
        options.nesterov.Should().BeTrue();
        options.weight_decay.Should().Be(5e-4);
        options.dampening.Should().Be(0);

        LossAfterOneStep(theta, optimizer).Should().BeLessThan(13f);
    }

    [Fact]
    public void Plain_sgd_takes_exactly_a_learning_rate_times_gradient_step()
    {
        var theta = Weights(3f, -2f);
        using var optimizer = Optimization.CreateOptimizer([theta], new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.1, Momentum = 0 });

        LossAfterOneStep(theta, optimizer);

        // θ − 0.1 · 2θ = 0.8 θ.
        theta.data<float>().ToArray().Should().Equal([2.4f, -1.6f], (a, e) => Math.Abs(a - e) < 1e-6f);
    }

    [Fact]
    public void An_empty_parameter_list_is_rejected()
    {
        FluentActions.Invoking(() => Optimization.CreateOptimizer([], new OptimizationOptions()))
            .Should().Throw<ArgumentException>().WithParameterName("parameters");
    }

    [Theory]
    [InlineData(nameof(OptimizationOptions.LearningRate))]
    [InlineData(nameof(OptimizationOptions.WeightDecay))]
    [InlineData(nameof(OptimizationOptions.Momentum))]
    [InlineData(nameof(OptimizationOptions.Nesterov))]
    [InlineData(nameof(OptimizationOptions.Beta1))]
    [InlineData(nameof(OptimizationOptions.Beta2))]
    [InlineData(nameof(OptimizationOptions.GradientClipNorm))]
    [InlineData(nameof(OptimizationOptions.Kind))]
    public void Optimizer_validation_names_the_bad_property(string property)
    {
        var options = property switch
        {
            nameof(OptimizationOptions.LearningRate) => new OptimizationOptions { LearningRate = 0 },
            nameof(OptimizationOptions.WeightDecay) => new OptimizationOptions { WeightDecay = -1e-4 },
            nameof(OptimizationOptions.Momentum) => new OptimizationOptions { Momentum = 1 },
            nameof(OptimizationOptions.Nesterov) => new OptimizationOptions { Kind = OptimizerKind.Sgd, Momentum = 0, Nesterov = true },
            nameof(OptimizationOptions.Beta1) => new OptimizationOptions { Beta1 = -0.1 },
            nameof(OptimizationOptions.Beta2) => new OptimizationOptions { Beta2 = 1 },
            nameof(OptimizationOptions.GradientClipNorm) => new OptimizationOptions { GradientClipNorm = 0 },
            _ => new OptimizationOptions { Kind = (OptimizerKind)42 },
        };

        options.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(property);
        FluentActions.Invoking(() => Optimization.CreateOptimizer([Weights(1f)], options))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName(property);
    }

    // ----- gradient clipping -----

    [Fact]
    public void Clipping_brings_the_total_gradient_norm_down_to_the_maximum()
    {
        var a = Weights(3f, 4f);
        var b = Weights(12f);
        var untouched = Weights(1f);
        a.pow(2).sum().add(b.pow(2).sum()).backward();   // gradients 2θ: (6, 8) and (24): total norm √(36 + 64 + 576) = 26.

        var before = Optimization.ClipGradients([a, b, untouched], maxNorm: 1.0);

        before.Should().BeApproximately(26, 1e-4);
        var after = Math.Sqrt(a.grad!.pow(2).sum().item<float>() + b.grad!.pow(2).sum().item<float>());
        after.Should().BeLessThanOrEqualTo(1.0).And.BeApproximately(1.0, 1e-4);
        a.grad!.data<float>().ToArray().Should().Equal([6f / 26, 8f / 26], (x, e) => Math.Abs(x - e) < 1e-5f, "every gradient is scaled by the same factor");
        untouched.grad.Should().BeNull("a parameter without a gradient is skipped");
    }

    [Fact]
    public void Clipping_leaves_small_gradients_alone()
    {
        var theta = Weights(0.3f, 0.4f);
        theta.pow(2).sum().backward();   // gradient (0.6, 0.8), norm 1.

        Optimization.ClipGradients([theta], maxNorm: 5.0).Should().BeApproximately(1.0, 1e-6);

        theta.grad!.data<float>().ToArray().Should().Equal([0.6f, 0.8f], (x, e) => Math.Abs(x - e) < 1e-6f);
    }

    [Fact]
    public void Clipping_needs_a_positive_maximum()
    {
        FluentActions.Invoking(() => Optimization.ClipGradients([Weights(1f)], 0))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("maxNorm");
    }

    // ----- schedules -----

    private static double[] Rates(ScheduleOptions options, double baseRate, int epochs)
    {
        var schedule = new LearningRateSchedule(options, baseRate, epochs);
        return Enumerable.Range(1, epochs).Select(schedule.LearningRateAt).ToArray();
    }

    private static void ShouldEqual(double[] actual, params double[] expected) =>
        actual.Should().Equal(expected, (a, e) => Math.Abs(a - e) < 1e-12);

    [Fact]
    public void Constant_schedule_keeps_the_base_rate()
    {
        ShouldEqual(Rates(new ScheduleOptions(), 0.01, 3), 0.01, 0.01, 0.01);
    }

    [Fact]
    public void Step_schedule_decays_by_gamma_every_step_size_epochs()
    {
        // base · γ^⌊(e − 1) / 3⌋ with base 0.1, γ 0.5: epochs 1–3 ⌊0..2/3⌋ = 0, 4–6 → 1, 7 → 2.
        ShouldEqual(Rates(new ScheduleOptions { Kind = ScheduleKind.Step, StepSize = 3, Gamma = 0.5 }, 0.1, 7),
            0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025);
    }

    [Fact]
    public void MultiStep_schedule_decays_by_gamma_after_each_milestone()
    {
        // Milestones 2 and 5 (completed epochs): epochs 1–2 base, 3–5 base·γ, 6 base·γ².
        // base 1, γ 0.1: 1, 1, 0.1, 0.1, 0.1, 0.01.
        ShouldEqual(Rates(new ScheduleOptions { Kind = ScheduleKind.MultiStep, Milestones = [2, 5] }, 1.0, 6),
            1, 1, 0.1, 0.1, 0.1, 0.01);
    }

    [Fact]
    public void Cosine_schedule_anneals_from_the_base_rate_towards_the_minimum()
    {
        // min + (base − min) · (1 + cos(π·t/T)) / 2, t = e − 1, T = 4, base 0.1, min 0.02:
        // t = 0: 0.1; t = 1: 0.02 + 0.08 · (1 + √½)/2 = 0.0882842712…; t = 2: 0.02 + 0.08 · ½ = 0.06;
        // t = 3: 0.02 + 0.08 · (1 − √½)/2 = 0.0317157287….
        var half = Math.Sqrt(0.5);
        ShouldEqual(Rates(new ScheduleOptions { Kind = ScheduleKind.Cosine, MinLearningRate = 0.02 }, 0.1, 4),
            0.1, 0.02 + (0.08 * (1 + half) / 2), 0.06, 0.02 + (0.08 * (1 - half) / 2));
    }

    [Fact]
    public void Warmup_ramps_linearly_then_hands_over_to_the_cosine_schedule()
    {
        // Warm-up 3 epochs: base · e / 4 = 0.025, 0.05, 0.075; then cosine over the other T = 4 epochs,
        // t = e − 1 − 3: the same four values as without warm-up, starting from the base rate.
        var half = Math.Sqrt(0.5);
        ShouldEqual(Rates(new ScheduleOptions { Kind = ScheduleKind.Cosine, WarmupEpochs = 3 }, 0.1, 7),
            0.025, 0.05, 0.075, 0.1, 0.05 * (1 + half), 0.05, 0.05 * (1 - half));
    }

    [Fact]
    public void Warmup_overrides_the_first_epochs_of_a_multistep_schedule_whose_milestones_stay_absolute()
    {
        // Warm-up 2 epochs: 1 · e / 3 = ⅓, ⅔; then the plain MultiStep rate of epochs 3–6 (milestone 4: from epoch 5 on, ·0.1).
        ShouldEqual(Rates(new ScheduleOptions { Kind = ScheduleKind.MultiStep, Milestones = [4], WarmupEpochs = 2 }, 1.0, 6),
            1.0 / 3, 2.0 / 3, 1, 1, 0.1, 0.1);
    }

    [Fact]
    public void Rates_depend_on_the_epoch_only_so_a_resumed_run_gets_the_same_ones()
    {
        var options = new ScheduleOptions { Kind = ScheduleKind.Cosine, WarmupEpochs = 2, MinLearningRate = 1e-4 };
        var full = new LearningRateSchedule(options, 0.01, 10);
        var resumed = new LearningRateSchedule(options, 0.01, 10);

        var late = Enumerable.Range(6, 5).Select(resumed.LearningRateAt).ToArray();

        late.Should().Equal(Enumerable.Range(1, 10).Select(full.LearningRateAt).Skip(5));
    }

    [Fact]
    public void Epochs_outside_the_run_are_rejected()
    {
        var schedule = new LearningRateSchedule(new ScheduleOptions(), 0.01, 5);

        schedule.Invoking(s => s.LearningRateAt(0)).Should().Throw<ArgumentOutOfRangeException>();
        schedule.Invoking(s => s.LearningRateAt(6)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Apply_sets_the_learning_rate_the_next_step_uses()
    {
        var theta = Weights(3f, -2f);
        using var optimizer = Optimization.CreateOptimizer([theta], new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.1, Momentum = 0 });
        var schedule = new LearningRateSchedule(new ScheduleOptions { Kind = ScheduleKind.Step, StepSize = 1, Gamma = 0.5 }, 0.1, 3);

        var rate = schedule.Apply(optimizer, epoch: 2);
        LossAfterOneStep(theta, optimizer);

        rate.Should().Be(0.05);
        SingleGroup(optimizer).LearningRate.Should().Be(0.05);

        // θ − 0.05 · 2θ = 0.9 θ: the step used the new rate.
        theta.data<float>().ToArray().Should().Equal([2.7f, -1.8f], (a, e) => Math.Abs(a - e) < 1e-6f);
    }

    [Fact]
    public void Apply_changes_the_rate_of_adam_too()
    {
        var theta = Weights(1f);
        using var optimizer = Optimization.CreateOptimizer([theta], new OptimizationOptions { LearningRate = 0.1 });
        var schedule = new LearningRateSchedule(new ScheduleOptions { WarmupEpochs = 1 }, 0.1, 2);

        schedule.Apply(optimizer, 1);
        SingleGroup(optimizer).LearningRate.Should().Be(0.05);
        schedule.Apply(optimizer, 2);
        SingleGroup(optimizer).LearningRate.Should().Be(0.1);
    }

    [Theory]
    [InlineData(nameof(ScheduleOptions.StepSize))]
    [InlineData(nameof(ScheduleOptions.Gamma))]
    [InlineData(nameof(ScheduleOptions.MinLearningRate))]
    [InlineData(nameof(ScheduleOptions.WarmupEpochs))]
    [InlineData(nameof(ScheduleOptions.Kind))]
    public void Schedule_validation_names_the_bad_property(string property)
    {
        var options = property switch
        {
            nameof(ScheduleOptions.StepSize) => new ScheduleOptions { Kind = ScheduleKind.Step },
            nameof(ScheduleOptions.Gamma) => new ScheduleOptions { Kind = ScheduleKind.Step, StepSize = 2, Gamma = 0 },
            nameof(ScheduleOptions.MinLearningRate) => new ScheduleOptions { Kind = ScheduleKind.Cosine, MinLearningRate = -1 },
            nameof(ScheduleOptions.WarmupEpochs) => new ScheduleOptions { WarmupEpochs = -1 },
            _ => new ScheduleOptions { Kind = (ScheduleKind)42 },
        };

        options.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(property);
    }

    [Theory]
    [InlineData(new int[0])]
    [InlineData(new[] { 5, 3 })]
    [InlineData(new[] { 3, 3 })]
    [InlineData(new[] { 0, 3 })]
    public void MultiStep_needs_strictly_increasing_positive_milestones(int[] milestones)
    {
        var options = new ScheduleOptions { Kind = ScheduleKind.MultiStep, Milestones = milestones };

        options.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(ScheduleOptions.Milestones));
    }

    [Fact]
    public void Warmup_must_leave_at_least_one_epoch_to_the_schedule()
    {
        var options = new ScheduleOptions { WarmupEpochs = 5 };

        options.Invoking(o => o.Validate(0.1, totalEpochs: 5)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(ScheduleOptions.WarmupEpochs));
        FluentActions.Invoking(() => new LearningRateSchedule(options, 0.1, 5))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(ScheduleOptions.WarmupEpochs));
        FluentActions.Invoking(() => new LearningRateSchedule(options, 0.1, 6)).Should().NotThrow();
    }

    [Fact]
    public void The_cosine_minimum_must_not_exceed_the_base_rate()
    {
        var options = new ScheduleOptions { Kind = ScheduleKind.Cosine, MinLearningRate = 0.2 };

        FluentActions.Invoking(() => new LearningRateSchedule(options, 0.1, 5))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(ScheduleOptions.MinLearningRate));
    }

    [Fact]
    public void The_base_rate_and_the_epoch_count_are_checked()
    {
        FluentActions.Invoking(() => new LearningRateSchedule(new ScheduleOptions(), 0, 5))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("baseLearningRate");
        FluentActions.Invoking(() => new LearningRateSchedule(new ScheduleOptions(), 0.1, 0))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("totalEpochs");
    }

    [Fact]
    public void The_schedule_keeps_its_own_copy_of_the_milestones()
    {
        var milestones = new List<int> { 1 };
        var schedule = new LearningRateSchedule(new ScheduleOptions { Kind = ScheduleKind.MultiStep, Milestones = milestones }, 1.0, 3);

        milestones[0] = 2;

        schedule.LearningRateAt(2).Should().BeApproximately(0.1, 1e-12, "milestone 1 lowers the rate from epoch 2 on");
    }

    [Fact]
    public void Null_options_or_optimizer_are_rejected_by_name()
    {
        FluentActions.Invoking(() => new LearningRateSchedule(null!, 0.1, 3)).Should().Throw<ArgumentNullException>().WithParameterName("options");
        var schedule = new LearningRateSchedule(new ScheduleOptions(), 0.1, 3);
        schedule.Invoking(s => s.Apply(null!, 1)).Should().Throw<ArgumentNullException>().WithParameterName("optimizer");
    }
}
