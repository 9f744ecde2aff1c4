using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Serialization;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Tests.Training;

public sealed class CheckpointTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();
    private readonly TempFolder folder = new();

    public void Dispose()
    {
        set_num_threads(threadsBefore);
        folder.Dispose();
    }

    private TrainerOptions Options(int epochs = 4, bool resume = false) => new()
    {
        Epochs = epochs,
        BatchSize = 32,
        Seed = 7,
        Optimizer = new Distillation.Training.OptimizationOptions { Kind = OptimizerKind.AdamW, LearningRate = 0.01, WeightDecay = 0.01 },
        Schedule = new ScheduleOptions { Kind = ScheduleKind.Cosine, WarmupEpochs = 1 },
        Augmentation = new AugmentationOptions { Padding = 1 },
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        Checkpoints = new CheckpointOptions { Directory = folder.Path, Resume = resume },
    };

    /// <summary>The teacher is always the same (a resumed run is given the same teacher); the student starts from <paramref name="initSeed"/>.</summary>
    private static Trainer<TinyNet, TinyNet> NewTrainer(TrainerOptions options, long initSeed, long teacherSeed = 100)
    {
        manual_seed(teacherSeed);
        var teacher = new TinyNet(16);
        manual_seed(initSeed);
        return new Trainer<TinyNet, TinyNet>(teacher, new TinyNet(4), options);
    }

    /// <summary>A hint term has parameters of its own, so the checkpoint must carry them and their optimizer state.</summary>
    private static DistillationObjective HintObjective(long initSeed)
    {
        manual_seed(initSeed);
        return new DistillationObjective((new LabelCrossEntropyLoss(), 1.0), (new KLDivergenceLoss(4), 1.0), (new HintLoss(4, 16, "layers.0", "layers.0"), 0.5));
    }

    private static float[] Weights(nn.Module module) => module.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();

    [Fact]
    public void A_run_interrupted_and_resumed_ends_with_the_weights_of_an_uninterrupted_run()
    {
        using var train = Quadrants.Create(160, seed: 1);
        using var test = Quadrants.Create(64, seed: 2);

        var uninterruptedFolder = Path.Combine(folder.Path, "whole");
        var wholeOptions = Options();
        wholeOptions.Checkpoints!.Directory = uninterruptedFolder;
        var whole = NewTrainer(wholeOptions, initSeed: 3);
        var wholeLoss = HintObjective(initSeed: 4);
        var expected = whole.Distill(train, test, wholeLoss);

        // Cancelled during epoch 3, after epoch 2's checkpoint was written.
        using var cancellation = new CancellationTokenSource();
        var interrupted = NewTrainer(Options(), initSeed: 3);
        var interruptedLoss = HintObjective(initSeed: 4);
        var progress = new SynchronousProgress<TrainingProgress>(p =>
        {
            if (p is BatchProgress { Epoch: 3, Batch: 2 })
            {
                cancellation.Cancel();
            }
        });
        var cancel = () => interrupted.Distill(train, test, interruptedLoss, progress, cancellation.Token);
        cancel.Should().Throw<OperationCanceledException>();

        // A new process would build new models and a new loss: other initial weights, restored from the checkpoint.
        var resumed = NewTrainer(Options(resume: true), initSeed: 99);
        var resumedLoss = HintObjective(initSeed: 98);
        var result = resumed.Distill(train, test, resumedLoss);

        result.ResumedAfterEpoch.Should().Be(2);
        Weights(resumed.Student).Should().Equal(Weights(whole.Student));
        resumedLoss.parameters().SelectMany(p => p.data<float>().ToArray())
            .Should().Equal(wholeLoss.parameters().SelectMany(p => p.data<float>().ToArray()), "the hint regressor trains with the student");
        result.History.Select(r => r.MeanLoss).Should().Equal(expected.History.Select(r => r.MeanLoss));
        result.History.Select(r => r.LearningRate).Should().Equal(expected.History.Select(r => r.LearningRate));
        result.FinalAccuracy.Should().Be(expected.FinalAccuracy);
        result.BestEpoch.Should().Be(expected.BestEpoch);
    }

    [Fact]
    public void An_sgd_run_with_momentum_resumes_exactly()
    {
        // SGD creates its momentum buffers at the first step, so resuming creates them from the file:
        // they must outlive the restore (they were once disposed with it, failing the next step).
        using var train = Quadrants.Create(160, seed: 1);
        TrainerOptions Sgd(string directory, bool resume = false)
        {
            var options = Options(epochs: 3, resume: resume);
            options.Optimizer = new Distillation.Training.OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.05, Momentum = 0.9, Nesterov = true };
            options.Checkpoints!.Directory = directory;
            return options;
        }

        var whole = NewTrainer(Sgd(Path.Combine(folder.Path, "whole")), initSeed: 3);
        var expected = whole.TrainStudent(train);

        using var cancellation = new CancellationTokenSource();
        var progress = new SynchronousProgress<TrainingProgress>(p =>
        {
            if (p is BatchProgress { Epoch: 3, Batch: 2 })
            {
                cancellation.Cancel();
            }
        });
        var interrupted = NewTrainer(Sgd(folder.Path), initSeed: 3);
        interrupted.Invoking(t => t.TrainStudent(train, null, progress, cancellation.Token)).Should().Throw<OperationCanceledException>();

        var resumed = NewTrainer(Sgd(folder.Path, resume: true), initSeed: 99);
        var result = resumed.TrainStudent(train);

        result.ResumedAfterEpoch.Should().Be(2);
        Weights(resumed.Student).Should().Equal(Weights(whole.Student));
        result.History.Select(r => r.MeanLoss).Should().Equal(expected.History.Select(r => r.MeanLoss));
    }

    [Fact]
    public void Resuming_a_finished_run_returns_its_result_without_training()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var first = NewTrainer(Options(epochs: 2), initSeed: 3).TrainStudent(train);
        var again = NewTrainer(Options(epochs: 2, resume: true), initSeed: 5);

        var batches = 0;
        var result = again.TrainStudent(train, progress: new SynchronousProgress<TrainingProgress>(p => batches += p is BatchProgress ? 1 : 0));

        batches.Should().Be(0);
        result.ResumedAfterEpoch.Should().Be(2);
        result.History.Select(r => r.MeanLoss).Should().Equal(first.History.Select(r => r.MeanLoss));
    }

    [Fact]
    public void A_checkpoint_of_another_run_is_refused_naming_both()
    {
        using var train = Quadrants.Create(64, seed: 1);
        NewTrainer(Options(epochs: 2), initSeed: 3).TrainStudent(train);

        var act = () => NewTrainer(Options(epochs: 3, resume: true), initSeed: 3).TrainStudent(train);

        act.Should().Throw<CheckpointMismatchException>().WithMessage("*Epochs = 2*Epochs = 3*");
    }

    [Theory]
    [InlineData("lr", "*LearningRate = 0.01 in the checkpoint, LearningRate = 0.02 in this run*")]
    [InlineData("weight decay", "*WeightDecay = 0.01 in the checkpoint, WeightDecay = 0 in this run*")]
    [InlineData("optimizer", "*Optimizer = AdamW in the checkpoint, Optimizer = Sgd in this run*")]
    [InlineData("schedule", "*Schedule = Cosine in the checkpoint, Schedule = Constant in this run*")]
    public void A_finished_run_resumed_with_another_optimizer_setting_is_refused_naming_it(string setting, string message)
    {
        using var train = Quadrants.Create(64, seed: 1);
        NewTrainer(Options(epochs: 2), initSeed: 3).TrainStudent(train);
        var options = Options(epochs: 2, resume: true);
        switch (setting)
        {
            case "lr": options.Optimizer.LearningRate = 0.02; break;
            case "weight decay": options.Optimizer.WeightDecay = 0; break;
            case "optimizer": options.Optimizer.Kind = OptimizerKind.Sgd; break;
            default: options.Schedule = new ScheduleOptions(); break;
        }

        // Before, the finished run came back as trained, and an unfinished one went on at the new rate on the old optimizer state.
        var act = () => NewTrainer(options, initSeed: 3).TrainStudent(train);

        act.Should().Throw<CheckpointMismatchException>().WithMessage(message).Which.Message.Should().NotContain("Epochs =");
    }

    private static readonly string[] RecordedSettings = ["LearningRate", "WeightDecay", "Optimizer", "Schedule"];

    [Fact]
    public void A_checkpoint_written_before_the_optimizer_settings_were_recorded_still_resumes()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var first = NewTrainer(Options(epochs: 2), initSeed: 3).TrainStudent(train);
        var path = Options().Checkpoints!.LastCheckpointPath(TrainingPhase.StudentAlone);
        CheckpointFiles.Header(path).Should().Contain("\"LearningRate\":0.01");
        CheckpointFiles.Rewrite(path, header =>
        {
            var json = System.Text.Json.Nodes.JsonNode.Parse(header)!;
            var identity = json["Identity"]!.AsObject();
            foreach (var name in RecordedSettings)
            {
                identity.Remove(name).Should().BeTrue(name);
            }

            return json.ToJsonString();
        });

        var options = Options(epochs: 2, resume: true);
        options.Optimizer.LearningRate = 0.02;
        var resumed = NewTrainer(options, initSeed: 5).TrainStudent(train);

        resumed.ResumedAfterEpoch.Should().Be(2, "an older checkpoint is compared on the settings it records");
        resumed.History.Select(r => r.MeanLoss).Should().Equal(first.History.Select(r => r.MeanLoss));
    }

    [Fact]
    public void Distillation_resumed_with_another_teacher_is_refused()
    {
        using var train = Quadrants.Create(64, seed: 1);
        NewTrainer(Options(epochs: 2), initSeed: 3).Distill(train);

        var act = () => NewTrainer(Options(epochs: 2, resume: true), initSeed: 3, teacherSeed: 101).Distill(train);

        act.Should().Throw<CheckpointMismatchException>().WithMessage("*teacher's weights differ*");
    }

    [Fact]
    public void A_damaged_checkpoint_is_reported_as_invalid_data()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var options = Options(epochs: 2);
        NewTrainer(options, initSeed: 3).TrainStudent(train);
        var path = options.Checkpoints!.LastCheckpointPath(TrainingPhase.StudentAlone);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var trainer = NewTrainer(Options(epochs: 2, resume: true), initSeed: 3);
        var before = Weights(trainer.Student);

        var act = () => trainer.TrainStudent(train);

        act.Should().Throw<InvalidDataException>().WithMessage($"*{path}*");
        Weights(trainer.Student).Should().Equal(before, "a checkpoint that fails midway is rolled back");
    }

    /// <summary>Cross-entropy, except at epoch 2, step 1, where the loss is NaN when poisoned.</summary>
    private sealed class NaNAtEpoch2Step1(bool poisoned) : IDistillationLoss
    {
        public string Name => "nan-at-2.1";

        public bool NeedsTeacher => false;

        public LossResult Compute(DistillationContext context)
        {
            var ce = nn.functional.cross_entropy(context.StudentLogits, context.Labels);
            var total = poisoned && context is { Epoch: 2, Step: 1 } ? ce * float.NaN : ce;
            return new LossResult(total, [new LossPart("ce", total.detach(), 1)]);
        }
    }

    [Fact]
    public void A_loss_that_turns_NaN_mid_epoch_names_epoch_and_step_and_keeps_the_last_good_checkpoint()
    {
        using var train = Quadrants.Create(96, seed: 1);
        var options = Options(epochs: 3);
        options.Augmentation = null;
        var trainer = NewTrainer(options, initSeed: 3);

        var act = () => trainer.Distill(train, loss: new NaNAtEpoch2Step1(poisoned: true));

        act.Should().Throw<TrainingDivergedException>()
            .Where(e => e.Epoch == 2 && e.Step == 1)
            .WithMessage("*epoch 2, first at step 1 of 3*checkpoint of epoch 1 is kept*");
        var resumeOptions = Options(epochs: 3, resume: true);
        resumeOptions.Augmentation = null;
        var resumed = NewTrainer(resumeOptions, initSeed: 3).Distill(train, loss: new NaNAtEpoch2Step1(poisoned: false));
        resumed.ResumedAfterEpoch.Should().Be(1, "epoch 1's checkpoint survived; the bad epoch 2 was never written");
    }

    [Fact]
    public void The_best_epochs_weights_are_kept_and_score_what_the_history_says()
    {
        using var train = Quadrants.Create(160, seed: 1);
        using var test = Quadrants.Create(64, seed: 2);
        var options = Options(epochs: 3);
        var result = NewTrainer(options, initSeed: 3).TrainStudent(train, test);

        result.History.Should().AllSatisfy(r => r.Accuracy.Should().NotBeNull("keeping the best evaluates every epoch"));
        var bestEpoch = result.BestEpoch!.Value;
        result.History[bestEpoch - 1].Accuracy.Should().Be(result.History.Max(r => r.Accuracy));
        manual_seed(50);
        var reloaded = new TinyNet(4);
        reloaded.LoadWeights(options.Checkpoints!.BestWeightsPath(TrainingPhase.StudentAlone));
        Distillation.Evaluation.Evaluator.Evaluate(reloaded, test, CPU).Accuracy.Should().Be(result.History[bestEpoch - 1].Accuracy);
        Directory.GetFiles(folder.Path, "*.tmp").Should().BeEmpty("files are written through a temporary file and renamed");
    }
}

public sealed class EarlyStoppingTests
{
    private static TrainerOptions Options(int epochs, EarlyStoppingOptions stopping) => new()
    {
        Epochs = epochs,
        BatchSize = 32,
        Optimizer = new OptimizationOptions { LearningRate = 0.02 },
        Seed = 7,
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        EarlyStopping = stopping,
    };

    /// <summary>Cross-entropy against the true labels in epoch 1, then against wrong ones: accuracy collapses after epoch 1.</summary>
    private sealed class SabotageAfterFirstEpoch : IDistillationLoss
    {
        public string Name => "sabotage";

        public bool NeedsTeacher => false;

        public LossResult Compute(DistillationContext context)
        {
            var labels = context.Epoch == 1 ? context.Labels : context.Labels.add(1).remainder(4);
            var ce = nn.functional.cross_entropy(context.StudentLogits, labels);
            return new LossResult(ce, [new LossPart("ce", ce.detach(), 1)]);
        }
    }

    [Fact]
    public void Training_stops_after_patience_epochs_without_improvement_and_restores_the_best()
    {
        using var train = Quadrants.Create(160, seed: 1);
        using var validation = Quadrants.Create(64, seed: 2);
        manual_seed(3);
        var trainer = new Trainer<TinyNet, TinyNet>(new TinyNet(16), new TinyNet(4), Options(20, new EarlyStoppingOptions { Patience = 2 }));

        var result = trainer.Distill(train, validation, new SabotageAfterFirstEpoch());

        var accuracies = result.History.Select(r => r.Accuracy!.Value).ToArray();
        var best = result.BestEpoch!.Value;
        result.StoppedEarly.Should().BeTrue();
        best.Should().Be(1, "the labels turn wrong after epoch 1");
        result.EpochsTrained.Should().Be(3, "epochs 2 and 3 did not improve on epoch 1");
        accuracies[^1].Should().BeLessThan(accuracies[best - 1]);
        result.FinalAccuracy.Should().Be(accuracies[best - 1]);
        trainer.EvaluateStudent(validation).Accuracy.Should().Be(accuracies[best - 1], "the best epoch's weights were restored");
    }

    [Fact]
    public void Without_restoring_the_model_keeps_the_last_epochs_weights()
    {
        using var train = Quadrants.Create(160, seed: 1);
        using var validation = Quadrants.Create(64, seed: 2);
        manual_seed(3);
        var trainer = new Trainer<TinyNet, TinyNet>(new TinyNet(16), new TinyNet(4), Options(20, new EarlyStoppingOptions { Patience = 2, RestoreBest = false }));

        var result = trainer.Distill(train, validation, new SabotageAfterFirstEpoch());

        result.StoppedEarly.Should().BeTrue();
        result.FinalAccuracy.Should().Be(result.History[^1].Accuracy);
        result.FinalAccuracy.Should().BeLessThan(result.History[result.BestEpoch!.Value - 1].Accuracy!.Value);
        trainer.EvaluateStudent(validation).Accuracy.Should().Be(result.History[^1].Accuracy);
    }

    [Theory]
    [InlineData(0, 0.0)]
    [InlineData(1, -0.1)]
    [InlineData(1, double.NaN)]
    public void Out_of_range_settings_are_rejected(int patience, double minDelta)
    {
        var act = () => new EarlyStoppingOptions { Patience = patience, MinDelta = minDelta }.Validate();

        act.Should().Throw<ArgumentOutOfRangeException>();
    }
}
