using Distillation.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Losses;

/// <summary>
/// The KL-temperature loss against values worked by hand on one 2×3 batch:
///   student logits S = [[0, 0, 0], [ln 2, 0, 0]]
///   teacher logits T = [[0, ln 2, 0], [0, 0, 0]]
///   labels         y = [0, 0]
/// </summary>
public sealed class KLDivergenceLossTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();

    private static readonly double Ln2 = Math.Log(2);

    private static Tensor Student() => tensor(new[] { 0, 0, 0, Ln2, 0, 0 }, [2, 3], ScalarType.Float32);

    private static Tensor Teacher() => tensor(new[] { 0, Ln2, 0, 0, 0, 0 }, [2, 3], ScalarType.Float32);

    private static readonly int[] Int32Labels = [0, 1];

    private static Tensor Labels() => tensor(new long[] { 0, 0 });

    public void Dispose() => scope.Dispose();

    [Fact]
    public void Soft_term_at_T1_matches_the_hand_computed_value()
    {
        // Row 1: p_teacher = softmax(0, ln2, 0) = (1/4, 1/2, 1/4); q_student = (1/3, 1/3, 1/3).
        //   KL = 1/4·ln(3/4) + 1/2·ln(3/2) + 1/4·ln(3/4) = 1/2·ln(9/8) = 0.0588915
        // Row 2: p_teacher = (1/3, 1/3, 1/3); q_student = softmax(ln2, 0, 0) = (1/2, 1/4, 1/4).
        //   KL = 1/3·ln(2/3) + 2/3·ln(4/3) = 1/3·ln(32/27) = 0.0566330
        // Batch mean: (0.0588915 + 0.0566330) / 2 = 0.0577623; T² = 1.
        var expected = (0.5 * Math.Log(9.0 / 8.0) + Math.Log(32.0 / 27.0) / 3.0) / 2.0;
        expected.Should().BeApproximately(0.0577623, 1e-7);

        var kd = KLDivergenceLoss.SoftTargetTerm(Student(), Teacher(), temperature: 1.0);

        kd.item<float>().Should().BeApproximately((float)expected, 1e-6f);
    }

    [Fact]
    public void Soft_term_at_T2_matches_the_hand_computed_value()
    {
        // Logits / 2: teacher row 1 = (0, ln2/2, 0) → (1, √2, 1) / (2 + √2) = (a, b, a), a = 0.2928932, b = 0.4142136.
        //   Row 1: KL = 2·a·ln(3a) + b·ln(3b)                      = 0.0142206
        //   Row 2 (student softmax (b, a, a)): KL = 1/3·ln(1/(3b)) + 2/3·ln(1/(3a)) = 0.0138104
        // T² · mean = 4 · (0.0142206 + 0.0138104) / 2 = 0.0560619.
        var a = 1 / (2 + Math.Sqrt(2));
        var b = Math.Sqrt(2) / (2 + Math.Sqrt(2));
        var row1 = 2 * a * Math.Log(3 * a) + b * Math.Log(3 * b);
        var row2 = Math.Log(1 / (3 * b)) / 3 + 2 * Math.Log(1 / (3 * a)) / 3;
        var expected = 4 * (row1 + row2) / 2;
        expected.Should().BeApproximately(0.0560619, 1e-7);

        var kd = KLDivergenceLoss.SoftTargetTerm(Student(), Teacher(), temperature: 2.0);

        kd.item<float>().Should().BeApproximately((float)expected, 1e-6f);
    }

    [Fact]
    public void Notebook_loss_is_ce_plus_kd_with_named_parts()
    {
        // CE: row 1 −ln(1/3) = 1.0986123; row 2 −ln(1/2) = 0.6931472; mean 0.8958797.
        // With T = 1 and weights 1, 1: total = 0.8958797 + 0.0577623 = 0.9536420.
        using var loss = DistillationObjective.KnowledgeDistillation(temperature: 1, hardWeight: 1, softWeight: 1);

        var result = loss.Compute(new DistillationContext(Student(), Labels(), Teacher()));

        result.Total.item<float>().Should().BeApproximately(0.9536420f, 1e-6f);
        result.Parts.Select(p => p.Name).Should().Equal("ce", "kd");
        result["ce"].item<float>().Should().BeApproximately(0.8958797f, 1e-6f);
        result["kd"].item<float>().Should().BeApproximately(0.0577623f, 1e-6f);
        loss.Description.Should().Be("1·ce + 1·kd(T=1)");
    }

    [Fact]
    public void Reading_a_part_that_is_not_there_names_the_parts_that_are()
    {
        using var loss = DistillationObjective.KnowledgeDistillation(temperature: 1);
        var result = loss.Compute(new DistillationContext(Student(), Labels(), Teacher()));

        var act = () => result["dkd"];

        act.Should().Throw<KeyNotFoundException>().WithMessage("*'dkd'*ce, kd*");
    }

    [Fact]
    public void PyTorch_tutorial_preset_weighs_ce_three_quarters_and_kd_one_quarter_at_T2()
    {
        // 0.75 · 0.8958797 + 0.25 · 0.0560619 = 0.6719098 + 0.0140155 = 0.6859253.
        using var loss = DistillationObjective.PyTorchTutorial();

        var result = loss.Compute(new DistillationContext(Student(), Labels(), Teacher()));

        result.Total.item<float>().Should().BeApproximately(0.6859253f, 1e-6f);
        loss.Description.Should().Be("0.75·ce + 0.25·kd(T=2)");
    }

    [Fact]
    public void The_notebook_preset_is_one_ce_plus_one_kd_at_T10_and_the_kd_term_defaults_to_T4()
    {
        using var notebook = DistillationObjective.Notebook();

        notebook.Description.Should().Be("1·ce + 1·kd(T=10)");
        notebook.Weights.Should().Equal(1.0, 1.0);
        notebook.Losses[0].Should().BeOfType<LabelCrossEntropyLoss>();
        notebook.Losses[1].Should().BeOfType<KLDivergenceLoss>().Which.Temperature.Should().Be(10.0);
        new KLDivergenceLoss().Temperature.Should().Be(KLDivergenceLoss.DefaultTemperature).And.Be(4.0);
    }

    [Fact]
    public void Soft_term_scales_with_T_squared()
    {
        // softmax((T·x)/T) = softmax(x): scaling both logits by T leaves the distributions of the
        // T = 1 case, so the term must be exactly T² times the T = 1 value.
        manual_seed(3);
        var student = randn(8, 10);
        var teacher = randn(8, 10);
        var atOne = KLDivergenceLoss.SoftTargetTerm(student, teacher, 1.0).item<float>();

        foreach (var t in new[] { 2.0, 4.0, 10.0 })
        {
            var scaled = KLDivergenceLoss.SoftTargetTerm(student * t, teacher * t, t).item<float>();
            scaled.Should().BeApproximately((float)(t * t) * atOne, 1e-4f * (float)(t * t));
        }
    }

    [Fact]
    public void Soft_term_is_zero_when_student_equals_teacher()
    {
        manual_seed(4);
        var logits = randn(16, 10) * 5;

        KLDivergenceLoss.SoftTargetTerm(logits, logits.clone(), 10.0).item<float>().Should().BeApproximately(0f, 1e-6f);
    }

    [Fact]
    public void Soft_term_equals_PyTorchs_kl_div_batchmean_times_T_squared()
    {
        // PyTorch: F.kl_div(F.log_softmax(s/T, 1), F.softmax(t/T, 1), reduction="batchmean") * T * T,
        // i.e. libtorch's kl_div with a probability target (log_target false), summed and divided by B.
        manual_seed(5);
        var student = randn(32, 10) * 3;
        var teacher = randn(32, 10) * 3;
        const double T = 4.0;
        var pytorch = nn.functional.kl_div(
                nn.functional.log_softmax(student / T, 1),
                nn.functional.softmax(teacher / T, 1),
                log_target: false,
                reduction: nn.Reduction.Sum)
            / 32 * (T * T);

        var ours = KLDivergenceLoss.SoftTargetTerm(student, teacher, T);

        ours.item<float>().Should().BeApproximately(pytorch.item<float>(), 1e-5f);
    }

    [Fact]
    public void Gradients_flow_to_the_student_only()
    {
        var student = Student().requires_grad_();
        var teacher = Teacher();
        var loss = new KLDivergenceLoss();

        loss.Compute(new DistillationContext(student, Labels(), teacher)).Total.backward();

        student.grad.Should().NotBeNull();
        student.grad!.abs().sum().item<float>().Should().BeGreaterThan(0);
        teacher.grad.Should().BeNull();
    }

    [Theory]
    [InlineData(0.0, 1.0, 1.0, "temperature")]
    [InlineData(-1.0, 1.0, 1.0, "temperature")]
    [InlineData(double.NaN, 1.0, 1.0, "temperature")]
    [InlineData(2.0, -0.5, 1.0, "weight of ce")]
    [InlineData(2.0, 1.0, -0.5, "weight of kd")]
    [InlineData(2.0, 1.0, double.PositiveInfinity, "weight of kd")]
    public void Out_of_range_settings_are_rejected_by_name(double temperature, double hardWeight, double softWeight, string name)
    {
        var act = () => DistillationObjective.KnowledgeDistillation(temperature, hardWeight, softWeight);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(name);
    }

    [Fact]
    public void Teacher_and_student_of_different_class_counts_are_rejected_with_both_shapes()
    {
        var loss = new KLDivergenceLoss();

        var act = () => loss.Compute(new DistillationContext(zeros(4, 10), zeros(4, ScalarType.Int64), zeros(4, 100)));

        act.Should().Throw<ArgumentException>().WithMessage("*student [4, 10], teacher [4, 100]*");
    }

    [Fact]
    public void Non_finite_logits_give_a_non_finite_loss_without_a_host_synchronisation()
    {
        // The loss does not read values (that would wait for the device every batch); the trainer
        // turns the non-finite loss into TrainingDivergedException naming the phase, epoch and step.
        var loss = new KLDivergenceLoss();
        var student = Student();
        student[0, 1] = tensor(float.NaN);

        var result = loss.Compute(new DistillationContext(student, Labels(), Teacher()));

        float.IsNaN(result.Total.item<float>()).Should().BeTrue();
    }

    [Fact]
    public void An_empty_batch_is_rejected()
    {
        var act = () => new LabelCrossEntropyLoss().Compute(new DistillationContext(zeros(0, 3), zeros(0, ScalarType.Int64)));

        act.Should().Throw<ArgumentException>().WithParameterName("studentLogits").WithMessage("*empty batch*");
    }

    [Theory]
    [InlineData(3L)]
    [InlineData(-2L)]
    public void Labels_out_of_range_are_an_argument_error_of_one_line(long label)
    {
        var labels = tensor(new[] { 0L, label });

        var act = () => new LabelCrossEntropyLoss().Compute(new DistillationContext(Student(), labels));

        act.Should().Throw<ArgumentException>().WithParameterName("labels")
            .Which.Message.Should().StartWith("labels must lie in [0, 3) for 3 classes").And.NotContain("\n");
    }

    [Fact]
    public void Labels_that_are_not_int64_are_rejected()
    {
        var act = () => new LabelCrossEntropyLoss().Compute(new DistillationContext(Student(), tensor(Int32Labels)));

        act.Should().Throw<ArgumentException>().WithParameterName("labels").WithMessage("*int64*Int32*");
    }

    [Fact]
    public void A_context_without_teacher_logits_is_rejected()
    {
        var act = () => new KLDivergenceLoss().Compute(new DistillationContext(Student(), Labels()));

        act.Should().Throw<InvalidOperationException>().WithMessage("*needs the teacher's logits*");
    }

    [Fact]
    public void Cross_entropy_matches_the_hand_computed_mean()
    {
        var result = new LabelCrossEntropyLoss().Compute(new DistillationContext(Student(), Labels()));

        result.Total.item<float>().Should().BeApproximately(0.8958797f, 1e-6f);
        result.Parts.Should().ContainSingle().Which.Name.Should().Be("ce");
    }
}
