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

    [Fact]
    public void Part_names_are_the_ones_reports_and_history_columns_use()
    {
        using var hint = new HintTerm();

        new CrossEntropyLoss().Name.Should().Be("cross-entropy");
        new DecoupledKDTerm().Name.Should().Be("dkd");
        new CosineFeatureTerm().Name.Should().Be("cosine");
        hint.Name.Should().Be("hint");
        new KLDivergenceLoss().NeedsTeacher.Should().BeTrue();
    }

    [Fact]
    public void A_null_context_or_tensor_is_rejected_by_name()
    {
        using var hint = new HintTerm();
        var computes = new (string Name, Action Compute)[]
        {
            ("ce", () => new CrossEntropyLoss().Compute(null!)),
            ("kl loss", () => new KLDivergenceLoss().Compute(null!)),
            ("kd", () => new KLDivergenceTerm().Compute(null!)),
            ("dkd", () => new DecoupledKDTerm().Compute(null!)),
            ("cosine", () => new CosineFeatureTerm().Compute(null!)),
            ("hint", () => hint.Compute(null!)),
            ("objective", () => new DistillationObjective(1).Compute(null!)),
        };
        foreach (var (name, compute) in computes)
        {
            compute.Should().Throw<ArgumentNullException>(name).WithParameterName("context");
        }

        var t = randn(2, 3);
        var y = zeros(2, ScalarType.Int64);
        FluentActions.Invoking(() => DecoupledKDTerm.Parts(null!, t, y, 1)).Should().Throw<ArgumentNullException>().WithParameterName("studentLogits");
        FluentActions.Invoking(() => DecoupledKDTerm.Parts(t, null!, y, 1)).Should().Throw<ArgumentNullException>().WithParameterName("teacherLogits");
        FluentActions.Invoking(() => DecoupledKDTerm.Parts(t, t, null!, 1)).Should().Throw<ArgumentNullException>().WithParameterName("labels");
        FluentActions.Invoking(() => KLDivergenceLoss.SoftTargetTerm(null!, t, 1)).Should().Throw<ArgumentNullException>().WithParameterName("studentLogits");
        FluentActions.Invoking(() => KLDivergenceLoss.SoftTargetTerm(t, null!, 1)).Should().Throw<ArgumentNullException>().WithParameterName("teacherLogits");
        FluentActions.Invoking(() => KLDivergenceTerm.Standardize(null!)).Should().Throw<ArgumentNullException>().WithParameterName("logits");
        FluentActions.Invoking(() => new DistillationContext(null!, y)).Should().Throw<ArgumentNullException>().WithParameterName("studentLogits");
        FluentActions.Invoking(() => new DistillationContext(t, null!)).Should().Throw<ArgumentNullException>().WithParameterName("labels");
        FluentActions.Invoking(() => new DistillationObjective(1, (IEnumerable<WeightedTerm>)null!)).Should().Throw<ArgumentNullException>().WithParameterName("terms");
    }

    [Fact]
    public void Feature_module_names_and_hint_channels_are_checked_when_the_term_is_made()
    {
        FluentActions.Invoking(() => new CosineFeatureTerm(" ")).Should().Throw<ArgumentException>().WithParameterName("studentModule");
        FluentActions.Invoking(() => new CosineFeatureTerm("features", "")).Should().Throw<ArgumentException>().WithParameterName("teacherModule");
        FluentActions.Invoking(() => new HintTerm(studentChannels: 0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("studentChannels");
        FluentActions.Invoking(() => new HintTerm(teacherChannels: 0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("teacherChannels");
        FluentActions.Invoking(() => new HintTerm(studentModule: " ")).Should().Throw<ArgumentException>().WithParameterName("studentModule");
        FluentActions.Invoking(() => new HintTerm(teacherModule: "")).Should().Throw<ArgumentException>().WithParameterName("teacherModule");
    }

    [Fact]
    public void A_missing_feature_names_the_model_the_module_and_what_was_captured()
    {
        var context = Features(randn(2, 4), randn(2, 4));

        FluentActions.Invoking(() => context.RequireStudentFeature("body", "cosine"))
            .Should().Throw<InvalidOperationException>().WithMessage("The cosine loss needs the student's output of module 'body', which was not captured (captured: features).");
        FluentActions.Invoking(() => context.RequireTeacherFeature("trunk", "hint"))
            .Should().Throw<InvalidOperationException>().WithMessage("The hint loss needs the teacher's output of module 'trunk'*(captured: features)*");
    }

    [Fact]
    public void Check_messages_name_the_value_and_the_allowed_range()
    {
        FluentActions.Invoking(() => new DecoupledKDTerm(alpha: -1)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("alpha must be a finite number ≥ 0.*");
        FluentActions.Invoking(() => new KLDivergenceTerm(0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("temperature must be a finite number > 0.*");
        FluentActions.Invoking(() => new CrossEntropyLoss().Compute(new DistillationContext(randn(4, 3), zeros(3, ScalarType.Int64))))
            .Should().Throw<ArgumentException>().WithMessage("labels must be [4] to match the logits; got [3].*");
        FluentActions.Invoking(() => new KLDivergenceTerm().Compute(Logits(teacher: randn(4, 5))))
            .Should().Throw<LogitShapeMismatchException>().WithMessage("*Both models must predict the same classes.*")
            .Which.Should().Match<LogitShapeMismatchException>(e => e.StudentShape.SequenceEqual(new long[] { 4, 3 }) && e.TeacherShape.SequenceEqual(new long[] { 4, 5 }));
    }

    [Fact]
    public void Non_finite_logits_are_named_by_the_side_they_come_from()
    {
        var nan = randn(4, 3);
        nan[0, 0] = tensor(float.NaN);

        FluentActions.Invoking(() => new KLDivergenceLoss().Compute(Logits(teacher: nan))).Should().Throw<ArgumentException>().WithParameterName("teacherLogits");
        FluentActions.Invoking(() => new DistillationObjective(1).Compute(new DistillationContext(nan, tensor(new long[] { 0, 1, 2, 0 }))))
            .Should().Throw<ArgumentException>().WithParameterName("studentLogits");
    }

    /// <summary>A term that records the devices it is moved to.</summary>
    private sealed class RecordingTerm(string name) : ILossTerm
    {
        public string Name => name;

        public List<string> Moves { get; } = [];

        public void MoveTo(Device device) => Moves.Add(device.ToString());

        public Tensor Compute(DistillationContext context) => zeros(1).squeeze();
    }

    [Fact]
    public void The_objective_moves_every_term()
    {
        var (a, b) = (new RecordingTerm("a"), new RecordingTerm("b"));

        new DistillationObjective(1, (a, 1.0), (b, 2.0)).MoveTo(CPU);

        a.Moves.Should().Equal("cpu");
        b.Moves.Should().Equal("cpu");
    }
}
