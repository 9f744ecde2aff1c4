using Distillation.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Losses;

/// <summary>
/// Per-term weight schedules: the weight of chosen epochs worked out by hand, the objective's total
/// as the sum with the scheduled weights, the formula it prints, and the one-line errors.
/// </summary>
public sealed class WeightScheduleTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();

    public void Dispose() => scope.Dispose();

    private static double[] Weights(WeightSchedule schedule, int epochs) =>
        Enumerable.Range(1, epochs).Select(e => schedule.WeightAt(e, epochs)).ToArray();

    private static void ShouldEqual(double[] actual, params double[] expected) =>
        actual.Should().Equal(expected, (a, e) => Math.Abs(a - e) < 1e-15);

    [Fact]
    public void A_constant_weight_is_the_same_in_every_epoch_and_a_double_converts_to_one()
    {
        WeightSchedule converted = 0.5;

        ShouldEqual(Weights(WeightSchedule.Constant(0.5), 3), 0.5, 0.5, 0.5);
        ShouldEqual(Weights(converted, 3), 0.5, 0.5, 0.5);
        converted.ToString().Should().Be("0.5");
    }

    [Fact]
    public void A_warm_up_grows_as_epoch_over_warm_up_and_then_stays()
    {
        // 2 · min(e / 4, 1): 0.5, 1, 1.5, 2, then 2.
        ShouldEqual(Weights(WeightSchedule.WarmUp(2, 4), 6), 0.5, 1, 1.5, 2, 2, 2);
        WeightSchedule.WarmUp(2, 4).ToString().Should().Be("2(warm-up 4 epochs)");
    }

    [Fact]
    public void A_ramp_over_the_last_quarter_reaches_the_final_weight_in_the_last_epoch()
    {
        // 20 epochs, ramp over ⌈0.25 · 20⌉ = 5: epochs 1–15 at 1, then 0.8, 0.6, 0.4, 0.2, 0.
        var weights = Weights(WeightSchedule.RampTo(1, 0, 0.25), 20);

        weights.Take(15).Should().AllBeEquivalentTo(1.0);
        ShouldEqual(weights.Skip(15).ToArray(), 0.8, 0.6, 0.4, 0.2, 0);
        weights[^1].Should().Be(0, "the last epoch gets exactly the final weight");
    }

    [Fact]
    public void The_ramp_length_is_not_lengthened_by_rounding()
    {
        // 0.14 · 50 is 7.000000000000001 in doubles: the ramp spans 7 epochs (44 to 50), not 8.
        ShouldEqual(Weights(WeightSchedule.RampTo(1, 0, 0.14), 50).Skip(42).ToArray(), 1, 6.0 / 7, 5.0 / 7, 4.0 / 7, 3.0 / 7, 2.0 / 7, 1.0 / 7, 0);

        // A fraction shorter than an epoch still ramps over the last one.
        ShouldEqual(Weights(WeightSchedule.RampTo(1, 0, 0.01), 10).Skip(8).ToArray(), 1, 0);
    }

    [Fact]
    public void A_ramp_may_rise_and_may_cover_all_of_training()
    {
        // 0.5 → 2 over all 4 epochs: 0.5 + 1.5 · e / 4.
        ShouldEqual(Weights(WeightSchedule.RampTo(0.5, 2, 1), 4), 0.875, 1.25, 1.625, 2);
    }

    [Fact]
    public void A_warm_up_and_a_ramp_together_multiply_where_they_meet()
    {
        // 4 epochs, warm-up 2 (factors ½, 1, 1, 1), ramp to 0 over the last 2 (1, 1, ½, 0).
        var schedule = WeightSchedule.RampTo(1, 0, 0.5, warmupEpochs: 2);

        ShouldEqual(Weights(schedule, 4), 0.5, 1, 0.5, 0);
        schedule.ToString().Should().Be("1(warm-up 2 epochs, to 0 over the last 0.5)");
        WeightSchedule.RampTo(2, 0.5, 0.25).ToString().Should().Be("2(to 0.5 over the last 0.25)");
        (schedule.Weight, schedule.WarmupEpochs, schedule.FinalWeight, schedule.RampFraction).Should().Be((1.0, 2, 0.0, 0.5));
    }

    [Fact]
    public void Out_of_range_settings_are_rejected_in_one_line_naming_the_setting()
    {
        FluentActions.Invoking(() => WeightSchedule.Constant(-1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("weight");
        FluentActions.Invoking(() => WeightSchedule.WarmUp(double.NaN, 3)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("weight");
        FluentActions.Invoking(() => WeightSchedule.WarmUp(1, 0)).Should().Throw<ArgumentOutOfRangeException>()
            .WithParameterName("warmupEpochs").WithMessage("warmupEpochs must be ≥ 1, was 0.");
        FluentActions.Invoking(() => WeightSchedule.RampTo(1, 0, 0.5, warmupEpochs: -1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("warmupEpochs");
        FluentActions.Invoking(() => WeightSchedule.RampTo(1, -0.5, 0.5)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("finalWeight");
        foreach (var fraction in new[] { 0.0, -0.1, 1.5, double.NaN })
        {
            FluentActions.Invoking(() => WeightSchedule.RampTo(1, 0, fraction)).Should().Throw<ArgumentOutOfRangeException>()
                .WithParameterName("rampFraction").Which.Message.Should().StartWith("rampFraction must be a finite number > 0 and ≤ 1").And.NotContain("\n");
        }
    }

    [Fact]
    public void A_scheduled_weight_refuses_an_epoch_it_cannot_place()
    {
        var ramp = WeightSchedule.RampTo(1, 0, 0.25);

        FluentActions.Invoking(() => ramp.WeightAt(0, 10)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("epoch must be ≥ 1*");
        FluentActions.Invoking(() => ramp.WeightAt(11, 10)).Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("epoch must be at most the run's 10 epochs*set DistillationContext.Epochs*was 11.");
        WeightSchedule.WarmUp(1, 4).WeightAt(30, 1).Should().Be(1, "a warm-up needs no run length");
        WeightSchedule.Constant(2).WeightAt(0, 0).Should().Be(2, "a constant needs no epoch at all");
    }

    // ----- in an objective -----

    /// <summary>The batch of <see cref="LossTermTests"/>, at <paramref name="epoch"/> of <paramref name="epochs"/>.</summary>
    private static DistillationContext Context(int epoch, int epochs) => new(
        tensor(new[] { 0, 0, 0, Math.Log(2), 0, 0 }, [2, 3], ScalarType.Float32),
        tensor(new long[] { 0, 0 }),
        tensor(new[] { 0, Math.Log(2), 0, 0, 0, 0 }, [2, 3], ScalarType.Float32)) { Epoch = epoch, Epochs = epochs };

    [Theory]
    [InlineData(1, 1.0, 0.5)]    // warm-up ½ of the way, ramp not started
    [InlineData(2, 1.0, 1.0)]
    [InlineData(8, 1.0, 1.0)]    // the ramp spans epochs 9 and 10 (⌈0.2 · 10⌉ = 2)
    [InlineData(9, 1.0, 0.5)]
    [InlineData(10, 1.0, 0.0)]
    public void The_objective_total_is_the_sum_with_the_weights_of_the_epoch(int epoch, double ceWeight, double kdWeight)
    {
        using var objective = new DistillationObjective(
            (new LabelCrossEntropyLoss(), 1.0),
            (new KLDivergenceLoss(temperature: 1), WeightSchedule.RampTo(1, 0, 0.2, warmupEpochs: 2)));
        var context = Context(epoch, 10);
        var ce = new LabelCrossEntropyLoss().Compute(context).Total.item<float>();
        var kd = new KLDivergenceLoss(temperature: 1).Compute(context).Total.item<float>();

        var result = objective.Compute(context);

        result.Total.item<float>().Should().BeApproximately((float)((ceWeight * ce) + (kdWeight * kd)), 1e-6f);
        result.Parts.Select(p => (p.Name, p.Weight)).Should().Equal(("ce", ceWeight), ("kd", kdWeight));
        result["kd"].item<float>().Should().Be(kd, "parts are reported before their weight");
    }

    [Fact]
    public void The_objective_prints_the_schedule_in_its_formula_and_keeps_constant_formulas()
    {
        using var scheduled = new DistillationObjective(
            (new LabelCrossEntropyLoss(), 1.0),
            (new KLDivergenceLoss(4), WeightSchedule.RampTo(1, 0, 0.25)),
            (new CosineFeatureLoss(), WeightSchedule.WarmUp(0.5, 5)));
        using var constant = new DistillationObjective((new LabelCrossEntropyLoss(), WeightSchedule.Constant(0.75)), (new KLDivergenceLoss(2), 0.25));

        scheduled.Description.Should().Be("1·ce + 1(to 0 over the last 0.25)·kd(T=4) + 0.5(warm-up 5 epochs)·cosine");
        scheduled.Weights.Should().Equal(1.0, 1.0, 0.5);
        scheduled.WeightSchedules[1].RampFraction.Should().Be(0.25);
        constant.Description.Should().Be(DistillationObjective.PyTorchTutorial().Description, "constant schedules print as plain weights");
    }

    [Fact]
    public void Constant_schedules_compute_bit_for_bit_what_plain_weights_do()
    {
        using var plain = DistillationObjective.KnowledgeDistillation(2, 0.75, 0.25);
        using var scheduled = new DistillationObjective((new LabelCrossEntropyLoss(), WeightSchedule.Constant(0.75)), (new KLDivergenceLoss(2), WeightSchedule.Constant(0.25)));
        manual_seed(11);
        var context = new DistillationContext(randn(16, 10), randint(0, 10, [16]), randn(16, 10) * 3) { Epoch = 7, Epochs = 9 };

        scheduled.Compute(context).Total.item<float>().Should().Be(plain.Compute(context).Total.item<float>());
    }

    [Fact]
    public void A_DKD_warm_up_equals_a_warmed_up_weight_on_DKD_without_one()
    {
        using var inside = new DistillationObjective((new DecoupledKDLoss(1, 8, 1, warmupEpochs: 4), 1.0));
        using var outside = new DistillationObjective((new DecoupledKDLoss(1, 8, 1, warmupEpochs: 0), WeightSchedule.WarmUp(1, 4)));

        foreach (var epoch in new[] { 1, 2, 3, 4, 9 })
        {
            var context = Context(epoch, 10);
            outside.Compute(context).Total.item<float>().Should().Be(inside.Compute(context).Total.item<float>(), $"epoch {epoch}");
        }
    }

    [Fact]
    public void A_ramp_in_a_context_without_the_run_length_names_the_term()
    {
        using var objective = new DistillationObjective((new LabelCrossEntropyLoss(), 1.0), (new KLDivergenceLoss(4), WeightSchedule.RampTo(1, 0, 0.25)));

        // A hand-made context defaults to Epochs = 1; epoch 5 of 1 cannot be placed on the ramp.
        FluentActions.Invoking(() => objective.Compute(Context(5, 1))).Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("*the weight of kd, 1(to 0 over the last 0.25)*");
        FluentActions.Invoking(() => new DistillationObjective((new LabelCrossEntropyLoss(), (WeightSchedule)null!)))
            .Should().Throw<ArgumentException>().WithMessage("*schedule of ce*null*");
    }
}
