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

    private static DistillationObjective Ce(double weight) => new((new LabelCrossEntropyLoss(), weight));

    [Theory]
    [InlineData(0.0)]
    [InlineData(-2.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_temperature_that_is_not_a_finite_positive_number_is_rejected_by_every_term(double temperature)
    {
        FluentActions.Invoking(() => new KLDivergenceLoss(temperature)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(temperature));
        FluentActions.Invoking(() => new KLDivergenceLoss(temperature, standardizeLogits: true)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(temperature));
        FluentActions.Invoking(() => new DecoupledKDLoss(temperature: temperature)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(temperature));
        FluentActions.Invoking(() => DistillationObjective.KnowledgeDistillation(temperature)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(temperature));
    }

    [Theory]
    [InlineData(-1.0, 8.0, 0, "alpha")]
    [InlineData(1.0, -0.5, 0, "beta")]
    [InlineData(double.NaN, 8.0, 0, "alpha")]
    [InlineData(1.0, double.PositiveInfinity, 0, "beta")]
    [InlineData(1.0, 8.0, -1, "warmupEpochs")]
    public void DKD_rejects_negative_or_non_finite_weights_and_a_negative_warm_up(double alpha, double beta, int warmupEpochs, string name)
    {
        FluentActions.Invoking(() => new DecoupledKDLoss(alpha, beta, 4.0, warmupEpochs)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(name);
    }

    [Fact]
    public void Zero_weights_and_no_warm_up_are_allowed()
    {
        var term = new DecoupledKDLoss(alpha: 0, beta: 0, temperature: 1, warmupEpochs: 0);

        term.Compute(Logits()).Total.item<float>().Should().Be(0);
        using var objective = Ce(0);
        objective.Weights.Should().Equal(0.0);
    }

    [Fact]
    public void Objective_weights_must_be_finite_and_non_negative_and_match_the_losses()
    {
        FluentActions.Invoking(() => Ce(-0.1)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*weight of ce*");
        FluentActions.Invoking(() => Ce(double.NaN)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*weight of ce*");
        FluentActions.Invoking(() => new DistillationObjective((new LabelCrossEntropyLoss(), 1), (new KLDivergenceLoss(), double.PositiveInfinity)))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*weight of kd*");
        FluentActions.Invoking(() => new DistillationObjective((null!, 1.0))).Should().Throw<ArgumentException>().WithMessage("*Term 0*null*");
        FluentActions.Invoking(() => new DistillationObjective([new LabelCrossEntropyLoss(), new KLDivergenceLoss()], [1.0]))
            .Should().Throw<ArgumentException>().WithParameterName("weights").WithMessage("*2 losses but 1 weights*");
        FluentActions.Invoking(() => new DistillationObjective([], [])).Should().Throw<ArgumentException>().WithMessage("*at least one term*");
        FluentActions.Invoking(() => new DistillationObjective((new KLDivergenceLoss(2), 1), (new KLDivergenceLoss(4), 1)))
            .Should().Throw<ArgumentException>().WithMessage("*named 'kd'*");
    }

    [Fact]
    public void A_teacher_row_that_would_broadcast_over_the_batch_is_a_shape_mismatch()
    {
        // kl_div and sub broadcast a [1, C] teacher over a [4, C] student without complaint.
        var oneRow = Logits(teacher: randn(1, 3));

        FluentActions.Invoking(() => new KLDivergenceLoss().Compute(oneRow)).Should().Throw<LogitShapeMismatchException>().WithMessage("*[4, 3]*[1, 3]*");
        FluentActions.Invoking(() => new KLDivergenceLoss(standardizeLogits: true).Compute(oneRow)).Should().Throw<LogitShapeMismatchException>();
        FluentActions.Invoking(() => new DecoupledKDLoss().Compute(oneRow)).Should().Throw<LogitShapeMismatchException>();
        using var notebook = DistillationObjective.Notebook();
        FluentActions.Invoking(() => notebook.Compute(oneRow)).Should().Throw<LogitShapeMismatchException>();
    }

    [Theory]
    [InlineData(new long[] { 4, 1 })]
    [InlineData(new long[] { 3 })]
    [InlineData(new long[] { 5 })]
    public void Labels_that_are_not_one_per_row_are_rejected_naming_the_labels(long[] shape)
    {
        var labels = zeros(shape, ScalarType.Int64);

        FluentActions.Invoking(() => new LabelCrossEntropyLoss().Compute(new DistillationContext(randn(4, 3), labels)))
            .Should().Throw<ArgumentException>().WithParameterName("labels").WithMessage("*[4]*");
        using var objective = Ce(1);
        FluentActions.Invoking(() => objective.Compute(Logits(labels: labels)))
            .Should().Throw<ArgumentException>().WithParameterName("labels");
        FluentActions.Invoking(() => new DecoupledKDLoss().Compute(Logits(labels: labels)))
            .Should().Throw<ArgumentException>().WithParameterName("labels", "DKD reads the labels itself, so it checks them itself");
    }

    [Fact]
    public void Logits_that_are_not_a_matrix_are_rejected_by_the_cross_entropy()
    {
        var labels = tensor(new long[] { 0, 1 });

        FluentActions.Invoking(() => new LabelCrossEntropyLoss().Compute(new DistillationContext(randn(2, 3, 1), labels)))
            .Should().Throw<ArgumentException>().WithMessage("*[batch, classes]*[2, 3, 1]*");
    }

    [Fact]
    public void An_objective_of_cross_entropy_alone_needs_no_teacher_and_one_with_a_teacher_term_does()
    {
        using var ce = Ce(1);
        using var kd = DistillationObjective.KnowledgeDistillation(4);
        ce.NeedsTeacher.Should().BeFalse("plain cross-entropy reads no teacher output");
        kd.NeedsTeacher.Should().BeTrue();
        new LabelCrossEntropyLoss().NeedsTeacher.Should().BeFalse();
    }

    [Fact]
    public void An_objective_of_cross_entropy_alone_is_the_weighted_cross_entropy_and_runs_without_a_teacher()
    {
        var context = new DistillationContext(randn(4, 3), tensor(new long[] { 0, 1, 2, 0 }));
        var ce = new LabelCrossEntropyLoss().Compute(context).Total.item<float>();
        using var objective = Ce(0.5);

        var result = objective.Compute(context);

        result.Total.item<float>().Should().BeApproximately(0.5f * ce, 1e-6f);
        result.Parts.Should().ContainSingle().Which.Name.Should().Be("ce");
    }

    [Fact]
    public void A_teacher_width_that_is_not_a_multiple_of_the_students_is_rejected_not_truncated()
    {
        // avg_pool1d by ⌊5 / 2⌋ = 2 would give 2 values from 5 and silently drop the last one.
        var act = () => new CosineFeatureLoss().Compute(Features(randn(2, 2), randn(2, 5)));

        act.Should().Throw<InvalidOperationException>().WithMessage("*(5)*(2)*");
    }

    [Fact]
    public void A_teacher_feature_map_that_would_broadcast_over_the_regressed_map_is_rejected()
    {
        // mse_loss broadcasts a [1, 3, 1, 1] target over [1, 3, 4, 4] without complaint.
        using var hint = new HintLoss(studentChannels: 2, teacherChannels: 3);

        var act = () => hint.Compute(Features(randn(1, 2, 4, 4), randn(1, 3, 1, 1)));

        act.Should().Throw<InvalidOperationException>().WithMessage("*[1, 3, 4, 4]*[1, 3, 1, 1]*");
    }

    [Fact]
    public void Part_names_are_the_ones_reports_and_history_columns_use()
    {
        using var hint = new HintLoss();

        new LabelCrossEntropyLoss().Name.Should().Be("ce");
        new KLDivergenceLoss().Name.Should().Be("kd");
        new KLDivergenceLoss(standardizeLogits: true).Name.Should().Be("kd-ls");
        new DecoupledKDLoss().Name.Should().Be("dkd");
        new CosineFeatureLoss().Name.Should().Be("cosine");
        hint.Name.Should().Be("hint");
        new KLDivergenceLoss().NeedsTeacher.Should().BeTrue();
        new CosineFeatureLoss().NeedsTeacher.Should().BeTrue();
        hint.NeedsTeacher.Should().BeTrue();
        new DecoupledKDLoss().NeedsTeacher.Should().BeTrue();
    }

    [Fact]
    public void Descriptions_carry_every_setting_that_changes_the_value()
    {
        new KLDivergenceLoss(3).Description.Should().Be("kd(T=3)");
        new KLDivergenceLoss(3, standardizeLogits: true).Description.Should().Be("kd-ls(T=3)");
        new DecoupledKDLoss(1, 8, 4, 20).Description.Should().Be("dkd(α=1, β=8, T=4, warm-up 20)");
        ((IDistillationLoss)new LabelCrossEntropyLoss()).Description.Should().Be("ce");
    }

    [Fact]
    public void A_null_context_or_tensor_is_rejected_by_name()
    {
        using var hint = new HintLoss();
        using var objective = Ce(1);
        var computes = new (string Name, Action Compute)[]
        {
            ("ce", () => new LabelCrossEntropyLoss().Compute(null!)),
            ("kd", () => new KLDivergenceLoss().Compute(null!)),
            ("dkd", () => new DecoupledKDLoss().Compute(null!)),
            ("cosine", () => new CosineFeatureLoss().Compute(null!)),
            ("hint", () => hint.Compute(null!)),
            ("objective", () => objective.Compute(null!)),
        };
        foreach (var (name, compute) in computes)
        {
            compute.Should().Throw<ArgumentNullException>(name).WithParameterName("context");
        }

        var t = randn(2, 3);
        var y = zeros(2, ScalarType.Int64);
        FluentActions.Invoking(() => new DistillationContext(null!, y)).Should().Throw<ArgumentNullException>().WithParameterName("studentLogits");
        FluentActions.Invoking(() => new DistillationContext(t, null!)).Should().Throw<ArgumentNullException>().WithParameterName("labels");
        FluentActions.Invoking(() => new DistillationObjective(null!, [1.0])).Should().Throw<ArgumentNullException>().WithParameterName("losses");
        FluentActions.Invoking(() => new DistillationObjective([new LabelCrossEntropyLoss()], null!)).Should().Throw<ArgumentNullException>().WithParameterName("weights");
    }

    [Fact]
    public void Feature_module_names_and_hint_channels_are_checked_when_the_term_is_made()
    {
        FluentActions.Invoking(() => new CosineFeatureLoss(" ")).Should().Throw<ArgumentException>().WithParameterName("studentModule");
        FluentActions.Invoking(() => new CosineFeatureLoss("features", "")).Should().Throw<ArgumentException>().WithParameterName("teacherModule");
        FluentActions.Invoking(() => new HintLoss(studentChannels: 0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("studentChannels");
        FluentActions.Invoking(() => new HintLoss(teacherChannels: 0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("teacherChannels");
        FluentActions.Invoking(() => new HintLoss(studentModule: " ")).Should().Throw<ArgumentException>().WithParameterName("studentModule");
        FluentActions.Invoking(() => new HintLoss(teacherModule: "")).Should().Throw<ArgumentException>().WithParameterName("teacherModule");
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
        FluentActions.Invoking(() => new DecoupledKDLoss(alpha: -1)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("alpha must be a finite number ≥ 0 and ≤ 1000000, was -1.");
        FluentActions.Invoking(() => new KLDivergenceLoss(0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("temperature must be a finite number ≥ 0.0001 and ≤ 10000, was 0.");
        FluentActions.Invoking(() => new LabelCrossEntropyLoss().Compute(new DistillationContext(randn(4, 3), zeros(3, ScalarType.Int64))))
            .Should().Throw<ArgumentException>().WithMessage("labels must be [4] to match the logits; got [3].*");
        FluentActions.Invoking(() => new KLDivergenceLoss().Compute(Logits(teacher: randn(4, 5))))
            .Should().Throw<LogitShapeMismatchException>().WithMessage("*Both models must predict the same classes.*")
            .Which.Should().Match<LogitShapeMismatchException>(e => e.StudentShape.SequenceEqual(new long[] { 4, 3 }) && e.TeacherShape.SequenceEqual(new long[] { 4, 5 }));
    }

    [Fact]
    public void The_objective_registers_its_learned_terms_as_modules_and_disposes_them()
    {
        var hint = new HintLoss(studentChannels: 2, teacherChannels: 3);
        var objective = new DistillationObjective((new LabelCrossEntropyLoss(), 1), (new CosineFeatureLoss(), 0.5), (hint, 1.0));

        objective.parameters().Should().HaveCount(2, "the hint regressor's weight and bias, and nothing from the others");
        objective.named_modules().Select(m => m.name).Should().Contain("hint");
        objective.Dispose();

        FluentActions.Invoking(() => hint.Regressor.weight!.numel()).Should().Throw<InvalidOperationException>("disposing the objective disposes the terms it owns");
    }

    [Fact]
    public void The_logit_terms_refuse_an_empty_batch_and_logits_that_are_not_a_matrix()
    {
        // Without the check, an empty batch divides by B = 0 (NaN), and [B, C, 1] logits go through
        // log_softmax over dimension 1 and give a finite, wrong value.
        var empty = new DistillationContext(zeros(0, 3), zeros(0, ScalarType.Int64), zeros(0, 3));
        var cube = new DistillationContext(randn(2, 3, 1), tensor(new long[] { 0, 1 }), randn(2, 3, 1));

        FluentActions.Invoking(() => new KLDivergenceLoss().Compute(empty)).Should().Throw<ArgumentException>().WithParameterName("studentLogits").WithMessage("*empty batch*");
        FluentActions.Invoking(() => new DecoupledKDLoss().Compute(empty)).Should().Throw<ArgumentException>().WithParameterName("studentLogits").WithMessage("*empty batch*");
        FluentActions.Invoking(() => new KLDivergenceLoss().Compute(cube)).Should().Throw<ArgumentException>().WithParameterName("studentLogits").WithMessage("*[batch, classes]*");
        FluentActions.Invoking(() => new DecoupledKDLoss().Compute(cube)).Should().Throw<ArgumentException>().WithParameterName("studentLogits").WithMessage("*[batch, classes]*");
    }
}
