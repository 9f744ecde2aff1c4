namespace Distillation.Evaluation;

/// <summary>Settings of <see cref="Evaluator.MeasureSpeed"/>.</summary>
internal sealed class LatencyOptions
{
    /// <summary>
    /// Untimed passes before each timed series, so one-off costs (allocator growth, kernel selection,
    /// lazy initialisation) are not measured. Default: 2; may be 0.
    /// </summary>
    public int WarmupBatches { get; set; } = 2;

    /// <summary>Timed passes in each series (at <see cref="BatchSize"/>, then at batch size 1). Default: 10; must be ≥ 1.</summary>
    public int TimedBatches { get; set; } = 10;

    /// <summary>
    /// Images per pass in the throughput series. Default: 256; must be ≥ 1. A dataset with fewer
    /// images is measured at its own size.
    /// </summary>
    public int BatchSize { get; set; } = 256;

    /// <summary>Checks every value.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the parameter name is the property's.</exception>
    public void Validate()
    {
        if (WarmupBatches < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(WarmupBatches), WarmupBatches, "Warm-up batches must be ≥ 0.");
        }

        if (TimedBatches < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(TimedBatches), TimedBatches, "Timed batches must be ≥ 1.");
        }

        if (BatchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "The batch size must be ≥ 1.");
        }
    }
}
