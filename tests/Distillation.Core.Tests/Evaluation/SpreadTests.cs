using Distillation.Evaluation;

namespace Distillation.Tests.Evaluation;

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
}
