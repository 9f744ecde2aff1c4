using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Tests.TestSupport;
using Distillation.Tests.Training;
using Distillation.Training;
using TorchSharp;
using static TorchSharp.torch;
using OptimizationOptions = Distillation.Training.OptimizationOptions;

namespace Distillation.Tests.Data;

/// <summary>Mixup and CutMix in AugmentationOptions: the draws, the mixed images and labels, the teacher labelling the mix, replay on resume.</summary>
public sealed class BatchMixingTests : IDisposable
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

    /// <summary>Image i is filled with the value i and labelled i, so a mixed pixel says which images made it.</summary>
    private static (Tensor Images, Tensor Labels) Numbered(int count, int size = 8) =>
        (arange(count, ScalarType.Float32).view(count, 1, 1, 1).expand(count, 3, size, size).contiguous(), arange(count, ScalarType.Int64));

    [Fact]
    public void Mixup_blends_each_image_with_its_partner_by_one_lambda_and_names_the_partners_label()
    {
        var (images, labels) = Numbered(16);
        var mixing = new BatchAugmentation(new AugmentationOptions { MixupAlpha = 0.4 });

        var mix = mixing.Mix(images, labels, new Generator(5))!;

        mix.Weight.Should().BeInRange(0, 1);
        mix.PartnerLabels.data<long>().ToArray().Order().Should().Equal(Enumerable.Range(0, 16).Select(i => (long)i), "the partners are a permutation of the batch");
        var expected = labels.to(ScalarType.Float32).mul(mix.Weight).add(mix.PartnerLabels.to(ScalarType.Float32).mul(1 - mix.Weight));
        var pixels = mix.Images.view(16, -1);
        pixels.amax(1).allclose(expected, rtol: 0, atol: 1e-5).Should().BeTrue();
        pixels.amin(1).allclose(expected, rtol: 0, atol: 1e-5).Should().BeTrue("every pixel of an image takes the same λ");
    }

    [Fact]
    public void Cutmix_pastes_one_box_of_the_partner_and_the_weight_is_the_share_of_pixels_kept()
    {
        var (images, labels) = Numbered(16);
        var mixing = new BatchAugmentation(new AugmentationOptions { CutMixAlpha = 1 });

        // Several seeds, so that boxes of several sizes and places (clipped at the border) are checked.
        for (var seed = 0; seed < 8; seed++)
        {
            var mix = mixing.Mix(images, labels, new Generator((ulong)seed))!;
            var partners = mix.PartnerLabels.data<long>().ToArray();
            for (var i = 0; i < 16; i++)
            {
                if (partners[i] == i)
                {
                    continue;
                }

                var image = mix.Images[i];
                var own = image.eq(i).sum().item<long>();
                var pasted = image.eq(partners[i]).sum().item<long>();
                (own + pasted).Should().Be(3 * 8 * 8, "each pixel is either the image's or its partner's");
                ((double)own / (3 * 8 * 8)).Should().BeApproximately(mix.Weight, 1e-12);

                // The pasted pixels form one box, the same in every channel.
                var mask = image[0].eq(partners[i]);
                var rows = mask.any(1).nonzero().view(-1).data<long>().ToArray();
                var columns = mask.any(0).nonzero().view(-1).data<long>().ToArray();
                if (rows.Length > 0)
                {
                    mask.sum().item<long>().Should().Be(rows.Length * columns.Length);
                    rows.Should().Equal(Enumerable.Range((int)rows[0], rows.Length).Select(r => (long)r));
                    image.eq(partners[i]).sum().item<long>().Should().Be(3 * mask.sum().item<long>());
                }
            }
        }
    }

    [Fact]
    public void Lambda_follows_beta_alpha_alpha()
    {
        var (images, labels) = Numbered(4);
        double[] Draws(double alpha)
        {
            var mixing = new BatchAugmentation(new AugmentationOptions { MixupAlpha = alpha });
            var generator = new Generator(1);
            return Enumerable.Range(0, 400).Select(_ => mixing.Mix(images, labels, generator)!.Weight).ToArray();
        }

        var peaked = Draws(100);
        peaked.Should().OnlyContain(w => w > 0.35 && w < 0.65, "Beta(100, 100) has sd 0.035 about 0.5");
        var uShaped = Draws(0.2);
        uShaped.Count(w => w < 0.1 || w > 0.9).Should().BeGreaterThan(200, "Beta(0.2, 0.2) puts most of its mass near 0 and 1");
        uShaped.Average().Should().BeApproximately(0.5, 0.06, "it is symmetric");
    }

    [Fact]
    public void Without_mixing_or_with_one_image_there_is_nothing_to_mix_and_nothing_is_drawn()
    {
        var (images, labels) = Numbered(8);
        var generator = new Generator(3);
        var before = generator.get_state().clone();

        new BatchAugmentation(new AugmentationOptions()).Mix(images, labels, generator).Should().BeNull();
        new BatchAugmentation(new AugmentationOptions { MixupAlpha = 1 }).Mix(images[..1], labels[..1], generator).Should().BeNull();

        generator.get_state().eq(before).all().item<bool>().Should().BeTrue("runs without mixing keep their random streams");
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(101)]
    public void Alphas_out_of_range_are_refused_naming_the_option(double alpha)
    {
        new AugmentationOptions { MixupAlpha = alpha }.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithMessage("MixupAlpha*");
        new AugmentationOptions { CutMixAlpha = alpha }.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithMessage("CutMixAlpha*");
    }

    [Fact]
    public void Cross_entropy_of_a_mixed_batch_is_lambda_of_the_own_label_and_the_rest_of_the_partners()
    {
        manual_seed(2);
        var logits = randn(6, 4);
        var labels = tensor(new long[] { 0, 1, 2, 3, 0, 1 });
        var partners = tensor(new long[] { 3, 3, 0, 1, 2, 2 });
        var context = new DistillationContext(logits, labels) { PartnerLabels = partners, MixWeight = 0.3 };

        var loss = new LabelCrossEntropyLoss().Compute(context).Total.item<float>();

        // The same as cross-entropy against the mixed one-hot target.
        var target = nn.functional.one_hot(labels, 4).to(ScalarType.Float32).mul(0.3).add(nn.functional.one_hot(partners, 4).to(ScalarType.Float32).mul(0.7));
        var expected = logits.log_softmax(1).mul(target).sum(1).neg().mean().item<float>();
        loss.Should().BeApproximately(expected, 1e-5f);
        new LabelCrossEntropyLoss().Compute(new DistillationContext(logits, labels)).Total.item<float>().Should().NotBeApproximately(expected, 1e-3f);
    }

    [Fact]
    public void Dkd_refuses_a_mixed_batch_in_one_line()
    {
        var logits = randn(4, 4);
        var context = new DistillationContext(logits, tensor(new long[] { 0, 1, 2, 3 }), randn(4, 4)) { PartnerLabels = tensor(new long[] { 1, 0, 3, 2 }), MixWeight = 0.5 };

        new DecoupledKDLoss().Invoking(l => l.Compute(context)).Should().Throw<InvalidOperationException>().WithMessage("*two labels*MixupAlpha*");
    }

    // ----- in the trainer -----

    private TrainerOptions Options(int epochs, bool checkpoints = false, bool resume = false, double mixup = 0.4, double cutMix = 1) => new()
    {
        Epochs = epochs,
        BatchSize = 32,
        Seed = 7,
        Optimizer = new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.05, Momentum = 0.9 },
        Augmentation = new AugmentationOptions { Padding = 1, MixupAlpha = mixup, CutMixAlpha = cutMix },
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        TeacherOutputs = new TeacherOutputOptions { Cache = false, Precision = TeacherPrecision.Float32 },
        Checkpoints = checkpoints ? new CheckpointOptions { Directory = folder.Path, Resume = resume } : null,
    };

    /// <summary>Records the images the teacher is given.</summary>
    private sealed class RecordingTeacher(ITeacher inner) : DelegatingTeacher(inner)
    {
        public List<Tensor> Images { get; } = [];

        public override TeacherOutput Forward(TeacherBatch batch)
        {
            Images.Add(batch.Images.detach().clone().DetachFromDisposeScope());
            return base.Forward(batch);
        }
    }

    /// <summary>Cross-entropy that records what each step's context said of the mix.</summary>
    private sealed class RecordingLoss : IDistillationLoss
    {
        private readonly LabelCrossEntropyLoss inner = new();

        public List<(int Epoch, int Step, double Weight, long[] Partners)> Mixes { get; } = [];

        public string Name => inner.Name;

        public string Description => inner.Description;

        public bool NeedsTeacher => true;

        public IReadOnlyList<string> StudentFeatureModules => [];

        public IReadOnlyList<string> TeacherFeatureModules => [];

        public LossResult Compute(DistillationContext context)
        {
            Mixes.Add((context.Epoch, context.Step, context.MixWeight, context.PartnerLabels?.data<long>().ToArray() ?? []));
            return inner.Compute(context);
        }
    }

    [Fact]
    public void The_teacher_labels_the_mixed_batch_the_student_sees()
    {
        using var train = Quadrants.Create(128, seed: 1);
        manual_seed(1);
        using var teacherNet = new TinyNet(8);
        using var student = new TinyNet(4);
        var seen = new List<Tensor>();
        var hook = student.register_forward_pre_hook((_, input) =>
        {
            if (student.training)
            {
                seen.Add(input.detach().clone().DetachFromDisposeScope());
            }

            return input;
        });
        using var teacher = new RecordingTeacher(Teacher.From(teacherNet));

        new Trainer<ITeacher, TinyNet>(teacher, student, Options(epochs: 1)).Distill(train, loss: new KLDivergenceLoss(4));

        hook.remove();
        teacher.Images.Should().HaveCount(4).And.HaveSameCount(seen);
        teacher.Images.Zip(seen).Should().OnlyContain(pair => pair.First.eq(pair.Second).all().item<bool>());

        // The same run without mixing gives the teacher other images: the mix is what it labelled.
        using var plainTeacher = new RecordingTeacher(Teacher.From(teacherNet));
        new Trainer<ITeacher, TinyNet>(plainTeacher, new TinyNet(4), Options(epochs: 1, mixup: 0, cutMix: 0)).Distill(train, loss: new KLDivergenceLoss(4));
        plainTeacher.Images[0].eq(teacher.Images[0]).all().item<bool>().Should().BeFalse();
    }

    [Fact]
    public void Resuming_mid_run_replays_lambdas_and_partners_exactly()
    {
        using var train = Quadrants.Create(160, seed: 1);
        manual_seed(1);
        using var teacherNet = new TinyNet(8);

        manual_seed(3);
        var wholeLoss = new RecordingLoss();
        using var wholeStudent = new TinyNet(4);
        var wholeOptions = Options(epochs: 3, checkpoints: true);
        wholeOptions.Checkpoints!.Directory = Path.Combine(folder.Path, "whole");
        new Trainer<TinyNet, TinyNet>(teacherNet, wholeStudent, wholeOptions).Distill(train, loss: wholeLoss);

        // Cancelled in epoch 3, after epoch 2's checkpoint; a new process resumes.
        using var cancellation = new CancellationTokenSource();
        manual_seed(3);
        using var interruptedStudent = new TinyNet(4);
        var progress = new SynchronousProgress<TrainingProgress>(p =>
        {
            if (p is BatchProgress { Epoch: 3, Batch: 2 })
            {
                cancellation.Cancel();
            }
        });
        var interrupted = new Trainer<TinyNet, TinyNet>(teacherNet, interruptedStudent, Options(epochs: 3, checkpoints: true));
        interrupted.Invoking(t => t.Distill(train, null, new RecordingLoss(), progress, cancellation.Token)).Should().Throw<OperationCanceledException>();

        manual_seed(99);
        var resumedLoss = new RecordingLoss();
        using var resumedStudent = new TinyNet(4);
        var result = new Trainer<TinyNet, TinyNet>(teacherNet, resumedStudent, Options(epochs: 3, checkpoints: true, resume: true)).Distill(train, loss: resumedLoss);

        result.ResumedAfterEpoch.Should().Be(2);
        wholeLoss.Mixes.Select(m => m.Weight).Distinct().Should().HaveCountGreaterThan(5, "every batch draws its own λ");
        var third = wholeLoss.Mixes.Where(m => m.Epoch == 3).ToArray();
        resumedLoss.Mixes.Select(m => (m.Epoch, m.Step, m.Weight)).Should().Equal(third.Select(m => (m.Epoch, m.Step, m.Weight)));
        resumedLoss.Mixes.Zip(third).Should().OnlyContain(pair => pair.First.Partners.SequenceEqual(pair.Second.Partners));
        resumedStudent.parameters().Zip(wholeStudent.parameters()).Should().OnlyContain(pair => pair.First.eq(pair.Second).all().item<bool>());
    }

    [Fact]
    public void A_checkpoint_of_a_run_with_other_mixing_is_refused_naming_it()
    {
        using var train = Quadrants.Create(96, seed: 1);
        manual_seed(1);
        using var teacherNet = new TinyNet(8);
        using var student = new TinyNet(4);
        new Trainer<TinyNet, TinyNet>(teacherNet, student, Options(epochs: 1, checkpoints: true)).Distill(train, loss: new KLDivergenceLoss(4));

        var other = Options(epochs: 1, checkpoints: true, resume: true, mixup: 0.2);
        new Trainer<TinyNet, TinyNet>(teacherNet, student, other).Invoking(t => t.Distill(train, loss: new KLDivergenceLoss(4)))
            .Should().Throw<CheckpointMismatchException>().WithMessage("*Augmentation = pad-and-crop 1, flip, mixup 0.4, cutmix 1 in the checkpoint, Augmentation = pad-and-crop 1, flip, mixup 0.2, cutmix 1 in this run*");
    }
}
