namespace Distillation.Evaluation;

/// <summary>Inference speed of a model, measured by <see cref="Evaluator.MeasureSpeed"/> on prepared input (data loading excluded).</summary>
/// <param name="BatchSize">Images per pass in the throughput series (the requested size, or the dataset's when smaller).</param>
/// <param name="ImagesPerSecond">Throughput at <paramref name="BatchSize"/>.</param>
/// <param name="MillisecondsPerImageAtBatchSize">Mean time per image at <paramref name="BatchSize"/>: 1000 / <paramref name="ImagesPerSecond"/>.</param>
/// <param name="MillisecondsPerImageAtBatchSize1">Mean latency of one image passed alone, waiting for each result.</param>
public sealed record SpeedMeasurement(
    int BatchSize,
    double ImagesPerSecond,
    double MillisecondsPerImageAtBatchSize,
    double MillisecondsPerImageAtBatchSize1);
