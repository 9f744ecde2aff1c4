using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>The running average of <see cref="LookaheadOptions"/> over one run of one model.</summary>
internal sealed class LookaheadAveraging : IDisposable
{
    private readonly LookaheadOptions options;
    private readonly long totalSteps;
    private readonly (Tensor Model, Tensor Average)[] state;

    /// <summary>Starts the average at the model's current state.</summary>
    /// <param name="model">The model being trained.</param>
    /// <param name="options">The settings.</param>
    /// <param name="totalSteps">The optimizer steps of the whole run, ≥ 1.</param>
    public LookaheadAveraging(nn.Module model, LookaheadOptions options, long totalSteps)
    {
        this.options = options;
        this.totalSteps = Math.Max(1, totalSteps);
        using var noGrad = no_grad();

        // Floating-point entries only: BatchNorm's batch counter is an integer and is left alone.
        state = model.state_dict()
            .Where(entry => entry.Value.is_floating_point())
            .Select(entry => (entry.Value, entry.Value.detach().clone().DetachFromDisposeScope()))
            .ToArray();
    }

    /// <summary>Call after every optimizer step; updates the average and sets the model to it when the step is due.</summary>
    /// <param name="stepsTaken">Optimizer steps taken in the run so far, this one included.</param>
    public void AfterStep(long stepsTaken)
    {
        if (stepsTaken == totalSteps)
        {
            // airbench ends with decay 1: the model takes the average as it stands.
            Update(1);
        }
        else if (stepsTaken % options.EverySteps == 0)
        {
            Update(options.FinalDecay * Math.Pow((double)stepsTaken / totalSteps, options.Power));
        }
    }

    private void Update(double decay)
    {
        using var noGrad = no_grad();
        foreach (var (model, average) in state)
        {
            average.lerp_(model, 1 - decay);
            model.copy_(average);
        }
    }

    public void Dispose()
    {
        foreach (var (_, average) in state)
        {
            average.Dispose();
        }
    }
}
