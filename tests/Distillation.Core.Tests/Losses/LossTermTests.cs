using Distillation.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Losses;

/// <summary>
/// The composable objective's terms against values worked by hand. The logit batch is the one of
/// <see cref="KLDivergenceLossTests"/>: S = [[0, 0, 0], [ln 2, 0, 0]], T = [[0, ln 2, 0], [0, 0, 0]], y = [0, 0].
/// </summary>
public sealed class LossTermTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();
    private static readonly double Ln2 = Math.Log(2);

    public void Dispose() => scope.Dispose();

    private static DistillationContext Context(int epoch = 1) => new(
        tensor(new[] { 0, 0, 0, Ln2, 0, 0 }, [2, 3], ScalarType.Float32),
        tensor(new long[] { 0, 0 }),
        tensor(new[] { 0, Ln2, 0, 0, 0, 0 }, [2, 3], ScalarType.Float32)) { Epoch = epoch };

    [Fact]
    public void Decoupled_KD_parts_match_the_hand_computed_values()
    {
        // T = 1. Row 1: student p = (1/3, 1/3, 1/3), teacher p = (1/4, 1/2, 1/4), target class 0.
        //   TCKD: binary (target, rest): student (1/3, 2/3), teacher (1/4, 3/4)
        //         KL = 1/4·ln(3/4) + 3/4·ln(9/8)
        //   NCKD: over classes 1, 2: student (1/2, 1/2), teacher (2/3, 1/3)
        //         KL = 2/3·ln(4/3) + 1/3·ln(2/3)
        // Row 2: student p = (1/2, 1/4, 1/4), teacher (1/3, 1/3, 1/3).
        //   TCKD: student (1/2, 1/2), teacher (1/3, 2/3): KL = 1/3·ln(2/3) + 2/3·ln(4/3)
        //   NCKD: student (1/2, 1/2), teacher (1/2, 1/2): KL = 0
        // Each part is averaged over the batch of 2 (T² = 1).
        var tckd = (0.25 * Math.Log(0.75) + 0.75 * Math.Log(9.0 / 8.0) + Math.Log(2.0 / 3.0) / 3 + 2 * Math.Log(4.0 / 3.0) / 3) / 2;
        var nckd = (2 * Math.Log(4.0 / 3.0) / 3 + Math.Log(2.0 / 3.0) / 3) / 2;
        var context = Context();

        var (t, n) = DecoupledKDLoss.Parts(context.StudentLogits, context.TeacherLogits!, context.Labels, 1.0);

        t.item<float>().Should().BeApproximately((float)tckd, 1e-6f);
        n.item<float>().Should().BeApproximately((float)nckd, 1e-6f);
    }

    [Fact]
    public void Decoupled_KD_weighs_its_parts_and_ramps_in_over_the_warm_up()
    {
        var term = new DecoupledKDLoss(alpha: 1, beta: 8, temperature: 1, warmupEpochs: 4);
        var context = Context();
        var (t, n) = DecoupledKDLoss.Parts(context.StudentLogits, context.TeacherLogits!, context.Labels, 1.0);
        var full = t.item<float>() + 8 * n.item<float>();

        // min(epoch / 4, 1): 1/4 at epoch 1, 1/2 at epoch 2, 1 from epoch 4 on.
        term.Compute(Context(epoch: 1)).Total.item<float>().Should().BeApproximately(full / 4, 1e-6f);
        term.Compute(Context(epoch: 2)).Total.item<float>().Should().BeApproximately(full / 2, 1e-6f);
        term.Compute(Context(epoch: 9)).Total.item<float>().Should().BeApproximately(full, 1e-6f);
    }

    [Fact]
    public void Decoupled_KD_parts_sum_to_a_KL_identity_check_TCKD_plus_weighted_NCKD_equals_KD()
    {
        // Zhao et al.'s decomposition: KD = TCKD + (1 − p_target of the teacher) · NCKD, row by row.
        // With one row the batch mean is the row itself.
        manual_seed(2);
        var student = randn(1, 10) * 2;
        var teacher = randn(1, 10) * 2;
        var labels = tensor(new long[] { 3 });

        var (t, n) = DecoupledKDLoss.Parts(student, teacher, labels, 1.0);
        var kd = KLDivergenceLoss.SoftTargetTerm(student, teacher, 1.0);
        var teacherTarget = nn.functional.softmax(teacher, 1)[0, 3].item<float>();

        (t.item<float>() + (1 - teacherTarget) * n.item<float>()).Should().BeApproximately(kd.item<float>(), 1e-5f);
    }

    [Fact]
    public void Logit_standardization_z_scores_each_row_with_the_unbiased_std()
    {
        // Row (1, 2, 3): mean 2, unbiased std √(((−1)² + 0² + 1²) / 2) = 1 → (−1, 0, 1).
        var standardized = KLDivergenceLoss.Standardize(tensor(new float[] { 1, 2, 3, 10, 10, 13 }, [2, 3]));

        standardized[0].data<float>().ToArray().Should().BeEquivalentTo(new[] { -1f, 0f, 1f }, o => o.Using<float>(c => c.Subject.Should().BeApproximately(c.Expectation, 1e-6f)).WhenTypeIs<float>());
        // Row (10, 10, 13): mean 11, std √((1 + 1 + 4) / 2) = √3 → (−1/√3, −1/√3, 2/√3).
        standardized[1, 2].item<float>().Should().BeApproximately((float)(2 / Math.Sqrt(3)), 1e-5f);
    }

    [Fact]
    public void Standardized_KD_ignores_the_scale_and_shift_of_the_student_logits()
    {
        manual_seed(7);
        var student = randn(6, 10);
        var teacher = randn(6, 10) * 3;
        var term = new KLDivergenceLoss(temperature: 2, standardizeLogits: true);
        var labels = zeros(6, ScalarType.Int64);

        var plain = term.Compute(new DistillationContext(student, labels, teacher)).Total.item<float>();
        var scaled = term.Compute(new DistillationContext(student * 5 + 3, labels, teacher)).Total.item<float>();

        scaled.Should().BeApproximately(plain, 1e-4f);
        term.Name.Should().Be("kd-ls");
    }

    [Fact]
    public void KL_term_without_standardization_equals_the_soft_target_term()
    {
        var context = Context();

        new KLDivergenceLoss(temperature: 2).Compute(context).Total.item<float>()
            .Should().BeApproximately(KLDivergenceLoss.SoftTargetTerm(context.StudentLogits, context.TeacherLogits!, 2).item<float>(), 1e-7f);
    }

    [Theory]
    [InlineData(new float[] { 1, 0 }, 0.0)]                      // same direction as the pooled teacher (1, 0): 1 − 1
    [InlineData(new float[] { 0, 1 }, 1.0)]                      // orthogonal: 1 − 0
    [InlineData(new float[] { 1, 1 }, 0.29289321881345254)]      // 1 − 1/√2
    public void Cosine_term_pools_the_wider_teacher_and_averages_one_minus_cosine(float[] student, double expected)
    {
        // Teacher features (1, 1, 0, 0) average-pool by 2 to (1, 0).
        var context = new DistillationContext(zeros(1, 3), zeros(1, ScalarType.Int64), zeros(1, 3))
        {
            StudentFeatures = new Dictionary<string, Tensor> { ["features"] = tensor(student, [1, 2]) },
            TeacherFeatures = new Dictionary<string, Tensor> { ["features"] = tensor(new float[] { 1, 1, 0, 0 }, [1, 4]) },
        };

        new CosineFeatureLoss().Compute(context).Total.item<float>().Should().BeApproximately((float)expected, 1e-6f);
    }

    [Fact]
    public void Hint_term_is_the_MSE_between_the_regressed_student_map_and_the_teachers()
    {
        using var hint = new HintLoss(studentChannels: 2, teacherChannels: 3);
        using (no_grad())
        {
            // A zero regressor maps everything to 0, so the MSE is the mean of the teacher's squares.
            hint.Regressor.weight!.zero_();
            hint.Regressor.bias!.zero_();
        }

        var teacherMap = arange(3 * 4 * 4, dtype: ScalarType.Float32).reshape(1, 3, 4, 4).div(10);
        var context = new DistillationContext(zeros(1, 3), zeros(1, ScalarType.Int64), zeros(1, 3))
        {
            StudentFeatures = new Dictionary<string, Tensor> { ["features"] = ones(1, 2, 4, 4) },
            TeacherFeatures = new Dictionary<string, Tensor> { ["features"] = teacherMap },
        };

        hint.Compute(context).Total.item<float>().Should().BeApproximately(teacherMap.pow(2).mean().item<float>(), 1e-5f);
        hint.parameters().Sum(p => p.numel()).Should().Be(2 * 3 * 9 + 3);
    }

    [Fact]
    public void The_seed_hint_regressor_maps_16_channels_to_32()
    {
        using var hint = new HintLoss();

        hint.Regressor.call(zeros(2, 16, 8, 8)).shape.Should().Equal(2, 32, 8, 8);
    }

    [Fact]
    public void Objective_is_ce_plus_weighted_terms_with_every_part_reported()
    {
        // 0.5·CE + 2·KD(T=1) on the hand batch: 0.5·0.8958797 + 2·0.0577623 = 0.5634645.
        var objective = new DistillationObjective((new LabelCrossEntropyLoss(), 0.5), (new KLDivergenceLoss(temperature: 1), 2.0));

        var result = objective.Compute(Context());

        result.Total.item<float>().Should().BeApproximately(0.5634645f, 1e-6f);
        result.Parts.Select(p => (p.Name, p.Weight)).Should().Equal(("ce", 0.5), ("kd", 2.0));
        objective.Name.Should().Be("0.5·ce + 2·kd(T=1)");
    }

    [Fact]
    public void Objective_collects_feature_paths_and_trainable_parameters_of_its_terms()
    {
        using var hint = new HintLoss();
        var objective = new DistillationObjective((new LabelCrossEntropyLoss(), 1), (new CosineFeatureLoss("body", "trunk"), 0.25), (hint, 1.0));

        objective.StudentFeatureModules.Should().Equal("body", "features");
        objective.TeacherFeatureModules.Should().Equal("trunk", "features");
        objective.parameters().Should().HaveCount(2);
        objective.NeedsTeacher.Should().BeTrue();
    }

    [Fact]
    public void Objective_rejects_duplicate_names_and_negative_weights()
    {
        var duplicate = () => new DistillationObjective((new LabelCrossEntropyLoss(), 1), (new KLDivergenceLoss(), 1.0), (new KLDivergenceLoss(2), 1.0));
        var negative = () => new DistillationObjective((new LabelCrossEntropyLoss(), 1), (new KLDivergenceLoss(), -1.0));

        duplicate.Should().Throw<ArgumentException>().WithMessage("*'kd'*");
        negative.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*weight of kd*");
    }

    [Fact]
    public void A_feature_term_without_its_feature_names_what_was_captured()
    {
        var act = () => new CosineFeatureLoss("body").Compute(Context());

        act.Should().Throw<InvalidOperationException>().WithMessage("*'body'*captured: none*");
    }
}
