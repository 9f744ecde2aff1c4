using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Tests.Training;

/// <summary>Feature-based distillation of a model defined only here, reached through hooks by module path.</summary>
public sealed class FeatureDistillationTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();

    public void Dispose() => set_num_threads(threadsBefore);

    /// <summary>A user's own model: a "trunk" with nested blocks and a "head"; nothing Distillation-specific.</summary>
    private sealed class UserNet : Module<Tensor, Tensor>
    {
        private readonly Sequential trunk;
        private readonly Sequential head;

        public UserNet(int channels)
            : base(nameof(UserNet))
        {
            trunk = Sequential(
                ("stem", Conv2d(3, channels, kernel_size: 3, padding: 1)),
                ("act", ReLU()),
                ("pool", MaxPool2d(kernel_size: 2)));
            head = Sequential(Flatten(), Linear(channels * 16, 4));
            RegisterComponents();
        }

        public override Tensor forward(Tensor input) => head.call(trunk.call(input));
    }

    private static ImageDataset RandomImages(int n)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        var images = randint(0, 256, [n, 3, 8, 8], generator: generator, dtype: ScalarType.Byte);
        var labels = randint(0, 4, [n], generator: generator, dtype: ScalarType.Int64);
        return new ImageDataset(images, labels, ["a", "b", "c", "d"], ImageNormalization.UnitRange);
    }

    private static Trainer<UserNet, UserNet> NewTrainer(int epochs)
    {
        manual_seed(1);
        return new Trainer<UserNet, UserNet>(new UserNet(8), new UserNet(4), new TrainerOptions
        {
            Epochs = epochs,
            BatchSize = 16,
            Optimizer = new Distillation.Training.OptimizationOptions { LearningRate = 0.01 },
            Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        });
    }

    [Fact]
    public void A_hint_on_a_nested_module_path_trains_the_regressor_and_leaves_it_out_of_the_student()
    {
        using var data = RandomImages(64);
        var trainer = NewTrainer(epochs: 3);
        using var hint = new HintLoss(studentChannels: 4, teacherChannels: 8, studentModule: "trunk.act", teacherModule: "trunk.act");
        var regressorBefore = hint.Regressor.weight!.detach().clone();

        var result = trainer.Distill(data, loss: new DistillationObjective((new LabelCrossEntropyLoss(), 1.0), (hint, 1.0)));

        result.History.Should().AllSatisfy(r => r.LossParts.Keys.Should().Equal("ce", "hint"));
        result.History[^1].LossParts["hint"].Should().BeLessThan(result.History[0].LossParts["hint"]);
        hint.Regressor.weight!.allclose(regressorBefore).Should().BeFalse("the regressor trains with the student");
        trainer.Student.state_dict().Keys.Should().OnlyContain(k => k.StartsWith("trunk.", StringComparison.Ordinal) || k.StartsWith("head.", StringComparison.Ordinal));
    }

    [Fact]
    public void Cosine_and_KL_terms_combine_over_hooked_features()
    {
        using var data = RandomImages(48);
        var trainer = NewTrainer(epochs: 2);
        var objective = new DistillationObjective((new LabelCrossEntropyLoss(), 0.75), (new CosineFeatureLoss("trunk", "trunk"), 0.25), (new KLDivergenceLoss(4), 0.5));

        var result = trainer.Distill(data, loss: objective);

        var report = result.History[^1];
        report.LossParts.Keys.Should().Equal("ce", "cosine", "kd");
        // Trunk outputs: student 4×4×4 = 64 values, teacher 8×4×4 = 128, pooled by 2.
        report.MeanLoss.Should().BeApproximately(0.75 * report.LossParts["ce"] + 0.25 * report.LossParts["cosine"] + 0.5 * report.LossParts["kd"], 1e-4);
    }

    [Fact]
    public void A_module_path_that_does_not_exist_lists_the_available_ones()
    {
        using var data = RandomImages(16);
        var trainer = NewTrainer(epochs: 1);

        var act = () => trainer.Distill(data, loss: new DistillationObjective((new LabelCrossEntropyLoss(), 1.0), (new CosineFeatureLoss("body", "trunk"), 1.0)));

        act.Should().Throw<ArgumentException>().WithMessage("*no module 'body'*Available paths: trunk, head, trunk.stem, trunk.act, trunk.pool, head.0, head.1*");
    }

    [Fact]
    public void Hooks_are_removed_after_the_run()
    {
        using var data = RandomImages(16);
        var trainer = NewTrainer(epochs: 1);
        trainer.Distill(data, loss: new DistillationObjective((new LabelCrossEntropyLoss(), 1.0), (new CosineFeatureLoss("trunk", "trunk"), 1.0)));

        using var capture = new FeatureCapture(trainer.Student, ["trunk.pool"]);
        trainer.Student.call(zeros(1, 3, 8, 8));

        capture.Outputs.Keys.Should().Equal("trunk.pool");
    }
}
