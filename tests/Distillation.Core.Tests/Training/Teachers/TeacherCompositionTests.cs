using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Serialization;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Training.Teachers;

/// <summary>The teacher abstraction: the builder's decorators, the ensemble, and a teacher kind written as one class.</summary>
public sealed class TeacherCompositionTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();
    private readonly TempFolder folder = new();

    public void Dispose()
    {
        set_num_threads(threadsBefore);
        folder.Dispose();
    }

    private static TrainerOptions Options(bool cache = true, bool augment = false) => new()
    {
        Epochs = 2,
        BatchSize = 16,
        Optimizer = new OptimizationOptions { LearningRate = 0.01 },
        Seed = 7,
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        Augmentation = augment ? new AugmentationOptions { Padding = 1 } : null,
        // Float32 so that a live teacher gives the losses of a cache (computed in float32) on any machine; Auto may pick bfloat16.
        TeacherOutputs = new TeacherOutputOptions { Cache = cache, Precision = TeacherPrecision.Float32 },
    };

    private static TinyNet Net(long seed, int width = 8)
    {
        manual_seed(seed);
        return new TinyNet(width);
    }

    private static TeacherBatch BatchOf(ImageDataset data)
    {
        using var plan = data.PlanBatches(data.Count);
        return new TeacherBatch(plan.GetBatch(0).Images.DetachFromDisposeScope(), plan.GetIndices(0).DetachFromDisposeScope());
    }

    private static double[] Row(Tensor t, int row) => t[row].to(ScalarType.Float64).data<double>().ToArray();

    [Fact]
    public void The_ensemble_gives_the_mean_of_its_members_log_probabilities()
    {
        using var data = Quadrants.Create(12, seed: 1);
        using var first = Net(1);
        using var second = Net(2, width: 4);
        using var ensemble = Teacher.Ensemble(Teacher.From(first), Teacher.From(second));
        using var scope = NewDisposeScope();
        var batch = BatchOf(data);

        using var prepared = ensemble.Prepare(new TeacherRequest(data, CPU));
        var logits = ensemble.Forward(batch).Logits;

        using var noGrad = no_grad();
        var a = first.call(batch.Images);
        var b = second.call(batch.Images);
        for (var row = 0; row < data.Count; row++)
        {
            // By hand, in double: log p = x − log Σ exp(x), then the mean over the two members.
            static double[] LogProbabilities(double[] x)
            {
                var max = x.Max();
                var logSum = max + Math.Log(x.Sum(v => Math.Exp(v - max)));
                return x.Select(v => v - logSum).ToArray();
            }

            var expected = LogProbabilities(Row(a, row)).Zip(LogProbabilities(Row(b, row)), (p, q) => (p + q) / 2).ToArray();
            Row(logits, row).Should().Equal(expected, (actual, wanted) => Math.Abs(actual - wanted) < 1e-5, $"row {row}");
        }

        logits.dtype.Should().Be(ScalarType.Float32);
    }

    [Fact]
    public void An_ensemble_of_a_live_module_and_a_logits_file_distils_and_refuses_features()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var live = Net(1);
        using var other = Net(2);
        var path = Path.Combine(folder.Path, "logits.safetensors");
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            other.eval();
            using var plan = train.PlanBatches(train.Count);
            Safetensors.Write(path, [new("logits", other.call(plan.GetBatch(0).Images))]);
        }

        using var ensemble = Teacher.Ensemble(Teacher.From(live), Teacher.FromLogitsFile(path));
        var trainer = new Trainer<ITeacher, TinyNet>(ensemble, Net(3, width: 4), Options());

        var result = trainer.Distill(train, loss: new KLDivergenceLoss(4));

        result.History.Should().HaveCount(2).And.OnlyContain(e => double.IsFinite(e.MeanLoss) && e.MeanLoss > 0);
        result.TeacherOutputsCached.Should().BeTrue("without augmentation the default pipeline caches the ensemble's outputs");
        using var features = new DistillationObjective((new KLDivergenceLoss(4), 1.0), (new CosineFeatureLoss("layers.3", "layers.3"), 1.0));
        trainer.Invoking(t => t.Distill(train, loss: features)).Should().Throw<ArgumentException>().WithMessage("*reads the teacher's features (layers.3)*EnsembleTeacher supplies logits only*");
    }

    [Fact]
    public void An_ensemble_needs_two_distinct_members()
    {
        using var net = Net(1);
        var one = Teacher.From(net);

        FluentActions.Invoking(() => Teacher.Ensemble(one)).Should().Throw<ArgumentException>().WithMessage("*at least two*given 1*");
        FluentActions.Invoking(() => Teacher.Ensemble(one, one)).Should().Throw<ArgumentException>().WithMessage("*same teacher twice*");
    }

    [Fact]
    public void A_teacher_kind_is_one_class_and_the_trainer_calls_it_once_per_batch_when_live()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var net = Net(1);
        var counting = new CountingTeacher(Teacher.From(net));
        var trainer = new Trainer<CountingTeacher, TinyNet>(counting, Net(3, width: 4), Options(false));

        var result = trainer.Distill(train, loss: new KLDivergenceLoss(4));

        counting.Prepared.Should().Be(1);
        counting.Released.Should().Be(1, "the preparation is released when the call ends");
        counting.Forwards.Should().Be(2 * 4, "two epochs of four batches of 16");
        result.TeacherOutputsCached.Should().BeFalse();
    }

    [Fact]
    public void A_cache_the_user_composed_is_not_wrapped_again_and_runs_the_teacher_once_per_image()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var net = Net(1);
        var counting = new CountingTeacher(Teacher.From(net));
        var trainer = new Trainer<ITeacher, TinyNet>(counting.UseCache(), Net(3, width: 4), Options(true));

        var result = trainer.Distill(train, loss: new KLDivergenceLoss(4));

        result.TeacherOutputsCached.Should().BeTrue();
        counting.Forwards.Should().Be(2, "one image to size the cache, then one batch of 64 (the evaluation batch size is 256)");
    }

    [Fact]
    public void A_cached_teacher_gives_the_live_teachers_losses()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var net = Net(1);
        var live = new Trainer<ITeacher, TinyNet>(Teacher.From(net), Net(3, width: 4), Options(false)).Distill(train, loss: new KLDivergenceLoss(4));
        var cached = new Trainer<ITeacher, TinyNet>(Teacher.From(net).UseCache(), Net(3, width: 4), Options(false)).Distill(train, loss: new KLDivergenceLoss(4));

        cached.TeacherOutputsCached.Should().BeTrue("an explicit cache serves whatever the options say");
        cached.History.Select(e => e.MeanLoss).Should().Equal(live.History.Select(e => e.MeanLoss));
    }

    [Fact]
    public void The_builder_composes_decorators_that_reach_the_module_and_mark_the_fingerprint()
    {
        using var net = Net(1);
        var plain = Teacher.From(net);
        var composed = Teacher.From(net).UseBFloat16().UseCache();

        composed.GetModule().Should().BeSameAs(net);
        composed.GetService(typeof(ModuleTeacher<nn.Module<Tensor, Tensor>>)).Should().NotBeNull();
        plain.UseCache().Fingerprint.Should().Be(plain.Fingerprint, "a cache gives the same outputs");
        composed.Fingerprint.Should().Be(plain.Fingerprint + "+bfloat16", "bfloat16 outputs differ by rounding, so caches and checkpoints must tell them apart");
    }

    [Fact]
    public void BFloat16_needs_a_module_and_a_module_teacher_can_be_trained_while_others_cannot()
    {
        using var data = Quadrants.Create(16, seed: 1);
        using var first = Net(1);
        using var second = Net(2);
        using var ensemble = Teacher.Ensemble(Teacher.From(first), Teacher.From(second));

        FluentActions.Invoking(() => ensemble.UseBFloat16()).Should().Throw<ArgumentException>().WithMessage("*UseBFloat16*EnsembleTeacher holds none*");
        new Trainer<ITeacher, TinyNet>(ensemble, Net(3), Options()).Invoking(t => t.TrainTeacher(data)).Should().Throw<InvalidOperationException>().WithMessage("*not a TorchSharp model*cannot be trained*");
    }

    [Fact]
    public void A_trainer_refuses_a_teacher_that_is_neither_a_teacher_nor_a_module()
    {
        using var net = Net(1);
        FluentActions.Invoking(() => new Trainer<string, TinyNet>("teacher.onnx", net)).Should().Throw<ArgumentException>().WithMessage("*ITeacher or a TorchSharp module*String is neither*");
    }

    [Fact]
    public void The_preflight_gives_the_teachers_refusals_and_does_no_work()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var net = Net(1);
        var counting = new CountingTeacher(Teacher.From(net));
        var trainer = new Trainer<CountingTeacher, TinyNet>(counting, Net(3, width: 4), Options(true));
        using var features = new DistillationObjective((new KLDivergenceLoss(4), 1.0), (new CosineFeatureLoss("layers.3", "layers.9"), 1.0));

        trainer.Check(train, new KLDivergenceLoss(4));
        trainer.Invoking(t => t.Check(train, features)).Should().Throw<ArgumentException>().WithMessage("*no module 'layers.9'*");
        trainer.Invoking(t => t.Check(Quadrants.Create(0, seed: 1))).Should().Throw<ArgumentException>().WithMessage("The training set is empty*");

        counting.Forwards.Should().Be(0, "a preflight builds no cache");
        counting.Prepared.Should().Be(1, "the check with the missing teacher path was refused while preparing");
        counting.Released.Should().Be(1, "every check's preparation is released");
        var path = Path.Combine(folder.Path, "logits.safetensors");
        using (var scope = NewDisposeScope())
        {
            Safetensors.Write(path, [new("logits", zeros(64, 4))]);
        }

        using var precomputed = new PrecomputedTeacher(path);
        var augmented = Options(augment: true);
        new Trainer<PrecomputedTeacher, TinyNet>(precomputed, Net(3, width: 4), augmented)
            .Invoking(t => t.Check(train, new KLDivergenceLoss(4))).Should().Throw<InvalidOperationException>().WithMessage("*un-augmented*");
        new Trainer<PrecomputedTeacher, TinyNet>(precomputed, Net(3, width: 4), Options())
            .Invoking(t => t.Check(Quadrants.Create(32, seed: 2), new KLDivergenceLoss(4))).Should().Throw<ArgumentException>().WithMessage("*64 rows*32 images*");
    }

    /// <summary>A teacher kind in one class: counts what the trainer asks of it.</summary>
    private sealed class CountingTeacher(ITeacher inner) : DelegatingTeacher(inner)
    {
        public int Prepared { get; private set; }

        public int Released { get; private set; }

        public int Forwards { get; private set; }

        public override TeacherPreparation Prepare(TeacherRequest request)
        {
            var preparation = base.Prepare(request);
            Prepared++;
            return new TeacherPreparation(preparation, () => Released++);
        }

        public override TeacherOutput Forward(TeacherBatch batch)
        {
            Forwards++;
            return base.Forward(batch);
        }
    }
}
