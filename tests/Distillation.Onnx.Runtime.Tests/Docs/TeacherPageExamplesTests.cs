using Distillation.Data;
using Distillation.Losses;
using Distillation.Models;
using Distillation.Serialization;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Onnx.Runtime.Tests.Docs;

/// <summary>Runs the examples of docs/teachers.md on a few synthetic images.</summary>
public sealed class TeacherPageExamplesTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();
    private readonly string folder = Directory.CreateTempSubdirectory("teacher-page-").FullName;

    public TeacherPageExamplesTests() => set_num_threads(1);

    public void Dispose()
    {
        set_num_threads(threadsBefore);
        Directory.Delete(folder, recursive: true);
    }

    private static TeacherNet TeacherOf(long seed)
    {
        manual_seed(seed);
        return new TeacherNet(3);
    }

    private static StudentNet StudentOf(long seed)
    {
        manual_seed(seed);
        return new StudentNet(3);
    }

    [Fact]
    public void The_composed_teacher_is_cached_and_gives_its_float32_weights_back()
    {
        using var train = ColourSquares(64, seed: 1);
        using var test = ColourSquares(32, seed: 2);
        using var teacherNet = TeacherOf(1);
        using var student = StudentOf(2);

        var run = TeacherPageExamples.ComposedTeacher(teacherNet, student, train, test);

        run.EpochsTrained.Should().Be(2);
        run.TeacherOutputsCached.Should().BeTrue();
        teacherNet.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float32);
    }

    [Fact]
    public void The_onnx_teacher_evaluates_like_the_module_it_was_exported_from()
    {
        using var train = ColourSquares(64, seed: 1);
        using var test = ColourSquares(32, seed: 2);
        using var teacherNet = TeacherOf(1);
        var onnxPath = Path.Combine(folder, "teacher.onnx");
        OnnxExporter.Export(teacherNet, onnxPath);
        using var student = StudentOf(2);

        var (run, teacherAccuracy) = TeacherPageExamples.OnnxModel(onnxPath, student, train, test);

        run.EpochsTrained.Should().Be(2);
        var live = new Trainer<TeacherNet, StudentNet>(teacherNet, StudentOf(3)).EvaluateTeacher(test).Accuracy;
        teacherAccuracy.Should().Be(live);
    }

    [Fact]
    public void Distilling_from_the_teachers_logits_file_gives_the_losses_of_the_live_teacher()
    {
        using var train = ColourSquares(64, seed: 1);
        using var test = ColourSquares(32, seed: 2);
        using var teacherNet = TeacherOf(1);
        var logitsPath = Path.Combine(folder, "teacher-logits.safetensors");
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            teacherNet.eval();
            using var plan = train.PlanBatches(train.Count);   // stored order, unshuffled
            Safetensors.Write(logitsPath, new Dictionary<string, Tensor> { ["logits"] = teacherNet.call(plan.GetBatch(0).Images).contiguous() });
        }

        using var fromFile = StudentOf(2);
        var fileRun = TeacherPageExamples.LogitsFile(logitsPath, fromFile, train, test);
        using var fromModule = StudentOf(2);
        var liveRun = new Trainer<TeacherNet, StudentNet>(teacherNet, fromModule, new TrainerOptions { Epochs = 2 }).Distill(train, test);

        fileRun.History.Select(e => e.MeanLoss).Should().Equal(liveRun.History.Select(e => e.MeanLoss), (a, b) => Math.Abs(a - b) <= 1e-5 * Math.Abs(b));
    }

    [Fact]
    public void The_ensemble_of_modules_and_an_onnx_model_distills()
    {
        using var train = ColourSquares(64, seed: 1);
        using var test = ColourSquares(32, seed: 2);
        using var first = TeacherOf(1);
        using var second = TeacherOf(2);
        using var third = TeacherOf(3);
        var onnxPath = Path.Combine(folder, "third.onnx");
        OnnxExporter.Export(third, onnxPath);
        using var student = StudentOf(4);

        var run = TeacherPageExamples.Ensemble(first, second, onnxPath, student, train, test);

        run.EpochsTrained.Should().Be(2);
        run.History.Should().OnlyContain(e => double.IsFinite(e.MeanLoss));
        second.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float32);
    }

    [Fact]
    public void The_calibrated_teacher_divides_the_logits_and_refuses_features_before_any_work()
    {
        using var train = ColourSquares(64, seed: 1);
        using var test = ColourSquares(32, seed: 2);
        using var teacherNet = TeacherOf(1);

        using (var scope = NewDisposeScope())
        using (var calibrated = new CalibratedTeacher(Teacher.From(teacherNet), temperature: 1.5))
        using (calibrated.Prepare(new TeacherRequest(train, CPU)))
        {
            using var plan = train.PlanBatches(8);
            var batch = new TeacherBatch(plan.GetBatch(0).Images, plan.GetIndices(0));
            using var noGrad = no_grad();
            var expected = teacherNet.call(batch.Images) / 1.5;
            calibrated.Forward(batch).Logits.allclose(expected, rtol: 1e-6, atol: 1e-6).Should().BeTrue();
            calibrated.Fingerprint.Should().NotBe(Teacher.From(teacherNet).Fingerprint);
        }

        using (var calibrated = Teacher.From(teacherNet).Use(inner => new CalibratedTeacher(inner, 1.5)))
        {
            var features = new CosineFeatureLoss();
            var trainer = new Trainer<ITeacher, StudentNet>(calibrated, StudentOf(2));
            var check = () => trainer.Check(train, features);
            check.Should().Throw<ArgumentException>().WithMessage("*calibrates logits only*");
        }

        using var student = StudentOf(2);
        TeacherPageExamples.Calibrated(teacherNet, student, train, test).EpochsTrained.Should().Be(2);
    }

    // Class c is an image whose channel c is bright, with noise on all three channels.
    private static ImageDataset ColourSquares(int count, long seed)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator((ulong)seed);
        var labels = randint(0, 3, [count], dtype: ScalarType.Int64, generator: generator);
        var noise = randint(0, 96, [count, 3, 32, 32], dtype: ScalarType.Int64, generator: generator);
        var bright = nn.functional.one_hot(labels, 3).to(ScalarType.Int64).view(count, 3, 1, 1) * 150;
        var images = (noise + bright).to(ScalarType.Byte);
        return new ImageDataset(images.DetachFromDisposeScope(), labels.DetachFromDisposeScope(), ["red", "green", "blue"]);
    }
}
