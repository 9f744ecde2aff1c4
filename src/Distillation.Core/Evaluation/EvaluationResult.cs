namespace Distillation.Evaluation;

/// <summary>How a model did on a labelled dataset.</summary>
/// <param name="Correct">Images whose arg-max prediction equals the label.</param>
/// <param name="Total">Images evaluated.</param>
/// <param name="Elapsed">Wall time of the evaluation.</param>
public sealed record EvaluationResult(long Correct, long Total, TimeSpan Elapsed)
{
    /// <summary>Top-1 accuracy in [0, 1].</summary>
    public double Accuracy => Total == 0 ? 0 : (double)Correct / Total;

    /// <summary>Inference throughput.</summary>
    public double ImagesPerSecond => Elapsed > TimeSpan.Zero ? Total / Elapsed.TotalSeconds : 0;
}
