using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Training.Teachers;

/// <summary>TeacherPrecision.Auto: the live teacher runs in bfloat16 only where the device is measured to run it faster; an explicit bfloat16 request where it is slow warns once.</summary>
public sealed class TeacherPrecisionAutoTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();

    public void Dispose() => set_num_threads(threadsBefore);

    private static TrainerOptions Options(TeacherPrecision precision, FakeBFloat16Probe probe, bool augment = true) => new()
    {
        Epochs = 2,
        BatchSize = 32,
        Optimizer = new OptimizationOptions { LearningRate = 0.01 },
        Seed = 7,
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        Augmentation = augment ? new AugmentationOptions { Padding = 1 } : null,
        TeacherOutputs = new TeacherOutputOptions { Precision = precision, Probe = probe },
    };

    private static Trainer<TinyNet, TinyNet> NewTrainer(TrainerOptions options, ILogger<Trainer<TinyNet, TinyNet>>? logger = null)
    {
        manual_seed(100);
        var teacher = new TinyNet(16);
        manual_seed(3);
        return new Trainer<TinyNet, TinyNet>(teacher, new TinyNet(4), options, logger);
    }

    private static double[] Losses(TrainingResult result) => result.History.Select(e => e.MeanLoss).ToArray();

    [Fact]
    public void Auto_is_the_default()
    {
        new TeacherOutputOptions().Precision.Should().Be(TeacherPrecision.Auto);
    }

    [Fact]
    public void Auto_runs_the_teacher_in_bfloat16_where_the_probe_measures_it_faster()
    {
        using var train = Quadrants.Create(96, seed: 1);
        var fast = new FakeBFloat16Probe(support: true, factor: 0.45);
        var logger = new ListLogger<Trainer<TinyNet, TinyNet>>();

        var auto = NewTrainer(Options(TeacherPrecision.Auto, fast), logger).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));
        var bfloat16 = NewTrainer(Options(TeacherPrecision.BFloat16, fast)).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));
        var float32 = NewTrainer(Options(TeacherPrecision.Float32, fast)).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));

        Losses(auto).Should().Equal(Losses(bfloat16));
        Losses(auto).Should().NotEqual(Losses(float32), "the teacher really ran in bfloat16");
        logger.Inner.Entries.Should().ContainSingle(e => e.Level == LogLevel.Information && e.Message.StartsWith("Teacher precision Auto chose bfloat16", StringComparison.Ordinal))
            .Which.Message.Should().Contain("0.45x");
    }

    [Fact]
    public void Auto_runs_the_teacher_in_float32_where_the_probe_measures_bfloat16_slow()
    {
        using var train = Quadrants.Create(96, seed: 1);
        var slow = new FakeBFloat16Probe(support: true, factor: 1.3);

        var auto = NewTrainer(Options(TeacherPrecision.Auto, slow)).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));
        var float32 = NewTrainer(Options(TeacherPrecision.Float32, slow)).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));

        Losses(auto).Should().Equal(Losses(float32));
        slow.Timings.Should().Be(1, "Auto asked the probe, and a float32 request does not");
    }

    [Fact]
    public void Auto_picks_float32_without_timing_on_a_device_without_the_instructions()
    {
        var noInstructions = new FakeBFloat16Probe(support: false, factor: 0.45);
        var options = new TeacherOutputOptions { Cache = false, Probe = noInstructions };
        using var module = new TinyNet(8);

        var (teacher, precision) = options.Apply(Teacher.From(module), augmented: true, [], CPU, new ListLogger());

        precision.Should().Be(TeacherPrecision.Float32);
        teacher.GetService(typeof(BFloat16Teacher)).Should().BeNull();
        noInstructions.Timings.Should().Be(0);
    }

    [Fact]
    public void Auto_wraps_the_teacher_in_bfloat16_and_says_so_when_it_is_measured_faster()
    {
        var options = new TeacherOutputOptions { Cache = false, Probe = new FakeBFloat16Probe(support: true, factor: 0.45) };
        using var module = new TinyNet(8);

        var (teacher, precision) = options.Apply(Teacher.From(module), augmented: true, [], CPU, new ListLogger());

        precision.Should().Be(TeacherPrecision.BFloat16);
        teacher.GetService(typeof(BFloat16Teacher)).Should().NotBeNull();
    }

    [Fact]
    public void Auto_keeps_float32_without_timing_where_bfloat16_would_be_refused_or_unused()
    {
        var fast = new FakeBFloat16Probe(support: true, factor: 0.45);
        var options = new TeacherOutputOptions { Probe = fast };
        using var module = new TinyNet(8);
        using var float64 = new TinyNet(8);
        float64.to(ScalarType.Float64);

        options.Apply(Teacher.From(module), augmented: true, ["layers.0"], CPU, new ListLogger()).Precision.Should().Be(TeacherPrecision.Float32, "a loss that reads features");
        options.Apply(Teacher.From(float64), augmented: true, [], CPU, new ListLogger()).Precision.Should().Be(TeacherPrecision.Float32, "a teacher that is not float32");
        options.Apply(Teacher.From(module), augmented: false, [], CPU, new ListLogger()).Precision.Should().Be(TeacherPrecision.Float32, "a cached teacher computes its outputs in float32");
        options.Apply(Teacher.From(module), augmented: true, [], CPU, new ListLogger(), checkOnly: true).Precision.Should().Be(TeacherPrecision.Float32, "a preflight measures nothing");
        var never = new TeacherOutputOptions { Cache = false, Probe = fast };
        never.Apply(Teacher.From(module).UseCache(), augmented: false, [], CPU, new ListLogger()).Precision.Should().Be(TeacherPrecision.Float32, "the caller's cache serves unaugmented batches");
        fast.Timings.Should().Be(0);
    }

    [Fact]
    public void Auto_with_a_loss_that_reads_the_teachers_features_runs_in_float32_rather_than_refusing()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var fast = new FakeBFloat16Probe(support: true, factor: 0.45);
        using var loss = new DistillationObjective((new KLDivergenceLoss(4), 1.0), (new CosineFeatureLoss("layers.3", "layers.3"), 1.0));

        var run = () => NewTrainer(Options(TeacherPrecision.Auto, fast)).Distill(train, loss: loss);

        run.Should().NotThrow();
        fast.Timings.Should().Be(0);
    }

    [Fact]
    public void An_explicit_bfloat16_request_where_it_is_slow_runs_and_warns_once_with_the_factor()
    {
        using var train = Quadrants.Create(96, seed: 1);
        var slow = new FakeBFloat16Probe(support: true, factor: 1.3);
        var logger = new ListLogger<Trainer<TinyNet, TinyNet>>();
        var trainer = NewTrainer(Options(TeacherPrecision.BFloat16, slow), logger);

        trainer.Check(train, DistillationObjective.KnowledgeDistillation(4));
        var explicitRun = trainer.Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));
        var bfloat16 = NewTrainer(Options(TeacherPrecision.BFloat16, new FakeBFloat16Probe(support: true, factor: 0.45))).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));

        Losses(explicitRun).Should().Equal(Losses(bfloat16), "the request is honoured");
        logger.Inner.Entries.Where(e => e.Level == LogLevel.Warning).Should().ContainSingle()
            .Which.Message.Should().Contain("bfloat16 is slow on this device").And.Contain("1.30x");
    }

    [Fact]
    public void An_explicit_bfloat16_request_where_it_is_fast_does_not_warn()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var logger = new ListLogger<Trainer<TinyNet, TinyNet>>();

        NewTrainer(Options(TeacherPrecision.BFloat16, new FakeBFloat16Probe(support: true, factor: 0.45)), logger).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));

        logger.Inner.Entries.Should().NotContain(e => e.Level == LogLevel.Warning);
    }

    [Fact]
    public void A_checkpoint_records_the_precision_Auto_chose_and_a_resume_where_it_chooses_the_other_is_refused()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var folder = new TempFolder();
        TrainerOptions WithCheckpoints(TeacherPrecision precision, double factor)
        {
            var options = Options(precision, new FakeBFloat16Probe(support: true, factor: factor));
            options.Checkpoints = new CheckpointOptions { Directory = folder.Path, Resume = true };
            return options;
        }

        NewTrainer(WithCheckpoints(TeacherPrecision.Auto, factor: 0.45)).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));

        var elsewhere = () => NewTrainer(WithCheckpoints(TeacherPrecision.Auto, factor: 1.3)).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));
        elsewhere.Should().Throw<CheckpointMismatchException>().WithMessage("*TeacherPrecision = BFloat16*TeacherPrecision = Float32*");

        var explicitBFloat16 = () => NewTrainer(WithCheckpoints(TeacherPrecision.BFloat16, factor: 0.45)).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));
        explicitBFloat16.Should().NotThrow("the checkpoint holds the resolved BFloat16, not Auto");
    }
}
