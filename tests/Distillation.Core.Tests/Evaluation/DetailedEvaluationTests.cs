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
        Evaluator.MeasureSpeedWith(model, data, CPU, new LatencyOptions { WarmupBatches = 1, TimedBatches = 2, BatchSize = 4 });
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
    public void Cancellation_in_the_middle_of_an_evaluation_stops_it_at_the_next_batch()
    {
        using var scope = NewDisposeScope();
        using var data = Indexed(HandLabels, SixClasses);
        using var model = new LookupNet(HandLogits());
        using var cancellation = new CancellationTokenSource();

        // Ten images in batches of two: a signal arrives while the second of five batches runs.
        var act = () => Evaluator.EvaluateDetailed(
            (batch, _) =>
            {
                var logits = model.call(batch.Images);
                if (model.Calls.Count == 2)
                {
                    cancellation.Cancel();
                }

                return logits;
            },
            data,
            CPU,
            batchSize: 2,
            cancellation.Token);

        act.Should().Throw<OperationCanceledException>();
        model.Calls.Should().HaveCount(2, "the batches after the signal are not run");
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
        Evaluator.MeasureSpeedWith(model, data, CPU, options);
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        Evaluator.EvaluateDetailed(model, data, CPU, batchSize: 32);
        Evaluator.MeasureSpeedWith(model, data, CPU, options);

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(before);
    }

    [Fact]
    public void Speed_measurement_returns_positive_finite_numbers()
    {
        using var data = Random(40, classes: 5, seed: 1);
        manual_seed(2);
        using var model = new TinyNet(4, classes: 5);

        var speed = Evaluator.MeasureSpeedWith(model, data, CPU, new LatencyOptions { WarmupBatches = 1, TimedBatches = 3, BatchSize = 64 });

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

    /// <summary>Zero logits for 6 classes after sleeping <see cref="PassMilliseconds"/>, whatever the batch size: a model of known speed.</summary>
    private sealed class SleepyNet : Module<Tensor, Tensor>
    {
        public const int PassMilliseconds = 20;

        public SleepyNet()
            : base(nameof(SleepyNet))
        {
        }

        public override Tensor forward(Tensor input)
        {
            Thread.Sleep(PassMilliseconds);
            return zeros(input.shape[0], 6);
        }
    }

    [Fact]
    public void Speed_figures_follow_from_the_time_per_pass()
    {
        using var scope = NewDisposeScope();
        using var data = Indexed(HandLabels, SixClasses);
        using var model = new SleepyNet();

        // Three timed passes of 4 images, then three of 1 image, each pass ≥ 20 ms. Sleep may overrun
        // on a busy machine, so the upper bounds leave a factor of 5.
        var speed = Evaluator.MeasureSpeedWith(model, data, CPU, new LatencyOptions { WarmupBatches = 1, TimedBatches = 3, BatchSize = 4 });

        speed.BatchSize.Should().Be(4);
        speed.MillisecondsPerImageAtBatchSize.Should().BeInRange(SleepyNet.PassMilliseconds / 4.0, 5 * SleepyNet.PassMilliseconds / 4.0);
        speed.ImagesPerSecond.Should().BeInRange(1000.0 * 4 / (5 * SleepyNet.PassMilliseconds), 1000.0 * 4 / SleepyNet.PassMilliseconds);
        speed.MillisecondsPerImageAtBatchSize1.Should().BeInRange(SleepyNet.PassMilliseconds, 5 * SleepyNet.PassMilliseconds);
    }

    [Fact]
    public void Speed_is_measured_with_the_warm_up_and_timed_passes_asked_for()
    {
        using var scope = NewDisposeScope();
        using var data = Indexed(HandLabels, SixClasses);
        using var model = new LookupNet(HandLogits());

        Evaluator.MeasureSpeedWith(model, data, CPU, new LatencyOptions { WarmupBatches = 0, TimedBatches = 1, BatchSize = 1 });
        model.Calls.Select(c => c.BatchSize).Should().Equal(1, 1);

        model.Calls.Clear();
        Evaluator.MeasureSpeedWith(model, data, CPU, new LatencyOptions { WarmupBatches = 2, TimedBatches = 3, BatchSize = 6 });
        model.Calls.Select(c => c.BatchSize).Should().Equal(6, 6, 6, 6, 6, 1, 1, 1, 1, 1);
    }

    [Fact]
    public void Speed_needs_at_least_one_image_and_valid_options()
    {
        using var scope = NewDisposeScope();
        using var empty = new ImageDataset(zeros([0, 3, 1, 1], ScalarType.Byte), zeros(0, ScalarType.Int64), SixClasses);
        using var data = Indexed(HandLabels, SixClasses);
        using var model = new LookupNet(HandLogits());

        FluentActions.Invoking(() => Evaluator.MeasureSpeed(model, empty, CPU))
            .Should().Throw<ArgumentException>().WithParameterName("data");
        FluentActions.Invoking(() => Evaluator.MeasureSpeedWith(model, data, CPU, new LatencyOptions { TimedBatches = 0 }))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(LatencyOptions.TimedBatches));
        model.Calls.Should().BeEmpty("nothing runs before the checks");
        model.training.Should().BeTrue();
    }

    [Fact]
    public void Latency_options_accept_their_smallest_values()
    {
        new LatencyOptions { WarmupBatches = 0, TimedBatches = 1, BatchSize = 1 }.Invoking(o => o.Validate()).Should().NotThrow();
    }

    [Fact]
    public void Evaluation_batch_size_must_be_positive()
    {
        using var scope = NewDisposeScope();
        using var data = Indexed(HandLabels, SixClasses);
        using var model = new LookupNet(HandLogits());

        FluentActions.Invoking(() => Evaluator.EvaluateDetailed(model, data, CPU, batchSize: 0))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("batchSize");
        Evaluator.EvaluateDetailed(model, data, CPU, batchSize: 1).Top1Correct.Should().Be(4);
    }

    [Fact]
    public void Evaluation_of_an_empty_dataset_is_an_error_not_NaN_or_zero_percent()
    {
        using var scope = NewDisposeScope();
        using var empty = new ImageDataset(zeros([0, 3, 1, 1], ScalarType.Byte), zeros(0, ScalarType.Int64), SixClasses);
        using var model = new LookupNet(HandLogits());

        var detailed = () => Evaluator.EvaluateDetailed(model, empty, CPU);
        var plain = () => Evaluator.Evaluate(model, empty, CPU);

        detailed.Should().Throw<ArgumentException>().WithParameterName("data").WithMessage("*evaluation set is empty*");
        plain.Should().Throw<ArgumentException>().WithParameterName("data");
    }

    [Theory]
    [InlineData(11, 6)]     // a logit row too many
    [InlineData(0, 0)]      // a one-dimensional output
    public void Outputs_that_are_not_one_row_of_class_logits_per_image_are_rejected(int rows, int classes)
    {
        using var scope = NewDisposeScope();
        using var data = Indexed(HandLabels, SixClasses);
        using var model = new FixedOutputNet(rows == 0 ? zeros(60) : zeros(rows, classes));

        var act = () => Evaluator.EvaluateDetailed(model, data, CPU, batchSize: 10);

        act.Should().Throw<ArgumentException>().WithParameterName("model").WithMessage("*[10, 6]*");
    }

    /// <summary>Returns the same tensor for any input.</summary>
    private sealed class FixedOutputNet : Module<Tensor, Tensor>
    {
        private readonly Tensor output;

        public FixedOutputNet(Tensor output)
            : base(nameof(FixedOutputNet)) => this.output = output.DetachFromDisposeScope();

        public override Tensor forward(Tensor input) => output.alias();

        protected override void Dispose(bool disposing)
        {
            output.Dispose();
            base.Dispose(disposing);
        }
    }

    [Fact]
    public void Null_arguments_are_rejected_by_name()
    {
        using var scope = NewDisposeScope();
        using var data = Indexed(HandLabels, SixClasses);
        using var model = new LookupNet(HandLogits());

        FluentActions.Invoking(() => Evaluator.EvaluateDetailed(null!, data, CPU)).Should().Throw<ArgumentNullException>().WithParameterName("model");
        FluentActions.Invoking(() => Evaluator.EvaluateDetailed(model, null!, CPU)).Should().Throw<ArgumentNullException>().WithParameterName("data");
        FluentActions.Invoking(() => Evaluator.EvaluateDetailed(model, data, null!)).Should().Throw<ArgumentNullException>().WithParameterName("device");
        FluentActions.Invoking(() => Evaluator.MeasureSpeed(null!, data, CPU)).Should().Throw<ArgumentNullException>().WithParameterName("model");
        FluentActions.Invoking(() => Evaluator.MeasureSpeed(model, null!, CPU)).Should().Throw<ArgumentNullException>().WithParameterName("data");
        FluentActions.Invoking(() => Evaluator.MeasureSpeed(model, data, null!)).Should().Throw<ArgumentNullException>().WithParameterName("device");
        FluentActions.Invoking(() => ModelFootprint.Of(null!)).Should().Throw<ArgumentNullException>().WithParameterName("model");
        var matrix = new ConfusionMatrix([[1]]);
        FluentActions.Invoking(() => new DetailedEvaluation(null!, matrix, 1, 1, TimeSpan.Zero)).Should().Throw<ArgumentNullException>().WithParameterName("classNames");
        FluentActions.Invoking(() => new DetailedEvaluation(["a"], null!, 1, 1, TimeSpan.Zero)).Should().Throw<ArgumentNullException>().WithParameterName("confusion");
        model.Calls.Should().BeEmpty();
    }

    [Fact]
    public void The_top5_count_may_equal_the_top1_count_or_the_total_but_not_exceed_it()
    {
        // Correct (diagonal) 5, total 6.
        var matrix = new ConfusionMatrix([[2, 1], [0, 3]]);

        new DetailedEvaluation(["a", "b"], matrix, top5Correct: 5, topK: 2, TimeSpan.Zero).Top5Correct.Should().Be(5);
        new DetailedEvaluation(["a", "b"], matrix, top5Correct: 6, topK: 2, TimeSpan.Zero).Top5Accuracy.Should().Be(1);
        FluentActions.Invoking(() => new DetailedEvaluation(["a", "b"], matrix, top5Correct: 7, topK: 2, TimeSpan.Zero))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("top5Correct");
    }

    [Theory]
    [InlineData(2, 5)]
    [InlineData(2, 1)]
    [InlineData(6, 6)]
    [InlineData(6, 4)]
    public void The_k_of_top5_must_be_five_or_the_class_count_when_smaller(int classes, int topK)
    {
        var rows = Enumerable.Range(0, classes).Select(t => (IReadOnlyList<long>)Enumerable.Range(0, classes).Select(p => p == t ? 1L : 0L).ToArray()).ToArray();
        var matrix = new ConfusionMatrix(rows);
        var names = Enumerable.Range(0, classes).Select(c => $"c{c}").ToArray();

        FluentActions.Invoking(() => new DetailedEvaluation(names, matrix, classes, topK, TimeSpan.Zero))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(topK));
        new DetailedEvaluation(names, matrix, classes, Math.Min(5, classes), TimeSpan.Zero).TopK.Should().Be(Math.Min(5, classes));
    }

    [Fact]
    public void The_summary_carries_the_top1_counts_and_the_elapsed_time()
    {
        var elapsed = TimeSpan.FromSeconds(2);
        var evaluation = new DetailedEvaluation(["a", "b"], new ConfusionMatrix([[60, 10], [20, 10]]), 100, 2, elapsed);

        var summary = evaluation.ToEvaluationResult();

        summary.Should().Be(new EvaluationResult(70, 100, elapsed));
        summary.Accuracy.Should().Be(0.7);
        summary.ImagesPerSecond.Should().Be(50);
        new EvaluationResult(3, 4, TimeSpan.Zero).ImagesPerSecond.Should().Be(0, "no measurable time gives no rate");
        evaluation.Elapsed.Should().Be(elapsed);
        evaluation.ClassNames.Should().Equal("a", "b");
    }

    [Fact]
    public void Class_names_and_matrix_of_different_sizes_are_named_in_the_message()
    {
        var act = () => new DetailedEvaluation(["a"], new ConfusionMatrix([[2, 1], [0, 3]]), top5Correct: 5, topK: 2, TimeSpan.Zero);

        act.Should().Throw<ArgumentException>().WithParameterName("classNames").WithMessage("1 class names for a confusion matrix of 2 classes*");
    }

    [Theory]
    [InlineData(nameof(LatencyOptions.WarmupBatches), -1, "Warm-up batches must be ≥ 0*")]
    [InlineData(nameof(LatencyOptions.TimedBatches), 0, "Timed batches must be ≥ 1*")]
    [InlineData(nameof(LatencyOptions.BatchSize), 0, "The batch size must be ≥ 1*")]
    public void Latency_option_errors_say_the_allowed_range(string name, int value, string message)
    {
        var options = new LatencyOptions();
        typeof(LatencyOptions).GetProperty(name)!.SetValue(options, value);

        options.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithMessage(message);
    }

    [Fact]
    public void A_cancelled_speed_measurement_stops_before_the_next_pass()
    {
        using var scope = NewDisposeScope();
        using var data = Indexed(HandLabels, SixClasses);
        using var model = new LookupNet(HandLogits());
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();

        // With a warm-up the first check is the warm-up's; without one, the timed loop's.
        foreach (var warmup in new[] { 1, 0 })
        {
            FluentActions.Invoking(() => Evaluator.MeasureSpeedWith(model, data, CPU, new LatencyOptions { WarmupBatches = warmup, TimedBatches = 2 }, cancellation.Token))
                .Should().Throw<OperationCanceledException>();
            model.Calls.Should().BeEmpty($"no pass runs once cancelled (warm-up {warmup})");
        }

        model.training.Should().BeTrue();
    }

    [Fact]
    public void A_model_with_an_empty_output_can_be_timed()
    {
        using var scope = NewDisposeScope();
        using var data = Indexed(HandLabels, SixClasses);
        using var model = new FixedOutputNet(zeros(0));

        var speed = Evaluator.MeasureSpeedWith(model, data, CPU, new LatencyOptions { WarmupBatches = 1, TimedBatches = 2, BatchSize = 4 });

        speed.ImagesPerSecond.Should().BePositive();
    }

    [Fact]
    public void Errors_for_an_empty_dataset_and_a_wrong_k_say_what_is_needed()
    {
        using var scope = NewDisposeScope();
        using var empty = new ImageDataset(zeros([0, 3, 1, 1], ScalarType.Byte), zeros(0, ScalarType.Int64), SixClasses);
        using var model = new LookupNet(HandLogits());

        FluentActions.Invoking(() => Evaluator.MeasureSpeed(model, empty, CPU)).Should().Throw<ArgumentException>().WithMessage("Measuring speed needs at least one image*");
        FluentActions.Invoking(() => new DetailedEvaluation(["a", "b"], new ConfusionMatrix([[1, 0], [0, 1]]), 2, 5, TimeSpan.Zero))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("With 2 classes k is 2*");
    }
}
