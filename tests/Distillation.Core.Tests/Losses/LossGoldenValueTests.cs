using System.Text.Json;
using Distillation.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Losses;

/// <summary>
/// Golden values of every loss term, in double precision, as torchdistill pins its losses in
/// tests/fixtures/losses. Two sources, neither of them this library's code:
/// <list type="bullet">
/// <item>hand-worked cases, each derived in its comment from the paper's definition;</item>
/// <item>generated cases in Fixtures/loss_goldens.json, written by Fixtures/make_loss_goldens.py:
/// plain Python doubles (math module only, no tensor library) from the definitions in its
/// docstring, on inputs drawn from a seeded random.Random; rerun it by hand after changing it
/// (CI does not).</item>
/// </list>
/// The terms are reached only through the adapters at the top (one per loss), so a change of the
/// loss API changes those lines and nothing below them.
/// </summary>
public sealed class LossGoldenValueTests : IDisposable
{
    // ----- adapters: the only lines that name the loss classes -----

    private static double CrossEntropy(DistillationContext context) =>
        new LabelCrossEntropyLoss().Compute(context).Total.item<double>();

    private static double Kd(DistillationContext context, double temperature) =>
        new KLDivergenceLoss(temperature).Compute(context).Total.item<double>();

    private static double KdStandardized(DistillationContext context, double temperature) =>
        new KLDivergenceLoss(temperature, standardizeLogits: true).Compute(context).Total.item<double>();

    /// <summary>TCKD and NCKD without weights or warm-up, and the weighted, ramped total.</summary>
    private static (double Tckd, double Nckd, double Total) Dkd(DistillationContext context, double alpha, double beta, double temperature, int warmupEpochs)
    {
        var (tckd, nckd) = DecoupledKDLoss.Parts(context.StudentLogits, context.TeacherLogits!, context.Labels, temperature);
        var total = new DecoupledKDLoss(alpha, beta, temperature, warmupEpochs).Compute(context).Total;
        return (tckd.item<double>(), nckd.item<double>(), total.item<double>());
    }

    /// <summary>The cosine term on the features captured as "features".</summary>
    private static double Cosine(DistillationContext context) =>
        new CosineFeatureLoss().Compute(context).Total.item<double>();

    /// <summary>The hint term on the features captured as "features", its regressor set to <paramref name="weight"/> [Ct, Cs, 3, 3] and <paramref name="bias"/> [Ct].</summary>
    private static double Hint(DistillationContext context, Tensor weight, Tensor bias)
    {
        using var hint = new HintLoss((int)weight.shape[1], (int)weight.shape[0]);
        hint.Regressor.to(ScalarType.Float64);
        using (no_grad())
        {
            hint.Regressor.weight!.copy_(weight);
            hint.Regressor.bias!.copy_(bias);
        }

        return hint.Compute(context).Total.item<double>();
    }

    // ----- fixtures -----

    private readonly DisposeScope scope = NewDisposeScope();

    public void Dispose() => scope.Dispose();

    private static readonly Lazy<JsonElement> Goldens = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Losses", "Fixtures", "loss_goldens.json"))).RootElement);

    private static JsonElement[] Cases(string term) => Goldens.Value.GetProperty(term).EnumerateArray().ToArray();

    public static TheoryData<string> Names(string term) => new(Cases(term).Select(c => c.GetProperty("name").GetString()!));

    public static TheoryData<string> CeCases => Names("ce");

    public static TheoryData<string> KdCases => Names("kd");

    public static TheoryData<string> KdLsCases => Names("kdLs");

    public static TheoryData<string> CosineCases => Names("cosine");

    public static TheoryData<string> HintCases => Names("hint");

    public static TheoryData<int> DkdCases => new(Enumerable.Range(0, Cases("dkd").Length));

    private static JsonElement Case(string term, string name) => Cases(term).Single(c => c.GetProperty("name").GetString() == name);

    private static double[] Doubles(JsonElement element) => element.EnumerateArray().Select(e => e.GetDouble()).ToArray();

    private static long[] Shape(JsonElement element) => element.EnumerateArray().Select(e => e.GetInt64()).ToArray();

    private static Tensor Float64(double[] values, params long[] shape) => tensor(values, shape, ScalarType.Float64);

    private static DistillationContext LogitContext(JsonElement golden)
    {
        var shape = Shape(golden.GetProperty("shape"));
        return new DistillationContext(
            Float64(Doubles(golden.GetProperty("student")), shape),
            tensor(golden.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray()),
            Float64(Doubles(golden.GetProperty("teacher")), shape))
        {
            Epoch = golden.TryGetProperty("epoch", out var epoch) ? epoch.GetInt32() : 1,
        };
    }

    private static DistillationContext FeatureContext(Tensor student, Tensor teacher)
    {
        var batch = student.shape[0];
        return new DistillationContext(zeros(batch, 3, ScalarType.Float64), zeros(batch, ScalarType.Int64), zeros(batch, 3, ScalarType.Float64))
        {
            StudentFeatures = new Dictionary<string, Tensor> { ["features"] = student },
            TeacherFeatures = new Dictionary<string, Tensor> { ["features"] = teacher },
        };
    }

    private static DistillationContext FeatureContext(JsonElement golden) => FeatureContext(
        Float64(Doubles(golden.GetProperty("student")), Shape(golden.GetProperty("studentShape"))),
        Float64(Doubles(golden.GetProperty("teacher")), Shape(golden.GetProperty("teacherShape"))));

    private static DistillationContext Logits(double[,] student, long[] labels, double[,]? teacher = null)
    {
        static Tensor Of(double[,] values) => tensor(values.Cast<double>().ToArray(), [values.GetLength(0), values.GetLength(1)], ScalarType.Float64);
        return new DistillationContext(Of(student), tensor(labels), teacher is null ? null : Of(teacher));
    }

    /// <summary>Double precision all the way: relative 1e-12 (absolute near 0).</summary>
    private static void ShouldMatch(double actual, double expected, string what) =>
        actual.Should().BeApproximately(expected, 1e-12 * Math.Max(1, Math.Abs(expected)), what);

    // ----- cross-entropy -----

    [Fact]
    public void Cross_entropy_hand_cases()
    {
        // Row (0, 0), label 0: p = (1/2, 1/2), −ln ½ = ln 2.
        // Row (ln 3, 0), label 1: p = (3/4, 1/4), −ln ¼ = ln 4. The batch mean: (ln 2 + ln 4) / 2 = 1.5 ln 2.
        ShouldMatch(CrossEntropy(Logits(new double[,] { { 0, 0 } }, [0])), Math.Log(2), "one row");
        ShouldMatch(CrossEntropy(Logits(new double[,] { { 0, 0 }, { Math.Log(3), 0 } }, [0, 1])), 1.5 * Math.Log(2), "the mean of two rows");
    }

    [Theory]
    [MemberData(nameof(CeCases))]
    public void Cross_entropy_generated_cases(string name)
    {
        var golden = Case("ce", name);

        ShouldMatch(CrossEntropy(LogitContext(golden)), golden.GetProperty("expected").GetDouble(), name);
    }

    // ----- KD -----

    [Fact]
    public void KD_hand_cases()
    {
        // Student (0, 0), teacher (2 ln 3, 0), T = 2: the softened teacher is softmax(ln 3, 0) = (3/4, 1/4),
        // the student (1/2, 1/2). KL = 3/4·ln(3/2) + 1/4·ln(1/2); times T² = 4; one row.
        var kl = (0.75 * Math.Log(1.5)) + (0.25 * Math.Log(0.5));
        ShouldMatch(Kd(Logits(new double[,] { { 0, 0 } }, [0], new double[,] { { 2 * Math.Log(3), 0 } }), 2), 4 * kl, "T = 2");

        // The same row twice is the same batch mean; and the same row at T = 1 (teacher ln 3, 0) is KL itself.
        ShouldMatch(Kd(Logits(new double[,] { { 0, 0 }, { 5, 5 } }, [0, 1], new double[,] { { 2 * Math.Log(3), 0 }, { 2 * Math.Log(3) + 1, 1 } }), 2), 4 * kl, "batch mean");
        ShouldMatch(Kd(Logits(new double[,] { { 0, 0 } }, [0], new double[,] { { Math.Log(3), 0 } }), 1), kl, "T = 1");
    }

    [Theory]
    [MemberData(nameof(KdCases))]
    public void KD_generated_cases(string name)
    {
        var golden = Case("kd", name);

        ShouldMatch(Kd(LogitContext(golden), golden.GetProperty("temperature").GetDouble()), golden.GetProperty("expected").GetDouble(), name);
    }

    // ----- KD with logit standardization -----

    [Fact]
    public void KD_with_logit_standardization_hand_cases()
    {
        // Student (1, 2, 3) and teacher (10, 20, 30) z-score to the same (−1, 0, 1) up to the 1e-7 in
        // the denominator: the student's std is 1, the teacher's 10, so the rows are (−1, 0, 1)/(1 + 1e-7)
        // and (−1, 0, 1)/(1 + 1e-8). Plain KD sees different distributions (≈ 0.407); standardized KD almost none.
        var context = Logits(new double[,] { { 1, 2, 3 } }, [0], new double[,] { { 10, 20, 30 } });
        var student = Standardized(1, 2, 3, std: 1);
        var teacher = Standardized(10, 20, 30, std: 10);

        ShouldMatch(KdStandardized(context, 1), KL(teacher, student), "T = 1");
        KdStandardized(context, 1).Should().BeLessThan(1e-12);
        Kd(context, 1).Should().BeGreaterThan(0.4, "the teacher is far more confident than the student");

        // Student (0, 0, 3): mean 1, unbiased std √((1 + 1 + 4) / 2) = √3 → (−1, −1, 2) / (√3 + 1e-7);
        // against the teacher above, at T = 2: T² · KL(softmax(t/2) ‖ softmax(s/2)).
        var skewed = Logits(new double[,] { { 0, 0, 3 } }, [0], new double[,] { { 10, 20, 30 } });
        var skewedStudent = Standardized(0, 0, 3, std: Math.Sqrt(3));
        ShouldMatch(KdStandardized(skewed, 2), 4 * KL(teacher.Select(v => v / 2).ToArray(), skewedStudent.Select(v => v / 2).ToArray()), "T = 2");
    }

    /// <summary>(z − mean) / (std + 1e-7) of a row of three, with its std given.</summary>
    private static double[] Standardized(double a, double b, double c, double std)
    {
        var mean = (a + b + c) / 3;
        return [(a - mean) / (std + 1e-7), (b - mean) / (std + 1e-7), (c - mean) / (std + 1e-7)];
    }

    /// <summary>KL(softmax(teacher) ‖ softmax(student)) of one row, written out.</summary>
    private static double KL(double[] teacher, double[] student)
    {
        var p = teacher.Select(Math.Exp).ToArray();
        var q = student.Select(Math.Exp).ToArray();
        var (sp, sq) = (p.Sum(), q.Sum());
        return p.Zip(q, (pi, qi) => pi / sp * Math.Log(pi / sp / (qi / sq))).Sum();
    }

    [Theory]
    [MemberData(nameof(KdLsCases))]
    public void KD_with_logit_standardization_generated_cases(string name)
    {
        var golden = Case("kdLs", name);

        ShouldMatch(KdStandardized(LogitContext(golden), golden.GetProperty("temperature").GetDouble()), golden.GetProperty("expected").GetDouble(), name);
    }

    // ----- DKD -----

    [Fact]
    public void DKD_hand_cases()
    {
        // Three classes, label 0, student (0, 0, 0), teacher (0, ln 3, 0) at T = 1 — or (0, 2 ln 3, 0) at T = 2,
        // the same softened distributions: teacher p = (1/5, 3/5, 1/5), student (1/3, 1/3, 1/3).
        //   TCKD: binary (target, rest): teacher (1/5, 4/5), student (1/3, 2/3):
        //         KL = 1/5·ln(3/5) + 4/5·ln(6/5)
        //   NCKD: over classes 1, 2: teacher (3/4, 1/4), student (1/2, 1/2):
        //         KL = 3/4·ln(3/2) + 1/4·ln(1/2)
        // Each part is T² times the batch mean; the total is α·TCKD + β·NCKD, ramped by min(epoch / warm-up, 1).
        var tckd = (0.2 * Math.Log(0.6)) + (0.8 * Math.Log(1.2));
        var nckd = (0.75 * Math.Log(1.5)) + (0.25 * Math.Log(0.5));

        var atT1 = Dkd(Logits(new double[,] { { 0, 0, 0 } }, [0], new double[,] { { 0, Math.Log(3), 0 } }), alpha: 1, beta: 8, temperature: 1, warmupEpochs: 0);
        ShouldMatch(atT1.Tckd, tckd, "TCKD at T = 1");
        ShouldMatch(atT1.Nckd, nckd, "NCKD at T = 1");
        ShouldMatch(atT1.Total, tckd + (8 * nckd), "α = 1, β = 8, no warm-up");

        // T = 2 and the row twice (the second shifted by a constant, which changes no softmax): T² = 4, the same mean.
        var context = Logits(
            new double[,] { { 0, 0, 0 }, { 7, 7, 7 } },
            [0, 0],
            new double[,] { { 0, 2 * Math.Log(3), 0 }, { -1, (2 * Math.Log(3)) - 1, -1 } });
        var atT2 = Dkd(context, alpha: 2, beta: 0.5, temperature: 2, warmupEpochs: 0);
        ShouldMatch(atT2.Tckd, 4 * tckd, "TCKD at T = 2");
        ShouldMatch(atT2.Nckd, 4 * nckd, "NCKD at T = 2");
        ShouldMatch(atT2.Total, 4 * ((2 * tckd) + (0.5 * nckd)), "α = 2, β = 0.5");
    }

    [Fact]
    public void DKD_hand_case_with_the_label_on_another_class_and_a_warm_up()
    {
        // The teacher above with label 1 (its favourite class): teacher p = (1/5, 3/5, 1/5), student uniform.
        //   TCKD: teacher (3/5, 2/5), student (1/3, 2/3): KL = 3/5·ln(9/5) + 2/5·ln(3/5)
        //   NCKD: classes 0 and 2 are equal for both: KL = 0.
        // Warm-up 4 epochs: epoch 1 → ¼, epoch 3 → ¾, epoch 4 and later → 1.
        var tckd = (0.6 * Math.Log(1.8)) + (0.4 * Math.Log(0.6));
        DistillationContext At(int epoch) => new(
            Float64([0, 0, 0], 1, 3), tensor(new long[] { 1 }), Float64([0, Math.Log(3), 0], 1, 3)) { Epoch = epoch };

        var first = Dkd(At(1), alpha: 1, beta: 8, temperature: 1, warmupEpochs: 4);
        ShouldMatch(first.Tckd, tckd, "TCKD");
        first.Nckd.Should().BeApproximately(0, 1e-15);
        ShouldMatch(first.Total, tckd / 4, "epoch 1 of 4");
        ShouldMatch(Dkd(At(3), 1, 8, 1, 4).Total, tckd * 3 / 4, "epoch 3 of 4");
        ShouldMatch(Dkd(At(4), 1, 8, 1, 4).Total, tckd, "epoch 4 of 4");
        ShouldMatch(Dkd(At(30), 1, 8, 1, 4).Total, tckd, "after the warm-up");
    }

    [Theory]
    [MemberData(nameof(DkdCases))]
    public void DKD_generated_cases(int index)
    {
        var golden = Cases("dkd")[index];
        var name = $"{golden.GetProperty("name").GetString()} warm-up {golden.GetProperty("warmupEpochs").GetInt32()} epoch {golden.GetProperty("epoch").GetInt32()}";

        var (tckd, nckd, total) = Dkd(
            LogitContext(golden),
            golden.GetProperty("alpha").GetDouble(),
            golden.GetProperty("beta").GetDouble(),
            golden.GetProperty("temperature").GetDouble(),
            golden.GetProperty("warmupEpochs").GetInt32());

        ShouldMatch(tckd, golden.GetProperty("tckd").GetDouble(), "TCKD of " + name);
        ShouldMatch(nckd, golden.GetProperty("nckd").GetDouble(), "NCKD of " + name);
        ShouldMatch(total, golden.GetProperty("expected").GetDouble(), "total of " + name);
    }

    // ----- cosine -----

    [Fact]
    public void Cosine_hand_cases()
    {
        // Rows (1, 0)·(0, 1): cos 0 → 1; (1, 1)·(2, 2): cos 1 → 0; mean ½ (PyTorch's 1e-12 in the norms moves it by < 1e-12).
        var same = FeatureContext(Float64([1, 0, 1, 1], 2, 2), Float64([0, 1, 2, 2], 2, 2));
        ShouldMatch(Cosine(same), 0.5, "equal widths");

        // A teacher twice as wide is average-pooled over pairs: (1, 3, 5, 7) → (2, 6); student (0, 1):
        // cos = 6 / √40, the term 1 − 6/√40.
        var pooled = FeatureContext(Float64([0, 1], 1, 2), Float64([1, 3, 5, 7], 1, 4));
        ShouldMatch(Cosine(pooled), 1 - (6 / Math.Sqrt(40)), "pooled teacher");
    }

    [Theory]
    [MemberData(nameof(CosineCases))]
    public void Cosine_generated_cases(string name)
    {
        var golden = Case("cosine", name);

        ShouldMatch(Cosine(FeatureContext(golden)), golden.GetProperty("expected").GetDouble(), name);
    }

    // ----- hint -----

    [Fact]
    public void Hint_hand_case()
    {
        // One channel in and out, a 1×1 map: the 3×3 kernel sees only zero padding but for its centre,
        // so the regressed value is centre·x + bias = 3·2 + 1 = 7, against the teacher's 5: MSE (7 − 5)² = 4.
        var weight = Float64([9, 9, 9, 9, 3, 9, 9, 9, 9], 1, 1, 3, 3);
        var context = FeatureContext(Float64([2], 1, 1, 1, 1), Float64([5], 1, 1, 1, 1));

        ShouldMatch(Hint(context, weight, Float64([1], 1)), 4, "1×1 map");

        // A 1×2 map (x = 1, 2) sees one neighbour each: left output = 3·1 + w_right·2 + 1, right = w_left·1 + 3·2 + 1,
        // with w_left = 0.5 (kernel [1, 0]) and w_right = 0.25 (kernel [1, 2]): (4.5, 7.5) against (4, 8): MSE ((0.5)² + (0.5)²) / 2.
        var wide = Float64([9, 9, 9, 0.5, 3, 0.25, 9, 9, 9], 1, 1, 3, 3);
        var wideContext = FeatureContext(Float64([1, 2], 1, 1, 1, 2), Float64([4, 8], 1, 1, 1, 2));
        ShouldMatch(Hint(wideContext, wide, Float64([1], 1)), 0.25, "1×2 map");
    }

    [Theory]
    [MemberData(nameof(HintCases))]
    public void Hint_generated_cases(string name)
    {
        var golden = Case("hint", name);
        var weight = Float64(Doubles(golden.GetProperty("weight")), Shape(golden.GetProperty("weightShape")));
        var bias = Float64(Doubles(golden.GetProperty("bias")), golden.GetProperty("bias").GetArrayLength());

        ShouldMatch(Hint(FeatureContext(golden), weight, bias), golden.GetProperty("expected").GetDouble(), name);
    }
}
