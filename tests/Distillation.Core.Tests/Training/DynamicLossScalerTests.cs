using Distillation.Training;
using FluentAssertions;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distillation.Tests.Training;

/// <summary>The loss scaler of float16 mixed precision on its own (the trainer's use of it: MixedPrecisionTests).</summary>
public sealed class DynamicLossScalerTests
{
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

}
