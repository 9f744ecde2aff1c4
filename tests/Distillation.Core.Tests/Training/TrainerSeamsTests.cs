using Distillation.Devices;
using Distillation.Losses;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using OptimizationOptions = Distillation.Training.OptimizationOptions;

namespace Distillation.Tests.Training;

/// <summary>The trainer's extension points: optimizer and scheduler factories, callbacks, gradient accumulation, and one call at a time.</summary>
public sealed class TrainerSeamsTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();

    public void Dispose() => set_num_threads(threadsBefore);

    private static TrainerOptions Options(int epochs = 2, int batchSize = 32) => new()
    {
        Epochs = epochs,
        BatchSize = batchSize,
        Optimizer = new OptimizationOptions { LearningRate = 0.01 },
        Seed = 11,
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
    };

    private static Trainer<TinyNet, TinyNet> NewTrainer(TrainerOptions options, long initSeed = 1)
    {
        manual_seed(initSeed);
        return new Trainer<TinyNet, TinyNet>(new TinyNet(16), new TinyNet(4), options);
    }

    private static Dictionary<string, Tensor> Weights(nn.Module model) =>
        model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());

    [Fact]
    public void A_custom_optimizer_factory_gets_the_students_parameters_and_is_used()
    {
        using var train = Quadrants.Create(128, seed: 1);
        var options = Options(epochs: 1);
        IReadOnlyList<Parameter>? given = null;
        options.OptimizerFactory = parameters =>
        {
            given = parameters;
            return torch.optim.SGD(parameters, 0.05);
        };
        var trainer = NewTrainer(options);

        var result = trainer.TrainStudent(train);

        given.Should().NotBeNull();
        given!.Should().HaveCount(trainer.Student.parameters().Count());
        result.History.Single().LearningRate.Should().Be(0.05, "the built-in constant schedule starts from the custom optimizer's own rate");

        // The same run with the built-in Adam ends elsewhere: the factory's SGD really trained the student.
        var adam = NewTrainer(Options(epochs: 1));
        adam.TrainStudent(train);
        adam.Student.parameters().First().allclose(trainer.Student.parameters().First()).Should().BeFalse();
    }

    [Fact]
    public void A_custom_scheduler_sets_the_rate_of_each_epoch()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var options = Options(epochs: 3);
        options.SchedulerFactory = optimizer => torch.optim.lr_scheduler.StepLR(optimizer, step_size: 1, gamma: 0.5);
        var trainer = NewTrainer(options);

        var result = trainer.TrainStudent(train);

        result.History.Select(e => e.LearningRate).Should().Equal(0.01, 0.005, 0.0025);
    }

    [Fact]
    public void A_step_callback_sees_every_step_with_its_loss_and_can_stop_the_epoch()
    {
        using var train = Quadrants.Create(320, seed: 1);
        var options = Options(epochs: 3);
        var recorder = new Recorder { StopAtStep = (2, 4) };
        options.Callbacks.Add(recorder);
        var trainer = NewTrainer(options);

        var result = trainer.TrainStudent(train);

        recorder.Steps.Should().Equal((1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (1, 7), (1, 8), (1, 9), (2, 0), (2, 1), (2, 2), (2, 3), (2, 4));
        recorder.StepLosses.Should().OnlyContain(l => double.IsFinite(l) && l > 0);
        result.StoppedEarly.Should().BeTrue();
        result.History.Should().HaveCount(2);
        result.History[1].Images.Should().Be(5 * 32, "the stopped epoch is reported over the steps it did");
        recorder.Epochs.Should().Equal(1, 2);
    }

    [Fact]
    public void An_epoch_callback_reads_the_report_and_stops_after_that_epoch()
    {
        using var train = Quadrants.Create(128, seed: 1);
        var options = Options(epochs: 5);
        var recorder = new Recorder { StopAfterEpoch = 2 };
        options.Callbacks.Add(recorder);
        var trainer = NewTrainer(options);

        var result = trainer.TrainStudent(train);

        result.History.Should().HaveCount(2);
        result.StoppedEarly.Should().BeTrue();
        recorder.EpochLosses.Should().Equal(result.History.Select(e => e.MeanLoss));
        recorder.Events.Should().Equal("start StudentAlone 5/0", "epoch 1", "epoch 2", "end StudentAlone 2 stopped");
    }

    [Fact]
    public void Run_callbacks_see_a_resumed_run_start_where_its_checkpoint_left_off()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var folder = new TempFolder();
        TrainerOptions WithCheckpoints(int epochs, Recorder recorder)
        {
            var options = Options(epochs);
            options.Checkpoints = new CheckpointOptions { Directory = folder.Path, Resume = true };
            options.Callbacks.Add(recorder);
            return options;
        }

        var first = new Recorder();
        NewTrainer(WithCheckpoints(2, first)).TrainStudent(train);
        var resumed = new Recorder();
        NewTrainer(WithCheckpoints(2, resumed)).TrainStudent(train);
        var act = () => NewTrainer(WithCheckpoints(3, new Recorder())).TrainStudent(train);

        first.Events.Should().Equal("start StudentAlone 2/0", "epoch 1", "epoch 2", "end StudentAlone 2");
        resumed.Events.Should().Equal("start StudentAlone 2/2", "end StudentAlone 2");
        act.Should().Throw<CheckpointMismatchException>().Which.Message.Should()
            .Contain("Epochs = 2 in the checkpoint, Epochs = 3 in this run").And.NotContain("BatchSize", "only the setting that differs is named");
    }

    [Fact]
    public void A_stop_in_the_last_epochs_last_step_is_not_an_early_stop()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var options = Options(epochs: 1);
        options.Callbacks.Add(new Recorder { StopAfterEpoch = 1 });

        var result = NewTrainer(options).TrainStudent(train);

        result.StoppedEarly.Should().BeFalse();
    }

    [Fact]
    public void Accumulating_two_half_batches_matches_one_full_batch()
    {
        // Same permutation (the shuffle does not depend on the batch size), cross-entropy is a batch
        // mean and TinyNet has no batch statistics: two batches of 32 averaged are one batch of 64.
        using var train = Quadrants.Create(256, seed: 1);
        var whole = NewTrainer(Options(epochs: 2, batchSize: 64));
        var halvesOptions = Options(epochs: 2, batchSize: 32);
        halvesOptions.GradientAccumulationSteps = 2;
        var halves = NewTrainer(halvesOptions);
        var notAccumulated = NewTrainer(Options(epochs: 2, batchSize: 32));

        whole.TrainStudent(train);
        halves.TrainStudent(train);
        notAccumulated.TrainStudent(train);

        foreach (var (name, expected) in Weights(whole.Student))
        {
            var actual = halves.Student.state_dict()[name];
            actual.allclose(expected, rtol: 1e-4, atol: 1e-5).Should().BeTrue($"{name} should match the full-batch run");
        }

        notAccumulated.Student.parameters().First().allclose(whole.Student.parameters().First(), rtol: 1e-4, atol: 1e-5)
            .Should().BeFalse("without accumulation, batches of 32 take twice the steps");
    }

    [Fact]
    public async Task A_second_training_call_on_a_busy_trainer_is_refused()
    {
        using var train = Quadrants.Create(128, seed: 1);
        var options = Options(epochs: 1);
        var trainer = NewTrainer(options);
        var blocker = new BlockingCallback();
        options.Callbacks.Add(blocker);

        var first = Task.Run(() => trainer.TrainStudent(train));
        blocker.Entered.Wait(TimeSpan.FromSeconds(60)).Should().BeTrue();
        var second = () => trainer.Distill(train);

        second.Should().Throw<InvalidOperationException>().WithMessage("*already running a training call*");
        blocker.Release.Set();
        (await first.WaitAsync(TimeSpan.FromSeconds(60))).History.Should().HaveCount(1);
        options.Callbacks.Clear();
        trainer.TrainStudent(train).History.Should().HaveCount(1, "the trainer is free again after the first call");
    }

    [Fact]
    public void Non_finite_teacher_logits_are_reported_as_the_teachers_divergence_with_epoch_and_step()
    {
        // As a teacher trained at a learning rate of 1e5 does: its logits turn NaN at the fourth step of epoch 1.
        using var train = Quadrants.Create(256, seed: 1);
        manual_seed(1);
        var trainer = new Trainer<NaNFromCall, TinyNet>(new NaNFromCall(firstBadCall: 4), new TinyNet(4), Options(epochs: 2));

        var act = () => trainer.TrainTeacher(train);

        var error = act.Should().Throw<TrainingDivergedException>().Which;
        error.Phase.Should().Be(TrainingPhase.Teacher);
        error.Epoch.Should().Be(1);
        error.Step.Should().Be(3);
        error.Message.Should().Contain("Teacher").And.Contain("epoch 1").And.Contain("step 3");
    }

    [Fact]
    public void An_empty_evaluation_set_is_an_error_before_training()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var empty = new Distillation.Data.ImageDataset(zeros([0, 3, 8, 8], ScalarType.Byte), zeros(0, ScalarType.Int64), train.ClassNames, train.Normalization);
        var trainer = NewTrainer(Options(epochs: 1));
        var before = Weights(trainer.Student);

        var act = () => trainer.TrainStudent(train, empty);

        act.Should().Throw<ArgumentException>().WithParameterName("evaluation").WithMessage("*empty*");
        trainer.Student.state_dict()["layers.0.weight"].allclose(before["layers.0.weight"], rtol: 0, atol: 0).Should().BeTrue();
    }

    private sealed class Recorder : ITrainingCallback
    {
        public (int Epoch, int Step)? StopAtStep { get; init; }

        public int? StopAfterEpoch { get; init; }

        public List<(int Epoch, int Step)> Steps { get; } = [];

        public List<double> StepLosses { get; } = [];

        public List<int> Epochs { get; } = [];

        public List<double> EpochLosses { get; } = [];

        public List<string> Events { get; } = [];

        public void OnRunStart(RunStartContext context) => Events.Add($"start {context.Phase} {context.Epochs}/{context.ResumedAfterEpoch}");

        public void OnRunEnd(RunEndContext context) => Events.Add($"end {context.Phase} {context.CompletedEpochs}{(context.StoppedEarly ? " stopped" : "")}");

        public void OnStepEnd(StepEndContext context)
        {
            Steps.Add((context.Epoch, context.Step));
            StepLosses.Add(context.Loss.Total.item<float>());
            if (StopAtStep == (context.Epoch, context.Step))
            {
                context.StopTraining();
            }
        }

        public void OnEpochEnd(EpochEndContext context)
        {
            Events.Add($"epoch {context.Report.Epoch}");
            Epochs.Add(context.Report.Epoch);
            EpochLosses.Add(context.Report.MeanLoss);
            if (StopAfterEpoch == context.Report.Epoch)
            {
                context.StopTraining();
            }
        }
    }

    /// <summary>A TinyNet whose logits are NaN from its <c>firstBadCall</c>-th forward on (1-based).</summary>
    private sealed class NaNFromCall : nn.Module<Tensor, Tensor>
    {
        private readonly TinyNet inner;
        private readonly int firstBadCall;
        private int calls;

        public NaNFromCall(int firstBadCall)
            : base(nameof(NaNFromCall))
        {
            inner = new TinyNet(4);
            this.firstBadCall = firstBadCall;
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            var logits = inner.call(input);
            return ++calls >= firstBadCall ? logits.mul(double.NaN) : logits;
        }
    }

    private sealed class BlockingCallback : ITrainingCallback
    {
        public ManualResetEventSlim Entered { get; } = new();

        public ManualResetEventSlim Release { get; } = new();

        public void OnStepEnd(StepEndContext context)
        {
            Entered.Set();
            Release.Wait(TimeSpan.FromSeconds(60));
        }
    }
}
