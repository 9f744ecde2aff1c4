using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Serialization;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Tests.Training.Teachers;

public sealed class PrecomputedTeacherTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();
    private readonly TempFolder folder = new();

    public void Dispose()
    {
        set_num_threads(threadsBefore);
        folder.Dispose();
    }

    private static TrainerOptions Options(bool augment = false) => new()
    {
        Epochs = 2,
        BatchSize = 32,
        Optimizer = new OptimizationOptions { LearningRate = 0.01 },
        Seed = 7,
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        Augmentation = augment ? new AugmentationOptions { Padding = 1 } : null,
    };

    private static TinyNet Teacher()
    {
        manual_seed(100);
        return new TinyNet(16);
    }

    /// <summary>The teacher's logits of every image in the dataset's stored order, batched as the trainer's cache batches them.</summary>
    private string WriteLogits(nn.Module<Tensor, Tensor> teacher, ImageDataset train, string name = "logits.safetensors", Func<Tensor, Tensor>? change = null)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        teacher.eval();
        using var plan = train.PlanBatches(new TrainerOptions().EvaluationBatchSize);
        var logits = cat(Enumerable.Range(0, plan.BatchCount).Select(step => teacher.call(plan.GetBatch(step).Images)).ToArray(), 0);
        var path = Path.Combine(folder.Path, name);
        Safetensors.Write(path, [new("logits", change?.Invoke(logits) ?? logits)]);
        return path;
    }

    private static float[] Weights(nn.Module module) => module.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();

    [Fact]
    public void Distilling_from_precomputed_logits_gives_the_losses_and_weights_of_the_model_that_produced_them()
    {
        using var train = Quadrants.Create(150, seed: 1);
        using var teacher = Teacher();
        manual_seed(3);
        var live = new Trainer<TinyNet, TinyNet>(teacher, new TinyNet(4), Options());
        var expected = live.Distill(train, loss: new KLDivergenceLoss(4));

        using var precomputed = new PrecomputedTeacher(WriteLogits(teacher, train));
        manual_seed(3);
        var fromFile = new Trainer<PrecomputedTeacher, TinyNet>(precomputed, new TinyNet(4), Options());
        var result = fromFile.Distill(train, loss: new KLDivergenceLoss(4));

        precomputed.Images.Should().Be(150);
        precomputed.Classes.Should().Be(4);
        result.TeacherOutputsCached.Should().BeTrue();
        result.History.Select(r => r.MeanLoss).Should().Equal(expected.History.Select(r => r.MeanLoss));
        Weights(fromFile.Student).Should().Equal(Weights(live.Student));
    }

    [Fact]
    public void Rows_are_matched_to_images_by_index()
    {
        using var train = Quadrants.Create(150, seed: 1);
        using var teacher = Teacher();
        using var inOrder = new PrecomputedTeacher(WriteLogits(teacher, train));
        using var reversed = new PrecomputedTeacher(WriteLogits(teacher, train, "reversed.safetensors", l => l.flip(0)));

        manual_seed(3);
        var a = new Trainer<PrecomputedTeacher, TinyNet>(inOrder, new TinyNet(4), Options()).Distill(train, loss: new KLDivergenceLoss(4));
        manual_seed(3);
        var b = new Trainer<PrecomputedTeacher, TinyNet>(reversed, new TinyNet(4), Options()).Distill(train, loss: new KLDivergenceLoss(4));

        b.History[0].MeanLoss.Should().NotBe(a.History[0].MeanLoss, "row i is image i's logits");
    }

    [Fact]
    public void A_row_count_that_differs_from_the_training_set_is_refused_before_training_naming_both_counts_and_the_file()
    {
        using var train = Quadrants.Create(150, seed: 1);
        using var teacher = Teacher();
        using var smaller = Quadrants.Create(100, seed: 2);
        using var precomputed = new PrecomputedTeacher(WriteLogits(teacher, smaller));
        manual_seed(3);
        var trainer = new Trainer<PrecomputedTeacher, TinyNet>(precomputed, new TinyNet(4), Options());
        var before = Weights(trainer.Student);

        var act = () => trainer.Distill(train, loss: new KLDivergenceLoss(4));

        act.Should().Throw<ArgumentException>().WithMessage($"*{precomputed.Path}*100 rows*150 images*");
        Weights(trainer.Student).Should().Equal(before);
    }

    [Fact]
    public void Augmentation_is_refused_before_training()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var teacher = Teacher();
        using var precomputed = new PrecomputedTeacher(WriteLogits(teacher, train));
        var trainer = new Trainer<PrecomputedTeacher, TinyNet>(precomputed, new TinyNet(4), Options(augment: true));
        var before = Weights(trainer.Student);

        var act = () => trainer.Distill(train, loss: new KLDivergenceLoss(4));

        act.Should().Throw<InvalidOperationException>().WithMessage("*un-augmented*Augmentation*");
        Weights(trainer.Student).Should().Equal(before);
    }

    [Fact]
    public void A_feature_term_is_refused_before_training_naming_the_loss()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var teacher = Teacher();
        using var precomputed = new PrecomputedTeacher(WriteLogits(teacher, train));
        var trainer = new Trainer<PrecomputedTeacher, TinyNet>(precomputed, new TinyNet(4), Options());
        var before = Weights(trainer.Student);
        using var loss = new DistillationObjective((new KLDivergenceLoss(4), 1.0), (new CosineFeatureLoss("layers.3", "layers.3"), 0.5));

        var act = () => trainer.Distill(train, loss: loss);

        act.Should().Throw<ArgumentException>().WithMessage($"The {loss.Description} loss reads the teacher's features (layers.3)*logits only*");
        Weights(trainer.Student).Should().Equal(before);
    }

    [Fact]
    public void Logits_of_another_class_count_than_the_training_set_are_refused_before_training()
    {
        // Found where the file enters the run, not as a shape error at the first step (or, as it was, after the student baseline).
        using var train = Quadrants.Create(64, seed: 1);
        manual_seed(100);
        using var teacher = new TinyNet(16, classes: 5);
        using var precomputed = new PrecomputedTeacher(WriteLogits(teacher, train));
        var trainer = new Trainer<PrecomputedTeacher, TinyNet>(precomputed, new TinyNet(4), Options());
        var before = Weights(trainer.Student);

        var act = () => trainer.Distill(train, loss: new KLDivergenceLoss(4));

        act.Should().Throw<ArgumentException>().WithMessage($"*{precomputed.Path}*5 logits per row*4 classes*");
        Weights(trainer.Student).Should().Equal(before);
    }

    [Fact]
    public void Logits_that_are_not_finite_are_refused_when_the_file_is_read_naming_the_first_row()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var teacher = Teacher();
        var path = WriteLogits(teacher, train, "nan.safetensors", l => l.index_put_(tensor(float.NaN), tensor(37L), tensor(1L)));

        var act = () => new PrecomputedTeacher(path);

        act.Should().Throw<InvalidDataException>().WithMessage($"*{path}*not finite*1 rows, the first row 37*");
    }

    [Fact]
    public void It_cannot_run_on_images_or_be_trained()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var teacher = Teacher();
        using var precomputed = new PrecomputedTeacher(WriteLogits(teacher, train));
        var trainer = new Trainer<PrecomputedTeacher, TinyNet>(precomputed, new TinyNet(4), Options());

        trainer.Invoking(t => t.EvaluateTeacher(train)).Should().Throw<NotSupportedException>().WithMessage($"*{precomputed.Path}*cannot run on images*");
        trainer.Invoking(t => t.TrainTeacher(train)).Should().Throw<InvalidOperationException>().WithMessage("*cannot be trained*");
    }

    [Fact]
    public void Different_files_have_different_fingerprints_and_equal_files_the_same()
    {
        using var train = Quadrants.Create(64, seed: 1);
        using var teacher = Teacher();
        var path = WriteLogits(teacher, train);
        var copy = Path.Combine(folder.Path, "copy.safetensors");
        File.Copy(path, copy);
        using var first = new PrecomputedTeacher(path);
        using var same = new PrecomputedTeacher(copy);
        using var other = new PrecomputedTeacher(WriteLogits(teacher, train, "other.safetensors", l => l.mul(2)));

        same.Fingerprint.Should().Be(first.Fingerprint);
        other.Fingerprint.Should().NotBe(first.Fingerprint, "checkpoints and caches must tell the teachers apart");
    }

    [Fact]
    public void A_file_that_is_not_one_2D_float_tensor_is_refused_naming_the_file()
    {
        var twoTensors = Path.Combine(folder.Path, "two.safetensors");
        var oneDimensional = Path.Combine(folder.Path, "flat.safetensors");
        var integers = Path.Combine(folder.Path, "int.safetensors");
        using (var scope = NewDisposeScope())
        {
            Safetensors.Write(twoTensors, [new("a", zeros(4, 3)), new("b", zeros(4, 3))]);
            Safetensors.Write(oneDimensional, [new("a", zeros(12))]);
            Safetensors.Write(integers, [new("a", zeros(new long[] { 4, 3 }, dtype: ScalarType.Int64))]);
        }

        foreach (var file in new[] { twoTensors, oneDimensional, integers })
        {
            var act = () => new PrecomputedTeacher(file);
            act.Should().Throw<InvalidDataException>().WithMessage($"*{file}*", file);
        }
    }

    // ----- files of crop-and-flip views, [images, views, classes] -----

    private static TrainerOptions ViewOptions(AugmentationOptions? augmentation, string? viewCache = null) => new()
    {
        Epochs = 2,
        BatchSize = 32,
        EvaluationBatchSize = 40,
        Optimizer = new OptimizationOptions { LearningRate = 0.01 },
        Seed = 7,
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        Augmentation = augmentation,
        TeacherOutputs = new TeacherOutputOptions { Precision = TeacherPrecision.Float32, ViewCacheDirectory = viewCache },
    };

    /// <summary>The view cache's file of <paramref name="teacher"/>'s views of <paramref name="train"/>, built by a one-epoch run, and that run's losses.</summary>
    private (string File, TrainingResult Result) ViewFile(TinyNet teacher, ImageDataset train, AugmentationOptions augmentation)
    {
        var directory = Path.Combine(folder.Path, "views");
        manual_seed(3);
        var result = new Trainer<TinyNet, TinyNet>(teacher, new TinyNet(4), ViewOptions(augmentation, directory)).Distill(train, loss: new KLDivergenceLoss(4));
        return (Directory.GetFiles(directory).Single(), result);
    }

    [Fact]
    public void A_file_of_views_serves_an_augmented_run_exactly_as_the_view_cache_does()
    {
        using var train = Quadrants.Create(96, seed: 1);
        using var teacher = Teacher();
        var (file, cached) = ViewFile(teacher, train, new AugmentationOptions { Padding = 1 });

        using var precomputed = new PrecomputedTeacher(file);
        manual_seed(3);
        var result = new Trainer<PrecomputedTeacher, TinyNet>(precomputed, new TinyNet(4), ViewOptions(new AugmentationOptions { Padding = 1 })).Distill(train, loss: new KLDivergenceLoss(4));

        precomputed.Views.Should().Be(18);
        precomputed.Images.Should().Be(96);
        precomputed.Classes.Should().Be(4);
        result.TeacherOutputsCached.Should().BeTrue();
        result.History.Select(r => r.MeanLoss).Should().Equal(cached.History.Select(r => r.MeanLoss));
    }

    [Fact]
    public void A_file_of_views_is_refused_for_other_padding_mixing_or_images_naming_what_differs()
    {
        using var train = Quadrants.Create(96, seed: 1);
        using var otherImages = Quadrants.Create(96, seed: 2);
        using var teacher = Teacher();
        var (file, _) = ViewFile(teacher, train, new AugmentationOptions { Padding = 1 });
        using var precomputed = new PrecomputedTeacher(file);

        void Refused(AugmentationOptions augmentation, ImageDataset data, string message)
        {
            var trainer = new Trainer<PrecomputedTeacher, TinyNet>(precomputed, new TinyNet(4), ViewOptions(augmentation));
            var before = Weights(trainer.Student);
            trainer.Invoking(t => t.Distill(data, loss: new KLDivergenceLoss(4))).Should().Throw<InvalidOperationException>().WithMessage(message);
            Weights(trainer.Student).Should().Equal(before);
        }

        Refused(new AugmentationOptions { Padding = 2 }, train, $"The teacher logits file {precomputed.Path} holds 18 crop-and-flip views per image, but this run's augmentation (pad-and-crop 2, flip) makes 50.");
        Refused(new AugmentationOptions { Padding = 1, MixupAlpha = 0.2 }, train, "*18 crop-and-flip views*mixup and CutMix*MixupAlpha*");
        Refused(new AugmentationOptions { Padding = 1, PadWithBlack = true }, train, "*views of 'pad-and-crop 1, flip'*'pad-and-crop 1 black, flip'*");
        Refused(new AugmentationOptions { Padding = 1 }, otherImages, "*computed for other training images*");
    }

    [Fact]
    public void A_file_of_views_written_elsewhere_serves_by_its_shape_and_without_augmentation_gives_the_centred_view()
    {
        using var train = Quadrants.Create(96, seed: 1);
        using var teacher = Teacher();
        var (file, _) = ViewFile(teacher, train, new AugmentationOptions { Padding = 1 });
        var bare = Path.Combine(folder.Path, "bare.safetensors");
        var centre = Path.Combine(folder.Path, "centre.safetensors");
        using (var content = Safetensors.Read(file))
        using (NewDisposeScope())
        {
            var views = content.Tensors.Values.Single();
            Safetensors.Write(bare, [new("v", views)]);
            Safetensors.Write(centre, [new("c", views.select(1, 1 * 3 * 2 + 1 * 2 + 0))]);
        }

        using var fromViews = new PrecomputedTeacher(bare);
        using var fromCentre = new PrecomputedTeacher(centre);
        manual_seed(3);
        var a = new Trainer<PrecomputedTeacher, TinyNet>(fromViews, new TinyNet(4), ViewOptions(null)).Distill(train, loss: new KLDivergenceLoss(4));
        manual_seed(3);
        var b = new Trainer<PrecomputedTeacher, TinyNet>(fromCentre, new TinyNet(4), ViewOptions(null)).Distill(train, loss: new KLDivergenceLoss(4));
        manual_seed(3);
        var augmented = new Trainer<PrecomputedTeacher, TinyNet>(fromViews, new TinyNet(4), ViewOptions(new AugmentationOptions { Padding = 1 })).Distill(train, loss: new KLDivergenceLoss(4));

        a.History.Select(r => r.MeanLoss).Should().Equal(b.History.Select(r => r.MeanLoss));
        augmented.History.Select(r => r.MeanLoss).Should().NotEqual(a.History.Select(r => r.MeanLoss));
    }

    [Fact]
    public void A_view_count_that_is_no_crop_and_flip_layout_is_refused_when_the_file_is_read()
    {
        var path = Path.Combine(folder.Path, "seven.safetensors");
        using (NewDisposeScope())
        {
            Safetensors.Write(path, [new("v", zeros(4, 7, 3))]);
        }

        var act = () => new PrecomputedTeacher(path);

        act.Should().Throw<InvalidDataException>().WithMessage($"*{path}*7 views per image*(2P + 1)²*");
    }
}
