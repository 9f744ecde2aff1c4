using Distillation.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Losses;

/// <summary>
/// The loss argument checks that keep a silent wrong result from happening: without them a
/// negative temperature, weight or warm-up, a teacher row broadcast over the batch, a teacher
/// feature map broadcast over the regressed one, or a pooled teacher that drops its last values
/// would each give a finite, wrong loss and no error.
/// </summary>
public sealed class LossArgumentTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();

    public void Dispose() => scope.Dispose();

    private static DistillationContext Logits(Tensor? teacher = null, Tensor? labels = null) =>
        new(randn(4, 3), labels ?? tensor(new long[] { 0, 1, 2, 0 }), teacher ?? randn(4, 3));

    private static DistillationContext Features(Tensor student, Tensor teacher) =>
        new(zeros(student.shape[0], 3), zeros(student.shape[0], ScalarType.Int64), zeros(student.shape[0], 3))
        {
            StudentFeatures = new Dictionary<string, Tensor> { ["features"] = student },
            TeacherFeatures = new Dictionary<string, Tensor> { ["features"] = teacher },
        };

    [Theory]
    [InlineData(0.0)]
    [InlineData(-2.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_temperature_that_is_not_a_finite_positive_number_is_rejected_by_every_term(double temperature)
    {
        FluentActions.Invoking(() => new KLDivergenceTerm(temperature)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(temperature));
        FluentActions.Invoking(() => new KLDivergenceTerm(temperature, standardizeLogits: true)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(temperature));
        FluentActions.Invoking(() => new DecoupledKDTerm(temperature: temperature)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(temperature));
    }

    [Theory]
    [InlineData(-1.0, 8.0, 0, "alpha")]
    [InlineData(1.0, -0.5, 0, "beta")]
    [InlineData(double.NaN, 8.0, 0, "alpha")]
    [InlineData(1.0, double.PositiveInfinity, 0, "beta")]
    [InlineData(1.0, 8.0, -1, "warmupEpochs")]
    public void DKD_rejects_negative_or_non_finite_weights_and_a_negative_warm_up(double alpha, double beta, int warmupEpochs, string name)
    {
        FluentActions.Invoking(() => new DecoupledKDTerm(alpha, beta, 4.0, warmupEpochs)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(name);
    }

    [Fact]
    public void Zero_weights_and_no_warm_up_are_allowed()
    {
        var term = new DecoupledKDTerm(alpha: 0, beta: 0, temperature: 1, warmupEpochs: 0);

        term.Compute(Logits()).item<float>().Should().Be(0);
        new DistillationObjective(0).CrossEntropyWeight.Should().Be(0);
    }

    [Fact]
    public void Objective_weights_must_be_finite_and_non_negative()
    {
        FluentActions.Invoking(() => new DistillationObjective(-0.1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("crossEntropyWeight");
        FluentActions.Invoking(() => new DistillationObjective(double.NaN)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("crossEntropyWeight");
        FluentActions.Invoking(() => new DistillationObjective(1, (new KLDivergenceTerm(), double.PositiveInfinity)))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*weight of kd*");
        FluentActions.Invoking(() => new DistillationObjective(1, (null!, 1.0))).Should().Throw<ArgumentNullException>();
    }

    [Fact]
    public void A_teacher_row_that_would_broadcast_over_the_batch_is_a_shape_mismatch()
    {
        // kl_div and sub broadcast a [1, C] teacher over a [4, C] student without complaint.
        var oneRow = Logits(teacher: randn(1, 3));

        FluentActions.Invoking(() => new KLDivergenceTerm().Compute(oneRow)).Should().Throw<LogitShapeMismatchException>().WithMessage("*[4, 3]*[1, 3]*");
        FluentActions.Invoking(() => new KLDivergenceTerm(standardizeLogits: true).Compute(oneRow)).Should().Throw<LogitShapeMismatchException>();
        FluentActions.Invoking(() => new DecoupledKDTerm().Compute(oneRow)).Should().Throw<LogitShapeMismatchException>();
        FluentActions.Invoking(() => new DistillationObjective(1).Compute(oneRow)).Should().Throw<LogitShapeMismatchException>();
    }

    [Theory]
    [InlineData(new long[] { 4, 1 })]
    [InlineData(new long[] { 3 })]
    [InlineData(new long[] { 5 })]
    public void Labels_that_are_not_one_per_row_are_rejected_naming_the_labels(long[] shape)
    {
        var labels = zeros(shape, ScalarType.Int64);

        FluentActions.Invoking(() => new CrossEntropyLoss().Compute(new DistillationContext(randn(4, 3), labels)))
            .Should().Throw<ArgumentException>().WithParameterName("labels").WithMessage("*[4]*");
        FluentActions.Invoking(() => new DistillationObjective(1).Compute(Logits(labels: labels)))
            .Should().Throw<ArgumentException>().WithParameterName("labels");
        FluentActions.Invoking(() => new KLDivergenceLoss().Compute(Logits(labels: labels)))
            .Should().Throw<ArgumentException>().WithParameterName("labels");
    }

    [Fact]
    public void Logits_that_are_not_a_matrix_or_not_finite_are_rejected_by_the_cross_entropy()
    {
        var labels = tensor(new long[] { 0, 1 });
        var nan = randn(2, 3);
        nan[1, 2] = tensor(float.NegativeInfinity);

        FluentActions.Invoking(() => new CrossEntropyLoss().Compute(new DistillationContext(randn(2, 3, 1), labels)))
            .Should().Throw<ArgumentException>().WithMessage("*[batch, classes]*[2, 3, 1]*");
        FluentActions.Invoking(() => new CrossEntropyLoss().Compute(new DistillationContext(nan, labels)))
            .Should().Throw<ArgumentException>().WithMessage("*NaN or infinite*");
        FluentActions.Invoking(() => new DistillationObjective(1).Compute(new DistillationContext(randn(2, 3), labels, nan)))
            .Should().Throw<ArgumentException>().WithParameterName("teacherLogits");
    }

    [Fact]
    public void An_objective_without_terms_needs_no_teacher_and_one_with_a_teacher_term_does()
    {
        new DistillationObjective(1).NeedsTeacher.Should().BeFalse("plain cross-entropy reads no teacher output");
        new DistillationObjective(1, (new KLDivergenceTerm(), 1.0)).NeedsTeacher.Should().BeTrue();
        new CrossEntropyLoss().NeedsTeacher.Should().BeFalse();
    }

    [Fact]
    public void An_objective_without_terms_is_the_weighted_cross_entropy_and_runs_without_a_teacher()
    {
        var context = new DistillationContext(randn(4, 3), tensor(new long[] { 0, 1, 2, 0 }));
        var ce = new CrossEntropyLoss().Compute(context).Total.item<float>();

        var result = new DistillationObjective(0.5).Compute(context);

        result.Total.item<float>().Should().BeApproximately(0.5f * ce, 1e-6f);
        result.Parts.Should().ContainSingle().Which.Name.Should().Be("ce");
    }

    [Fact]
    public void A_teacher_width_that_is_not_a_multiple_of_the_students_is_rejected_not_truncated()
    {
        // avg_pool1d by ⌊5 / 2⌋ = 2 would give 2 values from 5 and silently drop the last one.
        var act = () => new CosineFeatureTerm().Compute(Features(randn(2, 2), randn(2, 5)));

        act.Should().Throw<InvalidOperationException>().WithMessage("*(5)*(2)*");
    }

    [Fact]
    public void A_teacher_feature_map_that_would_broadcast_over_the_regressed_map_is_rejected()
    {
        // mse_loss broadcasts a [1, 3, 1, 1] target over [1, 3, 4, 4] without complaint.
        using var hint = new HintTerm(studentChannels: 2, teacherChannels: 3);

        var act = () => hint.Compute(Features(randn(1, 2, 4, 4), randn(1, 3, 1, 1)));

        act.Should().Throw<InvalidOperationException>().WithMessage("*[1, 3, 4, 4]*[1, 3, 1, 1]*");
    }
}
