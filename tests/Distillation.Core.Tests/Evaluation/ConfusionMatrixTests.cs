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

    [Fact]
    public void Cells_rows_totals_and_the_diagonal_read_the_counts_given()
    {
        var matrix = new ConfusionMatrix([[3, 1, 0], [2, 4, 6], [1, 2, 5]]);

        matrix.ClassCount.Should().Be(3);
        matrix[1, 2].Should().Be(6, "row = true class, column = prediction");
        matrix[2, 1].Should().Be(2);
        matrix.RowTotal(0).Should().Be(4);
        matrix.RowTotal(1).Should().Be(12);
        matrix.RowTotal(2).Should().Be(8);
        matrix.Total.Should().Be(24);
        matrix.Correct.Should().Be(12, "3 + 4 + 5");
        matrix.ToArray().Should().BeEquivalentTo(new long[][] { [3, 1, 0], [2, 4, 6], [1, 2, 5] }, o => o.WithStrictOrdering());
    }

    [Fact]
    public void ToArray_is_a_copy()
    {
        var matrix = new ConfusionMatrix([[1, 2], [3, 4]]);

        matrix.ToArray()[0][1] = 42;

        matrix[0, 1].Should().Be(2);
    }

    [Theory]
    [InlineData(-1, 0)]
    [InlineData(2, 0)]
    [InlineData(0, -1)]
    [InlineData(0, 2)]
    public void Cells_outside_the_matrix_are_rejected(int trueClass, int predictedClass)
    {
        var matrix = new ConfusionMatrix([[1, 2], [3, 4]]);

        matrix.Invoking(m => m[trueClass, predictedClass]).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(2)]
    public void Row_totals_outside_the_matrix_are_rejected(int trueClass)
    {
        var matrix = new ConfusionMatrix([[1, 2], [3, 4]]);

        matrix.Invoking(m => m.RowTotal(trueClass)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(trueClass));
    }

    [Fact]
    public void Rows_that_are_empty_null_ragged_or_negative_are_rejected_naming_the_cell()
    {
        FluentActions.Invoking(() => new ConfusionMatrix([])).Should().Throw<ArgumentException>().WithMessage("*at least one class*");
        FluentActions.Invoking(() => new ConfusionMatrix([[1, 0], null!])).Should().Throw<ArgumentException>().WithMessage("Row 1 is null*");
        FluentActions.Invoking(() => new ConfusionMatrix([[1, 0, 0], [0, 1, 0]])).Should().Throw<ArgumentException>().WithMessage("*row 0 has 3 counts for 2 classes*");
        FluentActions.Invoking(() => new ConfusionMatrix([[1, 0], [0, 1, 0]])).Should().Throw<ArgumentException>().WithMessage("*row 1 has 3 counts for 2 classes*");
        FluentActions.Invoking(() => new ConfusionMatrix([[1, 0], [-1, 1]])).Should().Throw<ArgumentException>().WithMessage("*[1, 0] is -1*");
        FluentActions.Invoking(() => new ConfusionMatrix(null!)).Should().Throw<ArgumentNullException>().WithParameterName("rows");
        new ConfusionMatrix([[0]]).Total.Should().Be(0, "zero counts are allowed");
    }

    [Fact]
    public void Sum_rejects_a_null_list_or_a_null_matrix_and_overflow()
    {
        FluentActions.Invoking(() => ConfusionMatrix.Sum(null!)).Should().Throw<ArgumentNullException>();
        FluentActions.Invoking(() => ConfusionMatrix.Sum([new ConfusionMatrix([[1]]), null!])).Should().Throw<ArgumentNullException>().WithParameterName("matrices");
        var huge = new ConfusionMatrix([[long.MaxValue]]);
        FluentActions.Invoking(() => ConfusionMatrix.Sum([huge, huge])).Should().Throw<OverflowException>();
    }

    [Fact]
    public void Json_is_an_array_of_rows_and_reads_back()
    {
        var matrix = new ConfusionMatrix([[3, 1], [0, 2]]);

        var json = System.Text.Json.JsonSerializer.Serialize(matrix);
        var back = System.Text.Json.JsonSerializer.Deserialize<ConfusionMatrix>(json)!;

        json.Should().Be("[[3,1],[0,2]]");
        back.ToArray().Should().BeEquivalentTo(matrix.ToArray(), o => o.WithStrictOrdering());
    }

    [Theory]
    [InlineData("[[1,2],[3]]")]
    [InlineData("[[1,-2],[3,4]]")]
    [InlineData("[]")]
    public void Json_that_is_not_a_valid_matrix_is_a_JsonException(string json)
    {
        FluentActions.Invoking(() => System.Text.Json.JsonSerializer.Deserialize<ConfusionMatrix>(json))
            .Should().Throw<System.Text.Json.JsonException>();
    }

    [Fact]
    public void Json_null_reads_as_no_matrix_without_reaching_the_converter()
    {
        System.Text.Json.JsonSerializer.Deserialize<ConfusionMatrix>("null").Should().BeNull();
    }
}
