using CsCheck;
using Distillation.Losses;
using Distillation.Tests.TestSupport;
using static TorchSharp.torch;

namespace Distillation.Tests.Losses;

/// <summary>
/// Invariants of the soft-target term on random logits (float64, so the tolerances can be tight),
/// for <see cref="KLDivergenceLoss.SoftTargetTerm"/>, <see cref="KLDivergenceLoss"/> and
/// <see cref="KLDivergenceLoss"/>. Fixed seeds: every run checks the same cases.
/// </summary>
public sealed class KLDivergencePropertyTests
{
    /// <summary>A batch of 1–6 rows of 2–12 classes, logits in ±20, T in [0.5, 10], a row and a shift in ±50.</summary>
    private static readonly Gen<Case> Cases =
        from batch in Gen.Int[1, 6]
        from classes in Gen.Int[2, 12]
        from student in Gen.Double[-20, 20].Array[batch * classes]
        from teacher in Gen.Double[-20, 20].Array[batch * classes]
        from temperature in Gen.Double[0.5, 10]
        from row in Gen.Int[0, batch - 1]
        from shift in Gen.Double[-50, 50]
        from scale in Gen.Double[0.1, 10]
        select new Case(batch, classes, student, teacher, temperature, row, shift, scale);

    internal sealed record Case(int Batch, int Classes, double[] Student, double[] Teacher, double Temperature, int Row, double Shift, double Scale)
    {
        public Tensor StudentLogits() => tensor(Student, [Batch, Classes], ScalarType.Float64);

        public Tensor TeacherLogits() => tensor(Teacher, [Batch, Classes], ScalarType.Float64);

        public Tensor Labels() => arange(Batch, dtype: ScalarType.Int64).remainder(Classes);

        /// <summary>The logits with <see cref="Shift"/> added to every class of row <see cref="Row"/>.</summary>
        public Tensor ShiftRow(Tensor logits)
        {
            var shifted = logits.clone();
            shifted[Row] += Shift;
            return shifted;
        }

        public override string ToString() => $"B={Batch} C={Classes} T={Temperature} row={Row} shift={Shift} scale={Scale}";
    }

    private static double Kd(Tensor student, Tensor teacher, double temperature) =>
        KLDivergenceLoss.SoftTargetTerm(student, teacher, temperature).item<double>();

    private static void Check(ulong seed, Action<Case> check) =>
        Fuzz.ForAll(Cases, seed, iterations: 60, c =>
        {
            using var scope = NewDisposeScope();
            check(c);
        });

    [Fact]
    public void KL_is_never_negative()
    {
        Check(1, c => Kd(c.StudentLogits(), c.TeacherLogits(), c.Temperature).Should().BeGreaterThanOrEqualTo(-1e-12, c.ToString()));
    }

    [Fact]
    public void KL_is_zero_when_the_student_equals_the_teacher()
    {
        Check(2, c => Kd(c.TeacherLogits(), c.TeacherLogits(), c.Temperature).Should().BeApproximately(0, 1e-12, c.ToString()));
    }

    [Fact]
    public void KL_is_unchanged_when_a_constant_is_added_to_a_row_of_student_or_teacher_logits()
    {
        Check(3, c =>
        {
            var (student, teacher) = (c.StudentLogits(), c.TeacherLogits());
            var plain = Kd(student, teacher, c.Temperature);
            var tolerance = 1e-9 * Math.Max(1, Math.Abs(plain));

            Kd(c.ShiftRow(student), teacher, c.Temperature).Should().BeApproximately(plain, tolerance, "student " + c);
            Kd(student, c.ShiftRow(teacher), c.Temperature).Should().BeApproximately(plain, tolerance, "teacher " + c);
        });
    }

    [Fact]
    public void KL_at_temperature_T_is_T_squared_times_KL_at_1_of_the_logits_divided_by_T()
    {
        Check(4, c =>
        {
            var (student, teacher, t) = (c.StudentLogits(), c.TeacherLogits(), c.Temperature);
            var atOne = Kd(student / t, teacher / t, 1.0);

            Kd(student, teacher, t).Should().BeApproximately(t * t * atOne, 1e-9 * Math.Max(1, t * t * atOne), c.ToString());
        });
    }

    [Fact]
    public void The_KL_term_matches_the_soft_target_term_and_its_standardized_form_ignores_shift_and_scale_of_a_row()
    {
        Check(5, c =>
        {
            var (student, teacher, labels) = (c.StudentLogits(), c.TeacherLogits(), c.Labels());
            var term = new KLDivergenceLoss(c.Temperature);
            var standardized = new KLDivergenceLoss(c.Temperature, standardizeLogits: true);

            term.Compute(new DistillationContext(student, labels, teacher)).Total.item<double>()
                .Should().BeApproximately(Kd(student, teacher, c.Temperature), 1e-12, c.ToString());
            term.Compute(new DistillationContext(c.ShiftRow(student), labels, c.ShiftRow(teacher))).Total.item<double>()
                .Should().BeApproximately(Kd(student, teacher, c.Temperature), 1e-9 * Math.Max(1, Kd(student, teacher, c.Temperature)), c.ToString());

            var plain = standardized.Compute(new DistillationContext(student, labels, teacher)).Total.item<double>();
            plain.Should().BeGreaterThanOrEqualTo(-1e-12);
            var rescaled = student.clone();
            rescaled[c.Row] = (rescaled[c.Row] * c.Scale) + c.Shift;
            standardized.Compute(new DistillationContext(rescaled, labels, teacher)).Total.item<double>()
                .Should().BeApproximately(plain, 1e-4 * Math.Max(1, plain), "z-scoring divides by std + 1e-7, so scale invariance holds to about 1e-7 / std; " + c);
        });
    }

    [Fact]
    public void The_notebook_loss_is_hard_weight_times_CE_plus_soft_weight_times_the_soft_target_term()
    {
        Check(6, c =>
        {
            var (student, teacher, labels) = (c.StudentLogits(), c.TeacherLogits(), c.Labels());
            using var loss = DistillationObjective.KnowledgeDistillation(c.Temperature, hardWeight: c.Scale / 10, softWeight: c.Scale);

            var result = loss.Compute(new DistillationContext(student, labels, teacher));

            var ce = nn.functional.cross_entropy(student, labels).item<double>();
            var kd = Kd(student, teacher, c.Temperature);
            result.Total.item<double>().Should().BeApproximately((c.Scale / 10 * ce) + (c.Scale * kd), 1e-9 * Math.Max(1, kd * c.Scale), c.ToString());
            kd.Should().BeGreaterThanOrEqualTo(-1e-12);
        });
    }
}
