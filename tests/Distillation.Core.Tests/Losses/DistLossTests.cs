using System.Text.Json;
using Distillation.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Losses;

/// <summary>
/// DIST (Huang et al. 2022) against PyTorch: Fixtures/dist_reference.json holds float64 values and
/// gradients computed by eng/make-dist-fixture.py with torch 1.13 from the published formula (the
/// epsilon in the Pearson denominator included), on float32 logits stored exactly. Plus hand cases
/// and the argument checks every logit term has.
/// </summary>
public sealed class DistLossTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();

    public void Dispose() => scope.Dispose();

    private static readonly Lazy<JsonElement[]> Reference = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Losses", "Fixtures", "dist_reference.json")))
            .RootElement.GetProperty("cases").EnumerateArray().ToArray());

    public static TheoryData<string> AllCases => new(Reference.Value.Select(c => c.GetProperty("name").GetString()!));

    private static JsonElement Case(string name) => Reference.Value.Single(c => c.GetProperty("name").GetString() == name);

    private static double[] Doubles(JsonElement golden, string property) =>
        golden.GetProperty(property).EnumerateArray().Select(e => e.GetDouble()).ToArray();

    private static DistLoss LossOf(JsonElement golden) => new(
        golden.GetProperty("beta").GetDouble(), golden.GetProperty("gamma").GetDouble(), golden.GetProperty("temperature").GetDouble());

    /// <summary>The case's logits in <paramref name="dtype"/>, the student's requiring gradients.</summary>
    private static (Tensor Student, Tensor Teacher) Logits(JsonElement golden, ScalarType dtype)
    {
        var shape = golden.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var student = tensor(Doubles(golden, "student"), shape, ScalarType.Float64).to_type(dtype).requires_grad_(true);
        var teacher = tensor(Doubles(golden, "teacher"), shape, ScalarType.Float64).to_type(dtype);
        return (student, teacher);
    }

    private static DistillationContext Context(Tensor student, Tensor teacher) =>
        new(student, zeros(student.shape[0], ScalarType.Int64), teacher);

    [Theory]
    [MemberData(nameof(AllCases))]
    public void Float64_loss_parts_and_gradient_match_PyTorch(string name)
    {
        var golden = Case(name);
        var (student, teacher) = Logits(golden, ScalarType.Float64);

        var loss = LossOf(golden).Compute(Context(student, teacher)).Total;
        loss.backward();
        var (inter, intra) = DistLoss.Parts(student, teacher, golden.GetProperty("temperature").GetDouble());

        Close(loss.item<double>(), golden.GetProperty("loss").GetDouble(), 1e-10, "the loss of " + name);
        Close(inter.item<double>(), golden.GetProperty("inter").GetDouble(), 1e-10, "the inter-class part of " + name);
        Close(intra.item<double>(), golden.GetProperty("intra").GetDouble(), 1e-10, "the intra-class part of " + name);
        AllClose(student.grad!.data<double>().ToArray(), Doubles(golden, "gradient"), 1e-10, "the gradient of " + name);
    }

    [Theory]
    [MemberData(nameof(AllCases))]
    public void Float32_loss_and_gradient_match_PyTorch_to_1e_5(string name)
    {
        var golden = Case(name);
        var (student, teacher) = Logits(golden, ScalarType.Float32);

        var loss = LossOf(golden).Compute(Context(student, teacher)).Total;
        loss.backward();

        loss.dtype.Should().Be(ScalarType.Float32);
        Close(loss.item<float>(), golden.GetProperty("loss").GetDouble(), 1e-5, "the loss of " + name);
        AllClose(student.grad!.data<float>().ToArray().Select(v => (double)v).ToArray(), Doubles(golden, "gradient"), 1e-5, "the gradient of " + name);
    }

    [Fact]
    public void A_student_that_matches_the_teacher_up_to_a_shift_of_each_row_has_only_the_epsilon_left()
    {
        // Adding a constant to a row leaves its softmax unchanged, so every correlation is 1 but for the
        // epsilon: ρ = n² / (n² + 1e-8), with n² the squared norm of the centred row or column, and the
        // loss is T² · (mean over rows + mean over columns of 1e-8 / (n² + 1e-8)): a few 1e-6 here.
        manual_seed(3);
        var teacher = randn(6, 5, ScalarType.Float64);
        var student = teacher.add(arange(6, ScalarType.Float64).unsqueeze(1)).requires_grad_(true);
        var p = nn.functional.softmax(teacher.div(2), 1);
        static double EpsilonShare(Tensor rows)
        {
            var squaredNorms = rows.sub(rows.mean([1], keepdim: true)).pow(2).sum(1);
            return squaredNorms.add(1e-8).reciprocal().mul(1e-8).mean().item<double>();
        }

        var loss = new DistLoss(temperature: 2).Compute(Context(student, teacher)).Total.item<double>();

        Close(loss, 4 * (EpsilonShare(p) + EpsilonShare(p.t())), 1e-9, "T² times the epsilon's share");
        loss.Should().BeGreaterThan(1e-7, "the epsilon is in the denominator, as the published code has it");
    }

    [Fact]
    public void Hand_case_two_images_two_classes_anti_correlated()
    {
        // T = 1. Student rows (0, ln 3) and (ln 3, 0): p_s = (1/4, 3/4), (3/4, 1/4). Teacher rows are the
        // student's swapped: p_t = (3/4, 1/4), (1/4, 3/4). Each centred row is ±(1/4, −1/4) with opposite
        // signs for student and teacher, so every row correlation is −1 (to the epsilon) and inter = 2;
        // each column likewise ((1/4, 3/4) against (3/4, 1/4)), so intra = 2. β = 1, γ = 0.5: 2 + 1 = 3.
        var ln3 = Math.Log(3);
        var student = tensor(new[] { 0, ln3, ln3, 0 }, [2, 2], ScalarType.Float64);
        var teacher = tensor(new[] { ln3, 0, 0, ln3 }, [2, 2], ScalarType.Float64);

        var (inter, intra) = DistLoss.Parts(student, teacher, 1);
        var total = new DistLoss(beta: 1, gamma: 0.5).Compute(Context(student, teacher)).Total;

        // The norms' product is 1/8 per row, so ρ = −(1/8) / (1/8 + 1e-8).
        var rho = -0.125 / (0.125 + 1e-8);
        Close(inter.item<double>(), 1 - rho, 1e-14, "inter");
        Close(intra.item<double>(), 1 - rho, 1e-14, "intra");
        Close(total.item<double>(), 1.5 * (1 - rho), 1e-14, "β·inter + γ·intra");
    }

    [Fact]
    public void The_temperature_scales_both_parts_by_T_squared()
    {
        // Softening by T = 3 is the same as dividing the logits by 3 at T = 1, times T² = 9.
        manual_seed(5);
        var student = randn(8, 10, ScalarType.Float64);
        var teacher = randn(8, 10, ScalarType.Float64).mul(2);

        var (inter, intra) = DistLoss.Parts(student, teacher, 3);
        var (inter1, intra1) = DistLoss.Parts(student.div(3), teacher.div(3), 1);

        Close(inter.item<double>(), 9 * inter1.item<double>(), 1e-12, "inter");
        Close(intra.item<double>(), 9 * intra1.item<double>(), 1e-12, "intra");
    }

    [Fact]
    public void Name_description_and_teacher_need()
    {
        var loss = new DistLoss(beta: 2, gamma: 0.5, temperature: 4);

        loss.Name.Should().Be("dist");
        loss.Description.Should().Be("dist(β=2, γ=0.5, T=4)");
        new DistLoss().Description.Should().Be("dist(β=1, γ=1, T=1)", "the paper's defaults");
        loss.NeedsTeacher.Should().BeTrue();
        using var objective = new DistillationObjective((new LabelCrossEntropyLoss(), 1.0), (loss, 1.0));
        objective.Description.Should().Be("1·ce + 1·dist(β=2, γ=0.5, T=4)");
    }

    [Theory]
    [InlineData(-1.0, 1.0, 1.0, "beta")]
    [InlineData(double.NaN, 1.0, 1.0, "beta")]
    [InlineData(1.0, -0.5, 1.0, "gamma")]
    [InlineData(1.0, double.PositiveInfinity, 1.0, "gamma")]
    [InlineData(1.0, 1.0, 0.0, "temperature")]
    [InlineData(1.0, 1.0, 1e5, "temperature")]
    public void Out_of_range_settings_are_rejected_by_name(double beta, double gamma, double temperature, string parameter)
    {
        FluentActions.Invoking(() => new DistLoss(beta, gamma, temperature))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName(parameter).WithMessage($"{parameter} must be*");
    }

    [Fact]
    public void Bad_contexts_are_rejected_before_any_computation()
    {
        var loss = new DistLoss();

        FluentActions.Invoking(() => loss.Compute(null!)).Should().Throw<ArgumentNullException>();
        FluentActions.Invoking(() => loss.Compute(new DistillationContext(randn(4, 3), zeros(4, ScalarType.Int64))))
            .Should().Throw<InvalidOperationException>().WithMessage("*dist*teacher*");
        FluentActions.Invoking(() => loss.Compute(Context(randn(4, 3), randn(1, 3))))
            .Should().Throw<LogitShapeMismatchException>().WithMessage("*[4, 3]*[1, 3]*");
        FluentActions.Invoking(() => loss.Compute(Context(randn(0, 3), randn(0, 3))))
            .Should().Throw<ArgumentException>().WithMessage("*empty batch*");
        FluentActions.Invoking(() => loss.Compute(Context(randn(4, 3, 1), randn(4, 3, 1))))
            .Should().Throw<ArgumentException>().WithMessage("*[batch, classes]*");
    }

    private static void Close(double actual, double expected, double relative, string what) =>
        actual.Should().BeApproximately(expected, relative * Math.Max(1, Math.Abs(expected)), what);

    private static void AllClose(double[] actual, double[] expected, double tolerance, string what)
    {
        actual.Should().HaveSameCount(expected, what);
        var worst = actual.Zip(expected, (a, e) => Math.Abs(a - e)).Max();
        worst.Should().BeLessThanOrEqualTo(tolerance, what);
    }
}
