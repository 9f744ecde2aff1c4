using Distillation.Data;
using Distillation.Evaluation;
using Distillation.Tests.TestSupport;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Tests.Evaluation;

public sealed class DetailedEvaluationTests
{
    private static readonly string[] SixClasses = ["plane", "car", "bird", "cat, domestic", "deer", "dog"];

    /// <summary>
    /// A "model" whose logits are fixed in advance: image i (every pixel byte equal to i) gets row i
    /// of the table. Records, at every forward, the training mode, whether gradients were on and the
    /// batch size.
    /// </summary>
    private sealed class LookupNet : Module<Tensor, Tensor>
    {
        private readonly Tensor table;

        public LookupNet(float[,] logits)
            : base(nameof(LookupNet)) => table = tensor(logits).DetachFromDisposeScope();

        public List<(bool Training, bool GradEnabled, long BatchSize)> Calls { get; } = [];

        public override Tensor forward(Tensor input)
        {
            Calls.Add((training, is_grad_enabled(), input.shape[0]));

            // UnitRange normalization maps byte i to i / 255.
            using var index = input[.., 0, 0, 0].mul(255).round().to_type(ScalarType.Int64);
            return table.index_select(0, index);
        }

        protected override void Dispose(bool disposing)
        {
            table.Dispose();
            base.Dispose(disposing);
        }
    }


    /// <summary>Images 0 … n − 1, each a 1×1 RGB image whose bytes all equal its index.</summary>
    private static ImageDataset Indexed(long[] labels, IReadOnlyList<string> classNames)
    {
        using var scope = NewDisposeScope();
        var n = labels.Length;
        var images = arange(n, ScalarType.Byte).reshape(n, 1, 1, 1).expand(n, 3, 1, 1).contiguous();
        return new ImageDataset(images, tensor(labels), classNames, ImageNormalization.UnitRange);
    }

    /// <summary>Logits that rank the classes of each image as given, highest first (no ties).</summary>
    private static float[,] Ranked(int classes, params int[][] rankings)
    {
        var logits = new float[rankings.Length, classes];
        for (var i = 0; i < rankings.Length; i++)
        {
            for (var r = 0; r < classes; r++)
            {
                logits[i, rankings[i][r]] = classes - r;
            }
        }

        return logits;
    }

    private static ImageDataset Random(int n, int classes, long seed)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)seed);
        var images = randint(0, 256, [n, 3, 8, 8], generator: generator, dtype: ScalarType.Byte);
        var labels = randint(0, classes, [n], generator: generator, dtype: ScalarType.Int64);
        return new ImageDataset(images, labels, Enumerable.Range(0, classes).Select(c => $"c{c}").ToArray(), ImageNormalization.UnitRange);
    }

    // Ten images of six classes; "dog" (5) has none. Ranking = classes by logit, highest first.
    //  i  label  ranking              top-1  label's rank  top-5
    //  0    0    0 1 2 3 4 5          0 ✓        1           ✓
    //  1    0    1 0 2 3 4 5          1          2           ✓
    //  2    0    5 4 3 2 1 0          5          6
    //  3    1    1 0 2 3 4 5          1 ✓        1           ✓
    //  4    1    2 3 4 5 0 1          2          6
    //  5    2    2 0 1 3 4 5          2 ✓        1           ✓
    //  6    2    3 2 0 1 4 5          3          2           ✓
    //  7    3    3 0 1 2 4 5          3 ✓        1           ✓
    //  8    4    0 1 2 3 4 5          0          5           ✓
    //  9    4    5 0 1 2 3 4          5          6
    private static readonly long[] HandLabels = [0, 0, 0, 1, 1, 2, 2, 3, 4, 4];

    private static float[,] HandLogits() => Ranked(
        6,
        [0, 1, 2, 3, 4, 5],
        [1, 0, 2, 3, 4, 5],
        [5, 4, 3, 2, 1, 0],
        [1, 0, 2, 3, 4, 5],
        [2, 3, 4, 5, 0, 1],
        [2, 0, 1, 3, 4, 5],
        [3, 2, 0, 1, 4, 5],
        [3, 0, 1, 2, 4, 5],
        [0, 1, 2, 3, 4, 5],
        [5, 0, 1, 2, 3, 4]);

    [Fact]
    public void Top1_top5_per_class_and_confusion_match_hand_counts()
    {
        using var scope = NewDisposeScope();
        using var data = Indexed(HandLabels, SixClasses);
        using var model = new LookupNet(HandLogits());

        // Batches of 4, 4 and 2: the counts must add up across batches, the last one partial.
        var result = Evaluator.EvaluateDetailed(model, data, CPU, batchSize: 4);

        // Top-1 hits: images 0, 3, 5, 7 → 4 / 10.
        result.Total.Should().Be(10);
        result.Top1Correct.Should().Be(4);
        result.Top1Accuracy.Should().Be(0.4);

        // Top-5 adds the labels ranked 2nd to 5th: images 1, 6, 8 → 7 / 10.
        result.TopK.Should().Be(5);
        result.Top5Correct.Should().Be(7);
        result.Top5Accuracy.Should().Be(0.7);
        result.Top5Accuracy.Should().BeGreaterThanOrEqualTo(result.Top1Accuracy);

        // Per class: plane 1/3 (image 0), car 1/2 (3), bird 1/2 (5), cat 1/1 (7), deer 0/2, dog no image.
        result.PerClass.Select(c => c.Name).Should().Equal(SixClasses);
        result.PerClass.Select(c => c.Images).Should().Equal(3, 2, 2, 1, 2, 0);
        result.PerClass.Select(c => c.Correct).Should().Equal(1, 1, 1, 1, 0, 0);
        result.PerClass[0].Accuracy.Should().BeApproximately(1.0 / 3, 1e-15);
        result.PerClass.Skip(1).Take(4).Select(c => c.Accuracy).Should().Equal(0.5, 0.5, 1.0, 0.0);
        double.IsNaN(result.PerClass[5].Accuracy).Should().BeTrue("dog has no image");

        // Confusion [true, predicted], one cell per image of the table's top-1 column.
        result.Confusion.ToArray().Should().BeEquivalentTo(
            new long[][]
            {
                [1, 1, 0, 0, 0, 1],   // images 0 → 0, 1 → 1, 2 → 5
                [0, 1, 1, 0, 0, 0],   // 3 → 1, 4 → 2
                [0, 0, 1, 1, 0, 0],   // 5 → 2, 6 → 3
                [0, 0, 0, 1, 0, 0],   // 7 → 3
                [1, 0, 0, 0, 0, 1],   // 8 → 0, 9 → 5
                [0, 0, 0, 0, 0, 0],   // no dog
            },
            o => o.WithStrictOrdering());
        result.Confusion[4, 5].Should().Be(1);
        result.Confusion.Total.Should().Be(10);
        result.ToEvaluationResult().Should().BeEquivalentTo(new { Correct = 4L, Total = 10L, Accuracy = 0.4 });
    }

    [Fact]
    public void With_fewer_than_five_classes_top5_uses_all_of_them()
    {
        using var scope = NewDisposeScope();
        using var data = Indexed([0, 1, 2], ["a", "b", "c"]);

        // Every image ranks its own label last: top-1 is 0 / 3, but 3 classes are all within "top 5".
        using var model = new LookupNet(Ranked(3, [2, 1, 0], [0, 2, 1], [1, 0, 2]));

        var result = Evaluator.EvaluateDetailed(model, data, CPU);

        result.TopK.Should().Be(3);
        result.Top1Accuracy.Should().Be(0);
        result.Top5Accuracy.Should().Be(1);
    }

    [Fact]
    public void Top1_agrees_with_the_plain_evaluator_on_a_real_network()
    {
        using var scope = NewDisposeScope();
        using var data = Random(300, classes: 7, seed: 3);
        manual_seed(4);
        using var model = new TinyNet(4, classes: 7);

        var detailed = Evaluator.EvaluateDetailed(model, data, CPU, batchSize: 64);
        var plain = Evaluator.Evaluate(model, data, CPU, batchSize: 64);

        detailed.Top1Correct.Should().Be(plain.Correct);
        detailed.Total.Should().Be(300);
        detailed.PerClass.Sum(c => c.Images).Should().Be(300);
        detailed.Top5Correct.Should().BeGreaterThanOrEqualTo(detailed.Top1Correct);
        detailed.PerClass.Select(c => c.Images).Should().Equal(
            Enumerable.Range(0, 7).Select(c => data.Labels.eq(c).sum().item<long>()));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Evaluation_and_timing_run_in_eval_mode_without_gradients_and_restore_the_mode(bool trainingBefore)
    {
        using var scope = NewDisposeScope();
        using var data = Indexed(HandLabels, SixClasses);
        using var model = new LookupNet(HandLogits());
        model.train(trainingBefore);

        Evaluator.EvaluateDetailed(model, data, CPU, batchSize: 4);
        model.training.Should().Be(trainingBefore);
        Evaluator.MeasureSpeed(model, data, CPU, new LatencyOptions { WarmupBatches = 1, TimedBatches = 2, BatchSize = 4 });
        model.training.Should().Be(trainingBefore);

        // 3 evaluation batches, then (1 + 2) passes at batch size 4 and (1 + 2) at batch size 1.
        model.Calls.Select(c => c.BatchSize).Should().Equal(4, 4, 2, 4, 4, 4, 1, 1, 1);
        model.Calls.Should().AllSatisfy(c =>
        {
            c.Training.Should().BeFalse("the model is evaluated in eval mode");
            c.GradEnabled.Should().BeFalse("the model is evaluated under no_grad");
        });
        is_grad_enabled().Should().BeTrue("no_grad ends with the call");
    }

    [Fact]
    public void Cancellation_stops_the_evaluation_and_restores_the_mode()
    {
        using var scope = NewDisposeScope();
        using var data = Indexed(HandLabels, SixClasses);
        using var model = new LookupNet(HandLogits());
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();

        var act = () => Evaluator.EvaluateDetailed(model, data, CPU, cancellationToken: cancellation.Token);

        act.Should().Throw<OperationCanceledException>();
        model.training.Should().BeTrue();
    }

    [Fact]
    public void Logits_that_do_not_match_the_classes_are_rejected()
    {
        using var scope = NewDisposeScope();
        using var data = Indexed(HandLabels, SixClasses);
        using var model = new LookupNet(new float[10, 4]);

        var act = () => Evaluator.EvaluateDetailed(model, data, CPU);

        act.Should().Throw<ArgumentException>().WithParameterName("model").WithMessage("*[10, 6]*[10, 4]*");
        model.training.Should().BeTrue();
    }

    [Fact]
    public void Evaluation_and_timing_leave_no_tensor_behind()
    {
        using var data = Random(100, classes: 5, seed: 1);
        manual_seed(2);
        using var model = new TinyNet(4, classes: 5);
        var options = new LatencyOptions { WarmupBatches = 1, TimedBatches = 2, BatchSize = 16 };

        // The first calls cache the dataset's normalization constants on the device.
        Evaluator.EvaluateDetailed(model, data, CPU, batchSize: 32);
        Evaluator.MeasureSpeed(model, data, CPU, options);
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        Evaluator.EvaluateDetailed(model, data, CPU, batchSize: 32);
        Evaluator.MeasureSpeed(model, data, CPU, options);

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(before);
    }

    [Fact]
    public void Speed_measurement_returns_positive_finite_numbers()
    {
        using var data = Random(40, classes: 5, seed: 1);
        manual_seed(2);
        using var model = new TinyNet(4, classes: 5);

        var speed = Evaluator.MeasureSpeed(model, data, CPU, new LatencyOptions { WarmupBatches = 1, TimedBatches = 3, BatchSize = 64 });

        speed.BatchSize.Should().Be(40, "the dataset has fewer images than the batch size asked for");
        new[] { speed.ImagesPerSecond, speed.MillisecondsPerImageAtBatchSize, speed.MillisecondsPerImageAtBatchSize1 }
            .Should().AllSatisfy(v => double.IsFinite(v).Should().BeTrue()).And.AllSatisfy(v => v.Should().BePositive());
        speed.MillisecondsPerImageAtBatchSize.Should().BeApproximately(1000 / speed.ImagesPerSecond, 1e-9);
    }

    [Theory]
    [InlineData(nameof(LatencyOptions.WarmupBatches), -1)]
    [InlineData(nameof(LatencyOptions.TimedBatches), 0)]
    [InlineData(nameof(LatencyOptions.BatchSize), 0)]
    public void Out_of_range_latency_options_are_rejected_by_name(string name, int value)
    {
        var options = new LatencyOptions();
        typeof(LatencyOptions).GetProperty(name)!.SetValue(options, value);

        var act = options.Validate;

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(name);
        new LatencyOptions().Should().BeEquivalentTo(new { WarmupBatches = 2, TimedBatches = 10, BatchSize = 256 });
    }

    [Fact]
    public void Footprint_counts_parameters_and_weight_bytes_close_to_four_per_parameter()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var model = new TinyNet(4, classes: 5);

        // Conv2d(3 → 4, 3×3): 4·3·9 + 4 = 112; Linear(4·16 → 5): 64·5 + 5 = 325.
        const long parameters = 112 + 325;
        var footprint = ModelFootprint.Of(model);

        footprint.Parameters.Should().Be(parameters).And.Be(model.parameters().Sum(p => p.numel()));
        footprint.TrainableParameters.Should().Be(parameters);

        // TorchSharp's format: a tensor count, then per tensor its name (length-prefixed), dtype,
        // rank and dimensions (one byte each here), then the float32 data.
        var state = model.state_dict();
        var header = 1 + state.Sum(e => 1 + e.Key.Length + 2 + e.Value.dim());
        footprint.WeightBytes.Should().BeInRange(4 * parameters + state.Sum(e => e.Key.Length), 4 * parameters + header);
    }

    [Fact]
    public void Frozen_parameters_count_but_are_not_trainable()
    {
        using var scope = NewDisposeScope();
        using var model = new TinyNet(4, classes: 5);
        foreach (var (_, parameter) in model.named_parameters().Where(p => p.name.StartsWith("layers.0.", StringComparison.Ordinal)))
        {
            parameter.requires_grad = false;
        }

        var footprint = ModelFootprint.Of(model);

        footprint.Parameters.Should().Be(437);
        footprint.TrainableParameters.Should().Be(325, "the convolution's 112 are frozen");
    }

    [Fact]
    public void Inconsistent_counts_are_rejected()
    {
        var matrix = new ConfusionMatrix([[2, 1], [0, 3]]);

        ((Action)(() => _ = new DetailedEvaluation(["a", "b"], matrix, top5Correct: 4, topK: 2, TimeSpan.Zero)))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("top5Correct");
        ((Action)(() => _ = new DetailedEvaluation(["a"], matrix, top5Correct: 6, topK: 2, TimeSpan.Zero)))
            .Should().Throw<ArgumentException>().WithParameterName("classNames");
        ((Action)(() => _ = new ConfusionMatrix([[1, 2], [3]])))
            .Should().Throw<ArgumentException>().WithMessage("*square*");
    }
}
