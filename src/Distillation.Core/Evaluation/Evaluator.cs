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
    public static EvaluationResult Evaluate(nn.Module<Tensor, Tensor> model, ImageDataset data, Device device, int batchSize = 256, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(device);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);

        var wasTraining = model.training;
        var stopwatch = Stopwatch.StartNew();
        model.eval();
        try
        {
            using var noGrad = no_grad();
            using var plan = data.PlanBatches(batchSize);
            using var correct = zeros(1, ScalarType.Int64, device).DetachFromDisposeScope();
            for (var b = 0; b < plan.BatchCount; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var batch = plan.GetBatch(b, device);
                var predictions = model.call(batch.Images).argmax(1);

                // Counted on the device: one host synchronisation per evaluation, not per batch.
                correct.add_(predictions.eq(batch.Labels).sum());
            }

            return new EvaluationResult(correct.item<long>(), data.Count, stopwatch.Elapsed);
        }
        finally
        {
            model.train(wasTraining);
        }
    }
}
