using Distillation.Cifar10;

namespace Distillation.Cifar10.Tests;

public class SpreadTests
{
    [Fact]
    public void Mean_and_sample_standard_deviation_match_hand_values()
    {
        // 2, 4, 9: mean 5; squared deviations 9, 1, 16 → 26 / (3 − 1) = 13 → sd √13 = 3.6055513.
        var spread = Spread.Of([2, 4, 9]);

        spread.Mean.Should().Be(5);
        spread.StandardDeviation.Should().BeApproximately(Math.Sqrt(13), 1e-12);
    }

    [Fact]
    public void Paired_differences_are_taken_seed_by_seed()
    {
        // (0.70 − 0.66, 0.72 − 0.67, 0.69 − 0.66) = (0.04, 0.05, 0.03): mean 0.04, sd 0.01.
        var gain = Spread.OfDifferences([0.70, 0.72, 0.69], [0.66, 0.67, 0.66]);

        gain.Mean.Should().BeApproximately(0.04, 1e-12);
        gain.StandardDeviation.Should().BeApproximately(0.01, 1e-12);
    }

    [Fact]
    public void One_value_has_no_spread_and_none_has_no_mean()
    {
        Spread.Of([3]).StandardDeviation.Should().Be(0);
        double.IsNaN(Spread.Of([]).Mean).Should().BeTrue();
    }

    [Fact]
    public void Unpaired_lists_are_rejected()
    {
        var act = () => Spread.OfDifferences([1, 2], [1]);

        act.Should().Throw<ArgumentException>().WithMessage("*2 and 1*");
    }

    [Fact]
    public void Two_values_already_have_a_sample_standard_deviation()
    {
        // 1, 3: mean 2; squared deviations 1, 1 → 2 / (2 − 1) = 2 → sd √2.
        Spread.Of([1, 3]).StandardDeviation.Should().BeApproximately(Math.Sqrt(2), 1e-12);
    }

    [Fact]
    public void No_values_have_neither_mean_nor_standard_deviation()
    {
        double.IsNaN(Spread.Of([]).StandardDeviation).Should().BeTrue();
        double.IsNaN(Spread.OfDifferences([], []).Mean).Should().BeTrue();
    }

    [Fact]
    public void Of_copies_the_values_it_is_given()
    {
        var values = new List<double> { 1, 2 };
        var spread = Spread.Of(values);

        values[0] = 100;

        spread.Values.Should().Equal(1, 2);
    }

    [Fact]
    public void Null_inputs_are_rejected_by_name()
    {
        FluentActions.Invoking(() => Spread.Of(null!)).Should().Throw<ArgumentNullException>().WithParameterName("values");
        FluentActions.Invoking(() => Spread.OfDifferences(null!, [1])).Should().Throw<ArgumentNullException>().WithParameterName("a");
        FluentActions.Invoking(() => Spread.OfDifferences([1], null!)).Should().Throw<ArgumentNullException>().WithParameterName("b");
    }
}
