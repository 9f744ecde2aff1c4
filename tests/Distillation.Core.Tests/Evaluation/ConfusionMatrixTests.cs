using Distillation.Evaluation;

namespace Distillation.Tests.Evaluation;

public sealed class ConfusionMatrixTests
{
    [Fact]
    public void Row_fractions_divide_each_row_by_its_total_and_leave_empty_rows_NaN()
    {
        var matrix = new ConfusionMatrix([[3, 1, 0], [0, 0, 0], [1, 2, 5]]);

        var fractions = matrix.ToRowFractions();

        fractions.Should().HaveCount(3);
        fractions[0].Should().Equal(0.75, 0.25, 0.0);
        fractions[1].Should().OnlyContain(f => double.IsNaN(f), "class 1 has no image");
        fractions[2].Should().Equal(0.125, 0.25, 0.625);
        fractions[2][2].Should().Be(5.0 / 8, "the diagonal is the per-class accuracy");
    }

    [Fact]
    public void Row_fractions_are_a_copy()
    {
        var matrix = new ConfusionMatrix([[1, 1], [0, 2]]);

        matrix.ToRowFractions()[0][0] = 42;

        matrix.ToRowFractions()[0][0].Should().Be(0.5);
    }

    [Fact]
    public void Sum_adds_cell_by_cell_and_leaves_the_inputs_unchanged()
    {
        var a = new ConfusionMatrix([[2, 1], [0, 3]]);
        var b = new ConfusionMatrix([[1, 0], [4, 5]]);

        var sum = ConfusionMatrix.Sum([a, b]);

        sum.ToArray().Should().BeEquivalentTo(new long[][] { [3, 1], [4, 8] }, o => o.WithStrictOrdering());
        sum.Total.Should().Be(a.Total + b.Total);
        sum.Correct.Should().Be(11, "3 + 8 on the diagonal");
        a.ToArray().Should().BeEquivalentTo(new long[][] { [2, 1], [0, 3] }, o => o.WithStrictOrdering());
    }

    [Fact]
    public void Sum_of_one_matrix_equals_it()
    {
        var a = new ConfusionMatrix([[2, 1], [0, 3]]);

        ConfusionMatrix.Sum([a]).ToArray().Should().BeEquivalentTo(a.ToArray(), o => o.WithStrictOrdering());
    }

    [Fact]
    public void Sum_rejects_no_matrix_and_mismatched_classes()
    {
        ((Action)(() => ConfusionMatrix.Sum([])))
            .Should().Throw<ArgumentException>().WithMessage("*at least one*");
        ((Action)(() => ConfusionMatrix.Sum([new ConfusionMatrix([[1]]), new ConfusionMatrix([[1, 0], [0, 1]])])))
            .Should().Throw<ArgumentException>().WithMessage("*same classes*");
    }
}
