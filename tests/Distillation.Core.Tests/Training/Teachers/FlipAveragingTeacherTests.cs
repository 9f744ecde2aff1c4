using Distillation.Devices;
using Distillation.Losses;
using Distillation.Serialization;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Training.Teachers;

/// <summary>Teacher.UseFlipAveraging: the teacher's flip test-time augmentation as the label.</summary>
public sealed class FlipAveragingTeacherTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();
    private readonly TempFolder folder = new();

    public void Dispose()
    {
        set_num_threads(threadsBefore);
        folder.Dispose();
    }

    private static TinyNet Net()
    {
        manual_seed(11);
        return new TinyNet(8);
    }

    [Fact]
    public void The_logits_are_the_mean_of_the_log_probabilities_of_the_image_and_its_mirror()
    {
        set_num_threads(1);
        using var train = Quadrants.Create(24, seed: 2);
        using var net = Net();
        using var teacher = Teacher.From(net).UseFlipAveraging();
        using var preparation = teacher.Prepare(new TeacherRequest(train, CPU));
        using var scope = NewDisposeScope();
        using var plan = train.PlanBatches(24);
        var images = plan.GetBatch(0).Images;

        var averaged = teacher.Forward(new TeacherBatch(images, plan.GetIndices(0))).Logits;
        Tensor expected, plain;
        using (no_grad())
        {
            plain = nn.functional.log_softmax(net.call(images), 1);
            expected = plain.add(nn.functional.log_softmax(net.call(images.flip(3)), 1)).div(2);
        }

        averaged.allclose(expected, rtol: 1e-6, atol: 1e-6).Should().BeTrue();
        averaged.sub(plain).abs().max().item<float>().Should().BeGreaterThan(1e-3f, "the quadrant images are not mirror-symmetric, so the mirror changes the prediction");
        teacher.Fingerprint.Should().Be(Teacher.From(net).Fingerprint + "+flip average");
    }

    [Fact]
    public void A_distillation_run_caches_the_averaged_labels_and_differs_from_the_plain_teachers_run()
    {
        using var train = Quadrants.Create(48, seed: 3);
        using var net = Net();
        List<float> Run(ITeacher teacher, out bool cached)
        {
            var losses = new List<float>();
            var options = new TrainerOptions
            {
                Epochs = 2,
                BatchSize = 16,
                Seed = 7,
                Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
                TeacherOutputs = new TeacherOutputOptions { Precision = TeacherPrecision.Float32 },
                Callbacks = { new LossRecorder(losses) },
            };
            manual_seed(5);
            using var student = new TinyNet(4);
            cached = new Trainer<ITeacher, TinyNet>(teacher, student, options).Distill(train, loss: new KLDivergenceLoss(4)).TeacherOutputsCached;
            return losses;
        }

        using var averaging = Teacher.From(net).UseFlipAveraging();
        using var plain = Teacher.From(net);
        var averaged = Run(averaging, out var averagedCached);
        var unaveraged = Run(plain, out _);

        averagedCached.Should().BeTrue("the trainer's output cache wraps the averaging teacher when the batches are not augmented");
        averaged.Should().HaveCount(6).And.OnlyContain(l => float.IsFinite(l));
        averaged.Should().NotEqual(unaveraged);
    }

    [Fact]
    public void Features_and_a_teacher_whose_outputs_are_looked_up_are_refused_by_name()
    {
        using var train = Quadrants.Create(8, seed: 4);
        using var net = Net();
        using var averaging = Teacher.From(net).UseFlipAveraging();
        var features = () => averaging.Prepare(new TeacherRequest(train, CPU) { FeaturePaths = ["layers.0"], RequestedBy = "HintLoss" });
        features.Should().Throw<ArgumentException>().WithMessage("The HintLoss loss reads the teacher's features (layers.0), but the teacher with flip averaging supplies logits only*");

        var file = Path.Combine(folder.Path, "logits.safetensors");
        using (var rows = randn(8, 4))
        {
            Safetensors.Write(file, [new("logits", rows)]);
        }

        using var precomputed = Teacher.FromLogitsFile(file).UseFlipAveraging();
        var lookedUp = () => precomputed.Prepare(new TeacherRequest(train, CPU));
        lookedUp.Should().Throw<InvalidOperationException>().WithMessage("Flip averaging needs a teacher that runs on the images*");
    }

    private sealed class LossRecorder(List<float> losses) : ITrainingCallback
    {
        public void OnStepEnd(StepEndContext context) => losses.Add(context.Loss.Total.item<float>());
    }
}
