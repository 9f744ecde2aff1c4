using Distillation.Data;
using OptimizationOptions = Distillation.Training.OptimizationOptions;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Training;
using Distillation.Tests.TestSupport;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Tests.Training;

public sealed class TrainerTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();

    public void Dispose() => set_num_threads(threadsBefore);


    /// <summary>Wraps a teacher and records, at every forward, whether it was in training mode and whether gradients were on.</summary>
    private sealed class ObservedTeacher : Module<Tensor, Tensor>
    {
        private readonly TinyNet inner;

        public ObservedTeacher(TinyNet inner)
            : base(nameof(ObservedTeacher))
        {
            this.inner = inner;
            RegisterComponents();
        }

        public List<(bool Training, bool GradEnabled)> Calls { get; } = [];

        public override Tensor forward(Tensor input)
        {
            Calls.Add((training, is_grad_enabled()));
            return inner.call(input);
        }
    }

    private static TrainerOptions Options(int epochs = 3) => new()
    {
        Epochs = epochs,
        BatchSize = 32,
        Optimizer = new OptimizationOptions { LearningRate = 0.01 },
        Seed = 11,
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
    };

    private static Trainer<TinyNet, TinyNet> NewTrainer(TrainerOptions options, long initSeed = 1)
    {
        manual_seed(initSeed);
        return new Trainer<TinyNet, TinyNet>(new TinyNet(16), new TinyNet(4), options);
    }

    [Fact]
    public void Cross_entropy_training_learns_and_reports_every_epoch()
    {
        using var train = Quadrants.Create(400, seed: 1);
        using var test = Quadrants.Create(200, seed: 2);
        var trainer = NewTrainer(Options(epochs: 4));
        var reports = new List<TrainingProgress>();

        var result = trainer.TrainStudent(train, test, new SynchronousProgress<TrainingProgress>(reports.Add));

        result.Phase.Should().Be(TrainingPhase.StudentAlone);
        result.History.Should().HaveCount(4);
        result.History[^1].MeanLoss.Should().BeLessThan(result.History[0].MeanLoss);
        result.FinalAccuracy.Should().BeGreaterThan(0.9);
        result.FinalEvaluation!.Total.Should().Be(200);
        result.Parameters.Should().Be(trainer.Student.parameters().Sum(p => p.numel()));
        result.History.Should().AllSatisfy(r => r.LossParts.Keys.Should().Equal("ce"));
        result.History.Select(r => r.Accuracy).Should().Equal(null, null, null, result.FinalAccuracy);

        // 400 images in batches of 32: 13 batches, the last of 16, per epoch.
        reports.OfType<BatchProgress>().Should().HaveCount(4 * 13);
        reports.OfType<EpochReport>().Select(r => r.Epoch).Should().Equal(1, 2, 3, 4);
        reports.OfType<EpochReport>().Should().AllSatisfy(r => r.Images.Should().Be(400));
        reports.OfType<EpochReport>().Should().AllSatisfy(r => r.ImagesPerSecond.Should().BePositive());
    }

    [Fact]
    public void Evaluating_every_epoch_fills_each_report()
    {
        using var train = Quadrants.Create(100, seed: 1);
        using var test = Quadrants.Create(50, seed: 2);
        var options = Options(epochs: 2);
        options.EvaluateEveryEpoch = true;

        var result = NewTrainer(options).TrainTeacher(train, test);

        result.History.Should().AllSatisfy(r => r.Accuracy.Should().NotBeNull());
    }

    [Theory]
    [InlineData(false, 2 * 3)]
    [InlineData(true, 2)] // once on one image to size the cache, once over the 96 images in one evaluation batch
    public void Distillation_runs_the_teacher_frozen_in_eval_mode_without_gradients(bool cache, int teacherCalls)
    {
        using var train = Quadrants.Create(96, seed: 1);
        manual_seed(1);
        var teacher = new ObservedTeacher(new TinyNet(16));
        var student = new TinyNet(4);
        var options = Options(epochs: 2);
        options.TeacherOutputs = new TeacherOutputOptions { Cache = cache };
        var trainer = new Trainer<ObservedTeacher, TinyNet>(teacher, student, options);
        var teacherBefore = teacher.parameters().Select(p => p.detach().clone()).ToArray();

        var result = trainer.Distill(train);

        teacher.Calls.Should().HaveCount(teacherCalls).And.AllSatisfy(c =>
        {
            c.Training.Should().BeFalse("the teacher is always in eval mode");
            c.GradEnabled.Should().BeFalse("the teacher runs under no_grad");
        });
        teacher.parameters().Zip(teacherBefore).Should().AllSatisfy(p => p.First.allclose(p.Second, rtol: 0, atol: 0).Should().BeTrue("the teacher is not trained"));
        result.Phase.Should().Be(TrainingPhase.Distillation);
        result.History.Should().AllSatisfy(r => r.LossParts.Keys.Should().Equal("ce", "kd"));
        result.History[0].MeanLoss.Should().BeApproximately(result.History[0].LossParts["ce"] + result.History[0].LossParts["kd"], 1e-4);
    }

    [Fact]
    public void Distillation_with_another_loss_reports_its_parts()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var trainer = NewTrainer(Options(epochs: 1));

        using var loss = DistillationObjective.PyTorchTutorial();
        var result = trainer.Distill(train, loss: loss);

        var report = result.History.Single();
        report.MeanLoss.Should().BeApproximately(0.75 * report.LossParts["ce"] + 0.25 * report.LossParts["kd"], 1e-4);
        result.LossName.Should().Contain("T=2");
    }

    [Fact]
    public void Distillation_moves_the_student_toward_the_teacher()
    {
        using var train = Quadrants.Create(300, seed: 1);
        var trainer = NewTrainer(Options(epochs: 4));
        trainer.TrainTeacher(train);

        using var loss = DistillationObjective.KnowledgeDistillation(4.0, hardWeight: 0, softWeight: 1);
        var distilled = trainer.Distill(train, loss: loss);

        distilled.History[^1].LossParts["kd"].Should().BeLessThan(distilled.History[0].LossParts["kd"] * 0.7);
    }

    [Fact]
    public void Live_tensor_count_does_not_grow_across_steps()
    {
        using var train = Quadrants.Create(320, seed: 1);
        var trainer = NewTrainer(Options(epochs: 2));
        var live = new List<long>();

        trainer.Distill(train, progress: new SynchronousProgress<TrainingProgress>(p =>
        {
            if (p is BatchProgress)
            {
                live.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount);
            }
        }));

        // The first step creates Adam's state; from the second step on nothing may accumulate.
        live.Should().HaveCount(20);
        live.Skip(1).Take(9).Should().AllBeEquivalentTo(live[1], "within an epoch every step frees what it made");
        live.Skip(11).Should().AllBeEquivalentTo(live[11], "and so it does in the next epoch");
        live[11].Should().Be(live[1], "nothing accumulates from one epoch to the next");
    }

    [Fact]
    public void Cancellation_stops_between_batches()
    {
        using var train = Quadrants.Create(320, seed: 1);
        var trainer = NewTrainer(Options(epochs: 3));
        using var cancellation = new CancellationTokenSource();
        var batches = 0;

        var act = () => trainer.TrainStudent(train, progress: new SynchronousProgress<TrainingProgress>(p =>
        {
            if (p is BatchProgress && ++batches == 3)
            {
                cancellation.Cancel();
            }
        }), cancellationToken: cancellation.Token);

        act.Should().Throw<OperationCanceledException>();
        batches.Should().Be(3);
    }

    [Fact]
    public void Same_seeds_on_a_fixed_thread_count_give_identical_weights()
    {
        float[] TrainOnce()
        {
            using var train = Quadrants.Create(128, seed: 1);
            var trainer = NewTrainer(Options(epochs: 2), initSeed: 5);
            trainer.TrainStudent(train);
            return trainer.Student.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();
        }

        TrainOnce().Should().Equal(TrainOnce());
    }

    /// <summary>A student that records a fingerprint (the pixel sum) of every training batch it is given.</summary>
    private sealed class BatchRecorder : Module<Tensor, Tensor>
    {
        private readonly TinyNet inner = new(4);

        public BatchRecorder()
            : base(nameof(BatchRecorder)) => RegisterComponents();

        public List<float> Batches { get; } = [];

        public override Tensor forward(Tensor input)
        {
            if (training)
            {
                Batches.Add(input.sum().item<float>());
            }

            return inner.call(input);
        }
    }

    private static Trainer<TinyNet, BatchRecorder> RecordingTrainer(TrainerOptions options)
    {
        manual_seed(1);
        return new Trainer<TinyNet, BatchRecorder>(new TinyNet(16), new BatchRecorder(), options);
    }

    /// <summary>
    /// A resident set that says it augments while reading (as a streamed folder cropping while it
    /// decodes does) when <paramref name="augments"/>, and records the pixel sum of every batch it serves.
    /// </summary>
    private sealed class SelfAugmentingSource(ImageDataset inner, bool augments) : IBatchSource
    {
        public List<float> Served { get; } = [];

        public int Count => inner.Count;

        public IReadOnlyList<string> ClassNames => inner.ClassNames;

        public ImageNormalization Normalization => inner.Normalization;

        public BatchPlan PlanBatches(int batchSize, Generator? shuffle = null) => new RecordedPlan(this, inner.PlanBatches(batchSize, shuffle), augmentedBySource: false);

        BatchPlan? IBatchSource.PlanAugmentedBatches(int batchSize, Generator? shuffle, AugmentationOptions augmentation, Generator draws) =>
            augments ? new RecordedPlan(this, inner.PlanBatches(batchSize, shuffle), augmentedBySource: true) : null;

        private sealed class RecordedPlan(SelfAugmentingSource owner, BatchPlan plan, bool augmentedBySource) : BatchPlan(plan.ImageCount, plan.BatchSize, shuffle: null)
        {
            public override bool AugmentedBySource => augmentedBySource;

            protected override Batch ReadBatch(int index, long start, long length, Device device)
            {
                var batch = plan.GetBatch(index, device);
                owner.Served.Add(batch.Images.sum().item<float>());
                return batch;
            }

            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    plan.Dispose();
                }

                base.Dispose(disposing);
            }
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Batches_a_source_augmented_are_not_augmented_again_and_others_are(bool sourceAugments)
    {
        using var data = Quadrants.Create(96, seed: 1);
        var train = new SelfAugmentingSource(data, sourceAugments);
        var options = Options(epochs: 2);
        options.Augmentation = new AugmentationOptions { Padding = 0, RandomResizedCrop = true };
        var trainer = RecordingTrainer(options);

        trainer.TrainStudent(train);

        train.Served.Should().HaveCount(6);
        if (sourceAugments)
        {
            trainer.Student.Batches.Should().Equal(train.Served, "the student sees the source's batches as they were served");
        }
        else
        {
            trainer.Student.Batches.Zip(train.Served).Should().OnlyContain(pair => Math.Abs(pair.First - pair.Second) > 1e-3, "the trainer crops every batch itself");
        }
    }

    [Fact]
    public void Successive_training_calls_continue_the_shuffle_instead_of_replaying_it()
    {
        using var train = Quadrants.Create(96, seed: 1);
        var split = RecordingTrainer(Options(epochs: 2));
        split.TrainStudent(train);
        var first = split.Student.Batches.ToList();
        split.Student.Batches.Clear();
        split.Distill(train);
        var second = split.Student.Batches.ToList();

        var whole = RecordingTrainer(Options(epochs: 4));
        whole.TrainStudent(train);

        second.Should().NotEqual(first, "a second call draws new permutations");
        whole.Student.Batches.Should().Equal(first.Concat(second), "two calls of 2 epochs see the batches of one call of 4");
    }

    [Fact]
    public void Students_handed_on_with_the_same_seed_continue_copies_of_the_stream()
    {
        using var train = Quadrants.Create(96, seed: 1);
        var trainer = RecordingTrainer(Options(epochs: 2));
        trainer.TrainStudent(train);
        var seen = trainer.Student.Batches.ToList();
        trainer.Student.Batches.Clear();

        var distilled = trainer.WithStudent(new BatchRecorder());
        var continued = trainer.WithStudent(new BatchRecorder(), Options(epochs: 2));
        distilled.Distill(train);
        continued.TrainStudent(train);
        trainer.TrainStudent(train);

        distilled.Student.Batches.Should().Equal(continued.Student.Batches, "both copies start where the trainer stood");
        trainer.Student.Batches.Should().Equal(distilled.Student.Batches, "the copies do not move the trainer's own stream");
        distilled.Student.Batches.Should().NotIntersectWith(seen, "the trained student's epochs are not replayed");
    }

    [Fact]
    public void A_student_handed_on_with_another_seed_starts_that_seeds_stream()
    {
        using var train = Quadrants.Create(96, seed: 1);
        var trainer = RecordingTrainer(Options(epochs: 2));
        trainer.TrainStudent(train);
        var reseeded = Options(epochs: 2);
        reseeded.Seed = 12;
        var fresh = RecordingTrainer(reseeded);

        var handedOn = trainer.WithStudent(new BatchRecorder(), reseeded);
        handedOn.TrainStudent(train);
        fresh.TrainStudent(train);

        handedOn.Student.Batches.Should().Equal(fresh.Student.Batches);
    }

    [Fact]
    public void A_diverging_loss_stops_training_naming_the_epoch()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var trainer = NewTrainer(Options(epochs: 3));

        var act = () => trainer.Distill(train, loss: new NaNAfterFirstEpoch());

        act.Should().Throw<TrainingDivergedException>().Where(e => e.Epoch == 2).WithMessage("*epoch 2*");
    }

    private sealed class NaNAfterFirstEpoch : IDistillationLoss
    {
        public string Name => "nan-after-first-epoch";

        public bool NeedsTeacher => false;

        public LossResult Compute(DistillationContext context)
        {
            var ce = functional.cross_entropy(context.StudentLogits, context.Labels);
            var total = context.Epoch == 1 ? ce : ce * float.NaN;
            return new LossResult(total, [new LossPart("ce", total.detach(), 1)]);
        }
    }

    [Fact]
    public void The_schedule_sets_each_epochs_learning_rate_and_the_report_shows_it()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var options = Options(epochs: 4);
        options.Schedule = new ScheduleOptions { Kind = ScheduleKind.Step, StepSize = 2, Gamma = 0.5 };

        var result = NewTrainer(options).TrainStudent(train);

        // Step: 0.01 · 0.5^⌊(e − 1) / 2⌋ = 0.01, 0.01, 0.005, 0.005.
        result.History.Select(r => r.LearningRate).Should().Equal(0.01, 0.01, 0.005, 0.005);
    }

    [Fact]
    public void Augmentation_changes_the_batches_reproducibly_without_changing_the_order()
    {
        double[] Losses(bool augment)
        {
            using var train = Quadrants.Create(96, seed: 1);
            var options = Options(epochs: 2);
            options.Augmentation = augment ? new AugmentationOptions() : null;
            return NewTrainer(options).TrainStudent(train).History.Select(r => r.MeanLoss).ToArray();
        }

        var plain = Losses(augment: false);
        var augmented = Losses(augment: true);

        augmented.Should().NotEqual(plain, "crops and flips change what the model sees");
        Losses(augment: true).Should().Equal(augmented, "the augmentation draws come from the seed");
    }

    [Fact]
    public void Gradient_clipping_bounds_each_update()
    {
        float Change(double? clip)
        {
            using var train = Quadrants.Create(32, seed: 1);
            var options = Options(epochs: 1);
            options.Optimizer = new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.1, Momentum = 0, GradientClipNorm = clip };
            var trainer = NewTrainer(options);
            var before = trainer.Student.parameters().Select(p => p.detach().clone()).ToArray();
            trainer.TrainStudent(train);
            return trainer.Student.parameters().Zip(before).Sum(p => (p.First - p.Second).pow(2).sum().item<float>());
        }

        // One SGD step (32 images, batch 32) moves the weights by lr · g; clipped to norm 1e-3 the move is at most 0.1 · 1e-3.
        var clipped = Change(1e-3);
        Math.Sqrt(clipped).Should().BeLessThanOrEqualTo(0.1 * 1e-3 * 1.0001);
        Change(null).Should().BeGreaterThan(clipped * 100);
    }

    [Theory]
    [InlineData(nameof(TrainerOptions.Epochs))]
    [InlineData(nameof(TrainerOptions.BatchSize))]
    [InlineData(nameof(OptimizationOptions.LearningRate))]
    [InlineData(nameof(TrainerOptions.GradientAccumulationSteps))]
    public void Out_of_range_options_are_rejected_by_name(string name)
    {
        var options = Options();
        switch (name)
        {
            case nameof(TrainerOptions.Epochs): options.Epochs = 0; break;
            case nameof(TrainerOptions.BatchSize): options.BatchSize = -1; break;
            case nameof(OptimizationOptions.LearningRate): options.Optimizer.LearningRate = double.NaN; break;
            case nameof(TrainerOptions.GradientAccumulationSteps): options.GradientAccumulationSteps = 0; break;
        }

        var act = () => NewTrainer(options);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(name);
    }
}
