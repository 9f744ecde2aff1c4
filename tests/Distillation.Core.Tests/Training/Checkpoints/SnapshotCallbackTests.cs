using Distillation.Devices;
using Distillation.Losses;
using Distillation.Serialization;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using TorchSharp;
using static TorchSharp.torch;
using OptimizationOptions = Distillation.Training.OptimizationOptions;

namespace Distillation.Tests.Training;

/// <summary>SnapshotCallback: a run's weights every few epochs and after the last, for snapshot ensembles.</summary>
public sealed class SnapshotCallbackTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();
    private readonly int threadsBefore = get_num_threads();
    private readonly TempFolder folder = new();

    public void Dispose()
    {
        scope.Dispose();
        set_num_threads(threadsBefore);
        folder.Dispose();
    }

    private static TrainerOptions Options(int epochs, ITrainingCallback callback)
    {
        var options = new TrainerOptions
        {
            Epochs = epochs,
            BatchSize = 32,
            Seed = 5,
            Optimizer = new OptimizationOptions { LearningRate = 0.01 },
            Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        };
        options.Callbacks.Add(callback);
        return options;
    }

    private static float[] Weights(nn.Module module) => module.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();

    [Fact]
    public void Every_second_epoch_and_the_last_are_saved_and_the_last_holds_the_final_weights()
    {
        using var train = Quadrants.Create(96, seed: 1);
        var snapshots = new SnapshotCallback(Path.Combine(folder.Path, "snaps"), everyEpochs: 2);
        manual_seed(3);
        var trainer = new Trainer<TinyNet, TinyNet>(new TinyNet(8), new TinyNet(4), Options(5, snapshots));

        trainer.TrainStudent(train);

        snapshots.Snapshots.Select(Path.GetFileName).Should().Equal("student-epoch-002.weights", "student-epoch-004.weights", "student-epoch-005.weights");
        using var last = new TinyNet(4);
        last.LoadWeights(snapshots.Snapshots[^1]);
        Weights(last).Should().Equal(Weights(trainer.Student));
        using var second = new TinyNet(4);
        second.LoadWeights(snapshots.Snapshots[0]);
        Weights(second).Should().NotEqual(Weights(trainer.Student), "epoch 2's weights are not the final ones");
    }

    [Fact]
    public void The_context_gives_the_model_the_run_trains_and_the_files_are_named_by_run()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var seen = new List<nn.Module<Tensor, Tensor>>();
        var recorder = new ModelRecorder(seen);
        manual_seed(3);
        using var teacher = new TinyNet(8);
        using var student = new TinyNet(4);
        var options = Options(1, recorder);
        var snapshots = new SnapshotCallback(folder.Path);
        options.Callbacks.Add(snapshots);
        var trainer = new Trainer<TinyNet, TinyNet>(teacher, student, options);

        trainer.TrainTeacher(train);
        trainer.Distill(train, loss: new KLDivergenceLoss(4));

        seen.Should().HaveCount(2);
        seen[0].Should().BeSameAs(teacher);
        seen[1].Should().BeSameAs(student);
        snapshots.Snapshots.Select(Path.GetFileName).Should().Equal("teacher-epoch-001.weights", "distilled-epoch-001.weights");
    }

    [Fact]
    public void Bad_arguments_are_refused_naming_them()
    {
        FluentActions.Invoking(() => new SnapshotCallback(folder.Path, everyEpochs: 0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("everyEpochs*");
        FluentActions.Invoking(() => new SnapshotCallback(" ")).Should().Throw<ArgumentException>().WithParameterName("directory");
    }

    private sealed class ModelRecorder(List<nn.Module<Tensor, Tensor>> seen) : ITrainingCallback
    {
        public void OnEpochEnd(EpochEndContext context) => seen.Add(context.Model);
    }
}
