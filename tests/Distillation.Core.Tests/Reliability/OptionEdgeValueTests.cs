using System.Globalization;
using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Training;

namespace Distillation.Tests.Reliability;

/// <summary>
/// Every numeric option of the library, fed the edge values of its type (issue 29): each is either
/// accepted, where the documented range holds it, or refused with an <see cref="ArgumentOutOfRangeException"/>
/// whose message is one line naming the option and the value.
/// </summary>
public sealed class OptionEdgeValueTests
{
    private const double FloatMax = float.MaxValue;
    private const double FloatMinNormal = 1.1754943508222875E-38;

    /// <summary>An option: how to set it (and validate), and the range the documentation gives it.</summary>
    private sealed record NumericOption(string Name, Action<double> SetAndValidate, Func<double, bool> Valid);

    private static readonly double[] DoubleEdges =
        [double.MaxValue, double.MinValue, double.Epsilon, 1e-310, double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0, -1, float.MaxValue, 3.5e38, 1e-39, 1];

    private static readonly double[] IntEdges = [int.MaxValue, int.MinValue, 0, -1, 1];

    private static readonly double[] LongEdges = [long.MaxValue, long.MinValue, 0, -1, 1];

    /// <summary>A float32 number (finite, within its range, 0 or normal) between the bounds.</summary>
    private static Func<double, bool> FloatIn(double min, double max, bool minExclusive = false) => v =>
        double.IsFinite(v) && (minExclusive ? v > min : v >= min) && v <= max && (v == 0 || Math.Abs(v) >= FloatMinNormal);

    private static Func<double, bool> Fraction(double min, double max, bool minExclusive = false) => v =>
        double.IsFinite(v) && (minExclusive ? v > min : v >= min) && v < max;

    private static Func<double, bool> Whole(long min, long max) => v => v >= min && v <= max;

    private static readonly NumericOption[] Doubles =
    [
        new("LearningRate", v => new OptimizationOptions { LearningRate = v }.Validate(), FloatIn(0, FloatMax, minExclusive: true)),
        new("WeightDecay", v => new OptimizationOptions { WeightDecay = v }.Validate(), FloatIn(0, FloatMax)),
        new("Momentum", v => new OptimizationOptions { Momentum = v }.Validate(), Fraction(0, 1)),
        new("Beta1", v => new OptimizationOptions { Beta1 = v }.Validate(), Fraction(0, 1)),
        new("Beta2", v => new OptimizationOptions { Beta2 = v }.Validate(), Fraction(0, 1)),
        new("GradientClipNorm", v => new OptimizationOptions { GradientClipNorm = v }.Validate(), FloatIn(0, FloatMax, minExclusive: true)),
        new("Gamma", v => new ScheduleOptions { Gamma = v }.Validate(), FloatIn(0, FloatMax, minExclusive: true)),
        new("MinLearningRate", v => new ScheduleOptions { MinLearningRate = v }.Validate(), FloatIn(0, FloatMax)),
        new("MinDelta", v => new EarlyStoppingOptions { MinDelta = v }.Validate(), Fraction(0, 1)),
        new("TestFraction", v => new ImageFolderOptions { TestFraction = v }.Validate(), Fraction(0, 1, minExclusive: true)),
        new("temperature", v => _ = new KLDivergenceLoss(v), FloatIn(1e-4, 1e4)),
        new("alpha", v => _ = new DecoupledKDLoss(alpha: v), FloatIn(0, 1e6)),
        new("beta", v => _ = new DecoupledKDLoss(beta: v), FloatIn(0, 1e6)),
        new("weight of kd", v => _ = new DistillationObjective((new KLDivergenceLoss(), v)), FloatIn(0, 1e6)),
        new("weight of ce", v => _ = DistillationObjective.KnowledgeDistillation(4, hardWeight: v), FloatIn(0, 1e6)),
    ];

    private static readonly NumericOption[] Ints =
    [
        new("Epochs", v => new TrainerOptions { Epochs = (int)v }.Validate(), Whole(1, int.MaxValue)),
        new("BatchSize", v => new TrainerOptions { BatchSize = (int)v }.Validate(), Whole(1, int.MaxValue)),
        new("EvaluationBatchSize", v => new TrainerOptions { EvaluationBatchSize = (int)v }.Validate(), Whole(1, int.MaxValue)),

        // With the default batch of 128, one optimizer step's images (batch × steps) must fit an int.
        new("GradientAccumulationSteps", v => new TrainerOptions { GradientAccumulationSteps = (int)v }.Validate(), Whole(1, int.MaxValue / 128)),
        new("StepSize", v => new ScheduleOptions { Kind = ScheduleKind.Step, StepSize = (int)v }.Validate(), Whole(1, int.MaxValue)),
        new("WarmupEpochs", v => new ScheduleOptions { WarmupEpochs = (int)v }.Validate(), Whole(0, int.MaxValue)),
        new("Milestones", v => new ScheduleOptions { Kind = ScheduleKind.MultiStep, Milestones = [(int)v] }.Validate(), Whole(1, int.MaxValue)),
        new("Patience", v => new EarlyStoppingOptions { Patience = (int)v }.Validate(), Whole(1, int.MaxValue)),
        new("CudaIndex", v => new DeviceOptions { CudaIndex = (int)v }.Validate(), Whole(0, int.MaxValue)),
        new("Threads", v => new DeviceOptions { Threads = (int)v }.Validate(), Whole(1, Environment.ProcessorCount)),
        new("Padding", v => new AugmentationOptions { Padding = (int)v }.Validate(), Whole(0, 1024)),
        new("ImageSize", v => new ImageFolderOptions { ImageSize = (int)v }.Validate(), Whole(1, 8192)),
        new("MaxDegreeOfParallelism", v => new ImageFolderOptions { MaxDegreeOfParallelism = (int)v }.Validate(), Whole(1, Environment.ProcessorCount)),
        new("PrefetchBatches", v => new ImageFolderOptions { PrefetchBatches = (int)v }.Validate(), Whole(0, 64)),
        new("warmupEpochs", v => _ = new DecoupledKDLoss(warmupEpochs: (int)v), Whole(0, int.MaxValue)),
        new("studentChannels", v => new HintLoss(studentChannels: (int)v).Dispose(), Whole(1, 65536)),
        new("teacherChannels", v => new HintLoss(teacherChannels: (int)v).Dispose(), Whole(1, 65536)),
    ];

    private static readonly NumericOption[] Longs =
    [
        new("Seed", v => new TrainerOptions { Seed = (long)v }.Validate(), _ => true),
        new("MaxBytes", v => new TeacherOutputOptions { MaxBytes = (long)v }.Validate(), Whole(0, long.MaxValue)),
        new("MemoryBudgetBytes", v => new ImageFolderOptions { MemoryBudgetBytes = (long)v }.Validate(), Whole(1, long.MaxValue)),
        new("SplitSeed", v => new ImageFolderOptions { SplitSeed = (long)v }.Validate(), _ => true),
    ];

    public static TheoryData<string, double> Cases()
    {
        var data = new TheoryData<string, double>();
        foreach (var (options, edges) in new[] { (Doubles, DoubleEdges), (Ints, IntEdges), (Longs, LongEdges) })
        {
            foreach (var option in options)
            {
                foreach (var edge in edges)
                {
                    data.Add(option.Name, edge);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_numeric_option_takes_its_edge_values_or_refuses_them_in_one_line_naming_option_and_value(string name, double value)
    {
        var option = Doubles.Concat(Ints).Concat(Longs).Single(o => o.Name == name);
        var act = () => option.SetAndValidate(value);

        if (option.Valid(value))
        {
            act.Should().NotThrow();
            return;
        }

        var error = act.Should().Throw<ArgumentOutOfRangeException>().Which;
        error.ParamName.Should().Be(name);
        error.Message.Should().NotContainAny(["\n", "\r"], "the message is one line").And.StartWith(name + " must be ");
        var shown = Doubles.Contains(option)
            ? value.ToString("R", CultureInfo.InvariantCulture)
            : Ints.Contains(option) ? ((int)value).ToString(CultureInfo.InvariantCulture) : ((long)value).ToString(CultureInfo.InvariantCulture);
        error.Message.Should().Contain(name == "Milestones" ? $"was [{shown}]" : $"was {shown}");
    }

    [Fact]
    public void Batch_size_times_accumulation_steps_must_fit_an_int()
    {
        var act = () => new TrainerOptions { BatchSize = 1 << 16, GradientAccumulationSteps = 1 << 15 }.Validate();

        act.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should()
            .Be("GradientAccumulationSteps must be at most 32767 with a batch size of 65536 (BatchSize × GradientAccumulationSteps, the images of one optimizer step, must fit an int), was 32768.");
    }

    [Theory]
    [InlineData(1e-4)]
    [InlineData(1e4)]
    public void At_the_temperature_bounds_the_distillation_term_and_its_gradient_stay_finite(double temperature)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        TorchSharp.torch.manual_seed(3);
        var student = TorchSharp.torch.randn(8, 10).mul(100).requires_grad_();
        var teacher = TorchSharp.torch.randn(8, 10).mul(100);
        var loss = new KLDivergenceLoss(temperature).Compute(new DistillationContext(student, TorchSharp.torch.zeros(8, TorchSharp.torch.ScalarType.Int64), teacher)).Total;
        loss.backward();

        double.IsFinite(loss.item<float>()).Should().BeTrue();
        student.grad!.isfinite().all().item<bool>().Should().BeTrue();
    }

    [Fact]
    public void A_batch_size_near_int_MaxValue_plans_one_batch_not_a_negative_count()
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var data = TestSupport.Quadrants.Create(16, seed: 1);
        using var plan = data.PlanBatches(int.MaxValue);

        plan.BatchCount.Should().Be(1);
    }
}
