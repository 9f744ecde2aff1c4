using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Models;
using Distillation.Serialization;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Onnx.Runtime.Tests;

public sealed class OnnxTeacherTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();
    private readonly string folder = Directory.CreateTempSubdirectory("distillation-onnx-teacher-").FullName;

    public void Dispose()
    {
        set_num_threads(threadsBefore);
        Directory.Delete(folder, recursive: true);
    }

    /// <summary>CIFAR-sized random images with random labels: enough to compare losses, no download needed.</summary>
    private static ImageDataset RandomImages(int count, long seed)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)seed);
        var images = randint(0, 256, [count, 3, 32, 32], generator: generator, dtype: ScalarType.Byte);
        var labels = randint(0, 10, [count], generator: generator, dtype: ScalarType.Int64);
        return new ImageDataset(images, labels, Enumerable.Range(0, 10).Select(i => $"c{i}").ToArray(), ImageNormalization.Cifar10);
    }

    private static TrainerOptions Options(bool cache = true, string? cacheDirectory = null) => new()
    {
        Epochs = 2,
        BatchSize = 64,
        Seed = 11,
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        // Float32: the ONNX teacher runs in float32, and Auto may run the TorchSharp one in bfloat16.
        TeacherOutputs = new TeacherOutputOptions { Cache = cache, Directory = cacheDirectory, Precision = TeacherPrecision.Float32 },
    };

    private static TeacherNet Teacher(int seed)
    {
        manual_seed(seed);
        return new TeacherNet();
    }

    private string Export(nn.Module module, string name)
    {
        var path = Path.Combine(folder, name);
        OnnxExporter.Export(module, path);
        return path;
    }

    private static TrainingResult Distill<TTeacher>(TTeacher teacher, ImageDataset train, TrainerOptions options)
        where TTeacher : class
    {
        manual_seed(5);
        var trainer = new Trainer<TTeacher, StudentNet>(teacher, new StudentNet(), options);
        using var loss = DistillationObjective.Notebook();
        return trainer.Distill(train, loss: loss);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Distilling_from_the_exported_teacher_gives_the_losses_of_the_TorchSharp_teacher(bool cache)
    {
        using var train = RandomImages(256, seed: 1);
        using var torchTeacher = Teacher(42);
        using var onnxTeacher = new OnnxTeacher(Export(torchTeacher, "teacher.onnx"), threads: 1);

        var expected = Distill(torchTeacher, train, Options(cache));
        var actual = Distill(onnxTeacher, train, Options(cache));

        actual.TeacherOutputsCached.Should().Be(cache);
        actual.History.Should().HaveCount(2);
        foreach (var (onnx, torch) in actual.History.Zip(expected.History))
        {
            onnx.MeanLoss.Should().BeApproximately(torch.MeanLoss, 1e-4 * Math.Abs(torch.MeanLoss), $"epoch {torch.Epoch}");
            foreach (var (part, value) in torch.LossParts)
            {
                onnx.LossParts[part].Should().BeApproximately(value, 1e-4 * Math.Abs(value) + 1e-7, $"{part} in epoch {torch.Epoch}");
            }
        }
    }

    [Fact]
    public void The_logits_come_back_on_the_input_device_in_float32_for_any_batch_size()
    {
        using var teacher = Teacher(42);
        using var onnxTeacher = new OnnxTeacher(Export(teacher, "teacher.onnx"), threads: 1);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        teacher.eval();
        foreach (var batch in new[] { 1, 7 })
        {
            var images = randn(batch, 3, 32, 32, dtype: ScalarType.Float64);
            var logits = onnxTeacher.Forward(new TeacherBatch(images, arange(batch))).Logits;
            logits.dtype.Should().Be(ScalarType.Float32);
            logits.shape.Should().Equal(batch, 10);
            logits.device_type.Should().Be(images.device_type);
            (logits - teacher.call(images.to(ScalarType.Float32))).abs().max().item<float>().Should().BeLessThan(1e-4f);
        }
    }

    [Fact]
    public void Two_different_models_never_share_a_cache_file_or_a_checkpoint_identity()
    {
        using var train = RandomImages(16, seed: 1);
        using var first = Teacher(1);
        using var second = Teacher(2);
        var firstPath = Export(first, "first.onnx");
        var copyPath = Path.Combine(folder, "copy.onnx");
        File.Copy(firstPath, copyPath);
        using var a = new OnnxTeacher(firstPath);
        using var sameFile = new OnnxTeacher(copyPath);
        using var b = new OnnxTeacher(Export(second, "second.onnx"));

        sameFile.Fingerprint.Should().Be(a.Fingerprint, "the fingerprint is the file's content, not its path");
        b.Fingerprint.Should().NotBe(a.Fingerprint);
        a.Fingerprint.Should().NotBe(ModuleFingerprint.Of(first));
        TeacherOutputCache.FileFor(folder, b.Fingerprint, train, []).Should().NotBe(TeacherOutputCache.FileFor(folder, a.Fingerprint, train, []));
        TeacherOutputCache.FileFor(folder, sameFile.Fingerprint, train, []).Should().Be(TeacherOutputCache.FileFor(folder, a.Fingerprint, train, []));
    }

    [Fact]
    public void A_saved_cache_is_reused_for_the_same_model_only()
    {
        using var train = RandomImages(32, seed: 1);
        var cacheFolder = Path.Combine(folder, "cache");
        using var first = Teacher(1);
        using var second = Teacher(2);
        using var a = new OnnxTeacher(Export(first, "first.onnx"), threads: 1);
        using var b = new OnnxTeacher(Export(second, "second.onnx"), threads: 1);

        var fromA = Distill(a, train, Options(cacheDirectory: cacheFolder));
        var fromB = Distill(b, train, Options(cacheDirectory: cacheFolder));
        var fromAAgain = Distill(a, train, Options(cacheDirectory: cacheFolder));

        Directory.GetFiles(cacheFolder, "teacher-outputs-*.bin").Should().HaveCount(2);
        fromB.History[0].MeanLoss.Should().NotBe(fromA.History[0].MeanLoss, "B's logits are its own, not A's cached ones");
        fromAAgain.History.Select(r => r.MeanLoss).Should().Equal(fromA.History.Select(r => r.MeanLoss));
    }

    [Fact]
    public void A_feature_term_is_refused_before_training_naming_the_loss()
    {
        using var train = RandomImages(16, seed: 1);
        using var teacher = Teacher(1);
        using var onnxTeacher = new OnnxTeacher(Export(teacher, "teacher.onnx"));
        manual_seed(5);
        var trainer = new Trainer<OnnxTeacher, StudentNet>(onnxTeacher, new StudentNet(), Options());
        var before = trainer.Student.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();
        using var loss = new DistillationObjective((new KLDivergenceLoss(4), 1.0), (new CosineFeatureLoss("features", "features"), 1.0));

        var act = () => trainer.Distill(train, loss: loss);

        act.Should().Throw<ArgumentException>().WithMessage($"The {loss.Description} loss reads the teacher's features (features), but the teacher OnnxTeacher supplies logits only*");
        trainer.Student.parameters().SelectMany(p => p.data<float>().ToArray()).Should().Equal(before);
    }

    [Fact]
    public void Bad_models_outputs_and_shapes_are_refused_naming_the_file()
    {
        using var teacher = Teacher(1);
        var path = Export(teacher, "teacher.onnx");
        var garbage = Path.Combine(folder, "garbage.onnx");
        File.WriteAllText(garbage, "not a model");

        FluentActions.Invoking(() => new OnnxTeacher(Path.Combine(folder, "missing.onnx"))).Should().Throw<FileNotFoundException>().WithMessage("*missing.onnx*");
        FluentActions.Invoking(() => new OnnxTeacher(garbage)).Should().Throw<InvalidDataException>().WithMessage($"*{garbage}*");
        FluentActions.Invoking(() => new OnnxTeacher(path, outputName: "probabilities")).Should().Throw<ArgumentException>().WithMessage("*no output 'probabilities'*logits*");

        using var onnxTeacher = new OnnxTeacher(path, threads: 1);
        onnxTeacher.InputName.Should().Be("input");
        onnxTeacher.OutputName.Should().Be("logits");
        using var scope = NewDisposeScope();
        onnxTeacher.Invoking(t => t.Forward(new TeacherBatch(zeros(2, 3, 28, 28), arange(2)))).Should().Throw<ArgumentException>().WithMessage($"*{onnxTeacher.ModelPath}*[?, 3, 32, 32]*[2, 3, 28, 28]*");
    }
}
