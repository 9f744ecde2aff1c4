using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Training.Teachers;

/// <summary>TeacherOutputs.Precision = BFloat16: a live teacher runs in bfloat16 and is handed back in float32, bit for bit.</summary>
public sealed class BFloat16TeacherTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();

    public void Dispose() => set_num_threads(threadsBefore);

    private static TrainerOptions Options(TeacherPrecision precision, bool augment = true) => new()
    {
        Epochs = 2,
        BatchSize = 32,
        Optimizer = new OptimizationOptions { LearningRate = 0.01 },
        Seed = 7,
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        Augmentation = augment ? new AugmentationOptions { Padding = 1 } : null,
        TeacherOutputs = new TeacherOutputOptions { Precision = precision },
    };

    private static Trainer<TinyNet, TinyNet> NewTrainer(TrainerOptions options)
    {
        manual_seed(100);
        var teacher = new TinyNet(16);
        manual_seed(3);
        return new Trainer<TinyNet, TinyNet>(teacher, new TinyNet(4), options);
    }

    private static Dictionary<string, Tensor> Snapshot(nn.Module model) =>
        model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());

    private static void ShouldEqualBitForBit(nn.Module model, Dictionary<string, Tensor> before)
    {
        foreach (var (name, value) in model.state_dict())
        {
            value.dtype.Should().Be(ScalarType.Float32, $"{name} is handed back in float32");
            value.data<float>().ToArray().Should().Equal(before[name].data<float>().ToArray(), $"{name} is restored bit for bit");
        }
    }

    [Fact]
    public void A_bfloat16_teacher_is_handed_back_in_float32_bit_for_bit()
    {
        using var train = Quadrants.Create(96, seed: 1);
        var trainer = NewTrainer(Options(TeacherPrecision.BFloat16));
        var before = Snapshot(trainer.Teacher);

        trainer.Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));

        ShouldEqualBitForBit(trainer.Teacher, before);
        trainer.Teacher.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float32);
    }

    [Fact]
    public void A_bfloat16_teacher_gives_losses_within_bfloat16_rounding_of_float32_and_not_equal_to_them()
    {
        using var train = Quadrants.Create(96, seed: 1);
        var full = NewTrainer(Options(TeacherPrecision.Float32)).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));
        var half = NewTrainer(Options(TeacherPrecision.BFloat16)).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));

        var pairs = full.History.Zip(half.History, (f, h) => (f.LossParts["kd"], h.LossParts["kd"])).ToArray();
        pairs.Should().HaveCount(2);
        foreach (var (f, h) in pairs)
        {
            h.Should().BeApproximately(f, Math.Abs(f) * 0.05 + 1e-4, "bfloat16 keeps about 3 significant digits of the teacher's logits");
        }

        pairs.Should().Contain(p => p.Item1 != p.Item2, "the teacher really ran in bfloat16");
    }

    [Fact]
    public void A_bfloat16_teacher_is_restored_when_the_run_throws()
    {
        using var train = Quadrants.Create(96, seed: 1);
        var options = Options(TeacherPrecision.BFloat16);
        options.Callbacks.Add(new ThrowingCallback());
        var trainer = NewTrainer(options);
        var before = Snapshot(trainer.Teacher);

        var run = () => trainer.Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));

        run.Should().Throw<InvalidOperationException>().WithMessage("stop here");
        ShouldEqualBitForBit(trainer.Teacher, before);
    }

    [Fact]
    public void A_bfloat16_teacher_is_refused_for_a_loss_that_reads_its_features()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var trainer = NewTrainer(Options(TeacherPrecision.BFloat16));
        var before = Snapshot(trainer.Teacher);
        using var loss = new DistillationObjective((new KLDivergenceLoss(4), 1.0), (new CosineFeatureLoss("layers.3", "layers.3"), 1.0));

        var run = () => trainer.Distill(train, loss: loss);

        run.Should().Throw<ArgumentException>().WithMessage("*BFloat16*reads the teacher's features (layers.3)*");
        ShouldEqualBitForBit(trainer.Teacher, before);
    }

    [Fact]
    public void A_teacher_that_is_not_float32_is_refused_by_name()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var trainer = NewTrainer(Options(TeacherPrecision.BFloat16));
        trainer.Teacher.to(ScalarType.Float64);

        var run = () => trainer.Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));

        run.Should().Throw<InvalidOperationException>().WithMessage("*needs a float32 teacher, but its layers.0.weight is Float64*");
    }

    [Fact]
    public void A_cached_teacher_stays_in_float32()
    {
        // Without augmentation the teacher runs once into the cache, in float32: the losses equal a float32 run's.
        using var train = Quadrants.Create(96, seed: 1);
        var full = NewTrainer(Options(TeacherPrecision.Float32, augment: false)).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));
        var half = NewTrainer(Options(TeacherPrecision.BFloat16, augment: false)).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));

        half.History.Select(e => e.MeanLoss).Should().Equal(full.History.Select(e => e.MeanLoss));
    }

    [Fact]
    public void A_checkpoint_of_a_bfloat16_teacher_is_not_resumed_with_a_float32_one()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var folder = new TempFolder();
        TrainerOptions WithCheckpoints(TeacherPrecision precision)
        {
            var options = Options(precision);
            options.Checkpoints = new CheckpointOptions { Directory = folder.Path, Resume = true };
            return options;
        }

        NewTrainer(WithCheckpoints(TeacherPrecision.BFloat16)).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));

        var resumed = () => NewTrainer(WithCheckpoints(TeacherPrecision.Float32)).Distill(train, loss: DistillationObjective.KnowledgeDistillation(4));

        resumed.Should().Throw<CheckpointMismatchException>().WithMessage("*TeacherPrecision = BFloat16*TeacherPrecision = Float32*");
    }

    private sealed class ThrowingCallback : ITrainingCallback
    {
        public void OnStepEnd(StepEndContext context)
        {
            if (context.Step == 1)
            {
                throw new InvalidOperationException("stop here");
            }
        }

        public void OnEpochEnd(EpochEndContext context)
        {
        }
    }
}
