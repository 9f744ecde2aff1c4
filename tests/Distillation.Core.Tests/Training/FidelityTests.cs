using System.Globalization;
using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Serialization;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using TorchSharp;
using static TorchSharp.torch;
using OptimizationOptions = Distillation.Training.OptimizationOptions;

namespace Distillation.Tests.Training;

/// <summary>TrainerOptions.TrackFidelity: the student's agreement with the teacher, KL(teacher ‖ student) and the teacher's accuracy, per evaluated epoch.</summary>
public sealed class FidelityTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();
    private readonly int threadsBefore = get_num_threads();
    private readonly string folder = Directory.CreateTempSubdirectory("fidelity-").FullName;

    public void Dispose()
    {
        scope.Dispose();
        set_num_threads(threadsBefore);
        Directory.Delete(folder, recursive: true);
    }

    private static TrainerOptions Options(bool track, bool flip = false) => new()
    {
        Epochs = 2,
        BatchSize = 32,
        Optimizer = new OptimizationOptions { LearningRate = 0.01 },
        Seed = 11,
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        EvaluateEveryEpoch = true,
        TrackFidelity = track,
        FlipTestTimeAugmentation = flip,
        TeacherOutputs = new TeacherOutputOptions { Cache = false, Precision = TeacherPrecision.Float32 },
    };

    /// <summary>A teacher trained a little on Quadrants, so that it is right on some images and wrong on others.</summary>
    private static TinyNet TrainedTeacher(ImageDataset train)
    {
        manual_seed(5);
        var teacher = new TinyNet(8);
        new Trainer<TinyNet, TinyNet>(teacher, new TinyNet(4), Options(track: false)).TrainTeacher(train);
        return teacher;
    }

    /// <summary>Agreement, mean KL(teacher ‖ student) and the teacher's accuracy by hand, in double precision, over the whole set at once.</summary>
    private static (double Agreement, double Divergence, double TeacherAccuracy) ByHand(nn.Module<Tensor, Tensor> teacher, nn.Module<Tensor, Tensor> student, ImageDataset data, bool flip)
    {
        teacher.eval();
        student.eval();
        using var noGrad = no_grad();
        using var plan = data.PlanBatches(data.Count);
        var batch = plan.GetBatch(0, CPU);
        Tensor Logits(nn.Module<Tensor, Tensor> model) =>
            (flip ? model.call(batch.Images).add(model.call(batch.Images.flip(3))).div(2) : model.call(batch.Images)).to(ScalarType.Float64);
        var t = Logits(teacher);
        var s = Logits(student);
        var agreement = t.argmax(1).eq(s.argmax(1)).sum().item<long>() / (double)data.Count;
        var pt = t.softmax(1);
        var divergence = pt.mul(t.log_softmax(1).sub(s.log_softmax(1))).sum(1).mean().item<double>();
        var teacherAccuracy = t.argmax(1).eq(batch.Labels).sum().item<long>() / (double)data.Count;
        return (agreement, divergence, teacherAccuracy);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_last_epoch_reports_the_fidelity_computed_by_hand_from_the_final_models(bool flip)
    {
        using var train = Quadrants.Create(256, seed: 1);
        using var test = Quadrants.Create(96, seed: 2);
        using var teacher = TrainedTeacher(train);
        manual_seed(7);
        var trainer = new Trainer<TinyNet, TinyNet>(teacher, new TinyNet(4), Options(track: true, flip));

        var result = trainer.Distill(train, test, new KLDivergenceLoss(4));

        var last = result.History[^1];
        var expected = ByHand(teacher, trainer.Student, test, flip);
        last.Agreement.Should().BeApproximately(expected.Agreement, 1e-12);
        last.TeacherKLDivergence.Should().BeApproximately(expected.Divergence, 1e-4);
        last.TeacherKLDivergence.Should().BePositive("a student of another width does not copy the teacher exactly");
        last.TeacherAccuracy.Should().BeApproximately(expected.TeacherAccuracy, 1e-12);
        result.History.Should().OnlyContain(e => e.Agreement != null && e.TeacherAccuracy == last.TeacherAccuracy, "every epoch was evaluated; the teacher is frozen");
    }

    [Fact]
    public void The_teachers_accuracy_is_its_own_evaluation_and_a_student_that_is_the_teacher_agrees_everywhere()
    {
        using var train = Quadrants.Create(256, seed: 1);
        using var test = Quadrants.Create(96, seed: 2);
        using var teacher = TrainedTeacher(train);
        using var copy = new TinyNet(8);
        copy.load_state_dict(teacher.state_dict());
        var trainer = new Trainer<TinyNet, TinyNet>(teacher, copy, Options(track: true));
        var teacherAccuracy = trainer.EvaluateTeacher(test).Accuracy;

        // A rate of zero leaves the copy equal to the teacher through training.
        var options = Options(track: true);
        options.Optimizer = new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 1e-30 };
        var result = trainer.WithStudent(copy, options).Distill(train, test, new KLDivergenceLoss(4));

        result.History.Should().OnlyContain(e => e.Agreement == 1.0 && e.TeacherAccuracy == teacherAccuracy);
        result.History.Should().OnlyContain(e => Math.Abs(e.TeacherKLDivergence!.Value) < 1e-6);
    }

    [Fact]
    public void Tracking_changes_no_training_step_and_without_it_there_is_nothing()
    {
        using var train = Quadrants.Create(256, seed: 1);
        using var test = Quadrants.Create(96, seed: 2);
        using var teacher = TrainedTeacher(train);
        TrainingResult Run(bool track)
        {
            manual_seed(7);
            return new Trainer<TinyNet, TinyNet>(teacher, new TinyNet(4), Options(track)).Distill(train, test, new KLDivergenceLoss(4));
        }

        var tracked = Run(track: true);
        var plain = Run(track: false);

        tracked.History.Select(e => (e.MeanLoss, e.Accuracy)).Should().Equal(plain.History.Select(e => (e.MeanLoss, e.Accuracy)));
        plain.History.Should().OnlyContain(e => e.Agreement == null && e.TeacherKLDivergence == null && e.TeacherAccuracy == null);
    }

    [Fact]
    public void Runs_without_a_teacher_or_without_evaluation_report_no_fidelity()
    {
        using var train = Quadrants.Create(128, seed: 1);
        using var test = Quadrants.Create(64, seed: 2);
        var trainer = new Trainer<TinyNet, TinyNet>(new TinyNet(8), new TinyNet(4), Options(track: true));

        trainer.TrainStudent(train, test).History.Should().OnlyContain(e => e.Agreement == null);
        trainer.TrainTeacher(train, test).History.Should().OnlyContain(e => e.Agreement == null);
        trainer.Distill(train, null, new KLDivergenceLoss(4)).History.Should().OnlyContain(e => e.Agreement == null);
    }

    [Fact]
    public void Logits_precomputed_for_the_training_set_refuse_fidelity_before_any_weight_changes()
    {
        using var train = Quadrants.Create(128, seed: 1);
        using var test = Quadrants.Create(64, seed: 2);
        using var teacher = TrainedTeacher(train);
        var path = Path.Combine(folder, "logits.safetensors");
        using (no_grad())
        using (var plan = train.PlanBatches(train.Count))
        {
            teacher.eval();
            Safetensors.Write(path, [new("logits", teacher.call(plan.GetBatch(0, CPU).Images))]);
        }

        using var student = new TinyNet(4);
        var before = student.parameters().Select(p => p.clone()).ToArray();
        var trainer = new Trainer<ITeacher, TinyNet>(Teacher.FromLogitsFile(path), student, Options(track: true));

        trainer.Invoking(t => t.Distill(train, test, new KLDivergenceLoss(4))).Should().Throw<NotSupportedException>().WithMessage("TrainerOptions.TrackFidelity needs*cannot run on images*");
        student.parameters().Zip(before).Should().OnlyContain(pair => pair.First.eq(pair.Second).all().item<bool>());
    }

    [Fact]
    public void The_history_csv_has_the_three_columns_only_when_an_epoch_measured_them()
    {
        using var train = Quadrants.Create(128, seed: 1);
        using var test = Quadrants.Create(64, seed: 2);
        using var teacher = TrainedTeacher(train);
        manual_seed(7);
        var trainer = new Trainer<TinyNet, TinyNet>(teacher, new TinyNet(4), Options(track: true));
        var student = trainer.TrainStudent(train, test);
        var distilled = trainer.Distill(train, test, new KLDivergenceLoss(4));

        using var withFidelity = new StringWriter(CultureInfo.InvariantCulture);
        TrainingResult.WriteHistoryCsv(withFidelity, [("student", student), ("distilled", distilled)]);
        var lines = withFidelity.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        lines[0].Should().EndWith(",seconds,agreement,teacher_kl,teacher_accuracy");
        lines[1].Should().StartWith("student,").And.EndWith(",,,", "the student alone has no teacher to agree with");
        var last = distilled.History[^1];
        lines[^1].Split(',')[^3..].Select(v => double.Parse(v, CultureInfo.InvariantCulture))
            .Should().Equal(last.Agreement!.Value, last.TeacherKLDivergence!.Value, last.TeacherAccuracy!.Value);

        using var without = new StringWriter(CultureInfo.InvariantCulture);
        TrainingResult.WriteHistoryCsv(without, [("student", student)]);
        without.ToString().Should().NotContain("agreement");
    }

    [Fact]
    public void A_resumed_run_keeps_the_fidelity_of_the_epochs_before_it()
    {
        using var train = Quadrants.Create(128, seed: 1);
        using var test = Quadrants.Create(64, seed: 2);
        using var teacher = TrainedTeacher(train);
        TrainerOptions WithCheckpoints(int epochs, bool resume)
        {
            var options = Options(track: true);
            options.Epochs = epochs;
            options.Checkpoints = new CheckpointOptions { Directory = Path.Combine(folder, "checkpoints"), Resume = resume };
            return options;
        }

        manual_seed(7);
        using var student = new TinyNet(4);
        var whole = new Trainer<TinyNet, TinyNet>(teacher, student, WithCheckpoints(2, resume: false)).Distill(train, test, new KLDivergenceLoss(4));
        using var again = new TinyNet(4);
        var resumed = new Trainer<TinyNet, TinyNet>(teacher, again, WithCheckpoints(2, resume: true)).Distill(train, test, new KLDivergenceLoss(4));

        resumed.History.Select(e => (e.Agreement, e.TeacherKLDivergence, e.TeacherAccuracy))
            .Should().Equal(whole.History.Select(e => (e.Agreement, e.TeacherKLDivergence, e.TeacherAccuracy)));
        resumed.History.Should().OnlyContain(e => e.Agreement != null);
    }
}
