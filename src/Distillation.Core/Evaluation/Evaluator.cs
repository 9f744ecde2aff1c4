using System.Diagnostics;
using Distillation.Data;
using static TorchSharp.torch;

namespace Distillation.Evaluation;

/// <summary>Evaluates a classifier on a labelled dataset, in eval mode and without gradients.</summary>
public static class Evaluator
{
    /// <summary>
    /// Top-1 accuracy of <paramref name="model"/> on <paramref name="data"/>, in stored order. The
    /// model runs in eval mode under no_grad; its previous training mode is restored afterwards.
    /// </summary>
    /// <param name="model">The classifier, already on <paramref name="device"/>.</param>
    /// <param name="data">The labelled images.</param>
    /// <param name="device">Where the model lives.</param>
    /// <param name="batchSize">Images per forward pass.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>Correct and total counts, and timing.</returns>
    public static EvaluationResult Evaluate(nn.Module<Tensor, Tensor> model, IBatchSource data, Device device, int batchSize = 256, CancellationToken cancellationToken = default) =>
        EvaluateDetailed(model, data, device, batchSize, cancellationToken).ToEvaluationResult();

    /// <summary>
    /// Top-1 and top-5 accuracy, accuracy per class and the confusion matrix of
    /// <paramref name="model"/> on <paramref name="data"/>, in stored order. Counting happens on the
    /// device, with one copy to the host at the end. The model runs in eval mode under no_grad; its
    /// previous training mode is restored afterwards. Speed is measured separately, by
    /// <see cref="MeasureSpeed"/>.
    /// </summary>
    /// <param name="model">The classifier, already on <paramref name="device"/>; it maps images [B, C, H, W] to logits [B, classes].</param>
    /// <param name="data">The labelled images; its class names name the classes.</param>
    /// <param name="device">Where the model lives.</param>
    /// <param name="batchSize">Images per forward pass (does not change the results).</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>The counts, the accuracies derived from them, and timing.</returns>
    /// <exception cref="ArgumentException">The evaluation set is empty, or the model's output is not [B, number of classes].</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is less than 1.</exception>
    public static DetailedEvaluation EvaluateDetailed(nn.Module<Tensor, Tensor> model, IBatchSource data, Device device, int batchSize = 256, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        var wasTraining = model.training;
        model.eval();
        try
        {
            return EvaluateDetailed((batch, _) => model.call(batch.Images), data, device, batchSize, cancellationToken, nameof(model));
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>
    /// The counts of <see cref="EvaluateDetailed(nn.Module{Tensor, Tensor}, IBatchSource, Device, int, CancellationToken)"/>
    /// for any classifier: <paramref name="forward"/> maps a batch and its positions in
    /// <paramref name="data"/> (int64, CPU) to logits, and runs under no_grad; a wrong output shape
    /// is reported against the caller's parameter <paramref name="classifierName"/>.
    /// </summary>
    internal static DetailedEvaluation EvaluateDetailed(Func<Batch, Tensor, Tensor> forward, IBatchSource data, Device device, int batchSize, CancellationToken cancellationToken, string classifierName = "forward")
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(device);
        if (data.Count == 0)
        {
            throw new ArgumentException("The evaluation set is empty: an accuracy over no images is undefined.", nameof(data));
        }

        // A batch size < 1 is rejected by PlanBatches, naming batchSize.
        var classes = data.ClassNames.Count;
        var cells = classes * classes;
        var k = Math.Min(5, classes);
        var stopwatch = Stopwatch.StartNew();
        {
            using var noGrad = no_grad();
            using var plan = data.PlanBatches(batchSize);

            // The confusion cells, then the top-k hits in one last cell: one tensor, so one copy to the host.
            using var counts = zeros(cells + 1, ScalarType.Int64, device).DetachFromDisposeScope();
            using var confusion = counts.narrow(0, 0, cells).DetachFromDisposeScope();
            using var topKHits = counts.narrow(0, cells, 1).DetachFromDisposeScope();
            for (var b = 0; b < plan.BatchCount; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var batch = plan.GetBatch(b, device);
                var logits = forward(batch, plan.GetIndices(b));
                if (logits.dim() != 2 || logits.shape[0] != batch.Size || logits.shape[1] != classes)
                {
                    // Shapes are host metadata: checking them costs no synchronisation.
                    throw new ArgumentException($"The model must map a batch of {batch.Size} images to logits [{batch.Size}, {classes}], one per class of the dataset; it returned [{string.Join(", ", logits.shape)}].", classifierName);
                }

                var predictions = logits.argmax(1);

                // Cell (label, prediction) of the row-major matrix is label·C + prediction. Not bincount:
                // its output size depends on the data, so on CUDA it reads the maximum back to the host
                // every batch; adding ones into the fixed-size counts never synchronises.
                var cell = batch.Labels.mul(classes).add_(predictions);
                confusion.index_add_(0, cell, ones_like(cell), 1);

                // A top-1 hit always counts: with tied logits topk may choose other classes than argmax.
                var (_, top) = logits.topk(k, dim: 1);
                var hits = top.eq(batch.Labels.unsqueeze(1)).any(1).logical_or_(predictions.eq(batch.Labels));
                topKHits.add_(hits.sum());
            }

            long[] host;
            using (NewDisposeScope())
            {
                host = counts.cpu().data<long>().ToArray();
            }

            var matrix = ConfusionMatrix.FromFlat(host[..cells], classes);
            return new DetailedEvaluation(data.ClassNames, matrix, host[cells], k, stopwatch.Elapsed);
        }
    }

    /// <summary>
    /// Inference speed of <paramref name="model"/> on input prepared from <paramref name="data"/>
    /// (slicing, normalization and the copy to the device are done once, before timing). After
    /// <paramref name="warmupBatches"/> untimed passes, it times <paramref name="timedBatches"/> passes
    /// of <paramref name="batchSize"/> images, waiting for the device once at the end (throughput), then the same at batch size 1,
    /// waiting for every result (latency). The model runs in eval mode under no_grad; its previous
    /// training mode is restored afterwards.
    /// </summary>
    /// <param name="model">The classifier, already on <paramref name="device"/>.</param>
    /// <param name="data">Images to feed; the first batch of them is used, labels are not.</param>
    /// <param name="device">Where the model lives.</param>
    /// <param name="batchSize">Images per timed pass (at least 1; fewer when <paramref name="data"/> holds fewer).</param>
    /// <param name="warmupBatches">Untimed passes before each measurement (at least 0).</param>
    /// <param name="timedBatches">Timed passes of each measurement (at least 1).</param>
    /// <param name="cancellationToken">Checked between passes.</param>
    /// <returns>Throughput and mean time per image.</returns>
    /// <exception cref="ArgumentException"><paramref name="data"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A count is out of range; the message names it.</exception>
    public static SpeedMeasurement MeasureSpeed(
        nn.Module<Tensor, Tensor> model, IBatchSource data, Device device, int batchSize = 256, int warmupBatches = 2, int timedBatches = 10, CancellationToken cancellationToken = default) =>
        MeasureSpeedWith(model, data, device, new LatencyOptions { BatchSize = batchSize, WarmupBatches = warmupBatches, TimedBatches = timedBatches }, cancellationToken);

    /// <summary>As the public overload, with the three counts in one object (tests set them by name).</summary>
    internal static SpeedMeasurement MeasureSpeedWith(nn.Module<Tensor, Tensor> model, IBatchSource data, Device device, LatencyOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (data.Count == 0)
        {
            throw new ArgumentException("Measuring speed needs at least one image.", nameof(data));
        }

        var batchSize = Math.Min(options.BatchSize, data.Count);
        var wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            using var plan = data.PlanBatches(batchSize);
            var images = plan.GetBatch(0, device).Images;
            var single = images.narrow(0, 0, 1);

            var batched = TimePasses(model, images, options, waitForEach: false, cancellationToken);
            var alone = TimePasses(model, single, options, waitForEach: true, cancellationToken);

            // TimeSpan has 100 ns resolution; keep the rates finite for an implausibly fast model.
            var batchedSeconds = Math.Max(batched.TotalSeconds, 1e-7);
            var aloneSeconds = Math.Max(alone.TotalSeconds, 1e-7);
            var timedImages = (double)options.TimedBatches * batchSize;
            return new SpeedMeasurement(
                batchSize,
                timedImages / batchedSeconds,
                batchedSeconds * 1000 / timedImages,
                aloneSeconds * 1000 / options.TimedBatches);
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    private static TimeSpan TimePasses(nn.Module<Tensor, Tensor> model, Tensor input, LatencyOptions options, bool waitForEach, CancellationToken cancellationToken)
    {
        for (var i = 0; i < options.WarmupBatches; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            WaitFor(model.call(input));
        }

        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < options.TimedBatches; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var output = model.call(input);
            if (waitForEach || i == options.TimedBatches - 1)
            {
                WaitFor(output);
            }
        }

        return stopwatch.Elapsed;
    }

    /// <summary>
    /// Blocks until the device has computed <paramref name="output"/> (work is asynchronous on CUDA),
    /// by copying one element to the host: device-agnostic, and cheap.
    /// </summary>
    private static void WaitFor(Tensor output)
    {
        if (output.numel() > 0)
        {
            using var first = output.reshape(-1).narrow(0, 0, 1);
            using var onHost = first.cpu();
        }
    }
}
