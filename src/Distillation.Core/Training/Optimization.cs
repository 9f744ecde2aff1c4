using Distillation.Devices;
using TorchSharp;
using TorchSharp.Modules;

namespace Distillation.Training;

/// <summary>Creating TorchSharp optimizers from <see cref="OptimizationOptions"/>, and clipping gradients.</summary>
internal static class Optimization
{
    /// <summary>Creates the optimizer <paramref name="options"/> describe, with one parameter group.</summary>
    /// <param name="parameters">The parameters to optimize (read once).</param>
    /// <param name="options">The algorithm and its hyper-parameters.</param>
    /// <returns>A <see cref="Adam"/>, <see cref="AdamW"/> or <see cref="SGD"/> optimizer; dispose it after training.</returns>
    /// <exception cref="ArgumentException">There are no parameters.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static torch.optim.Optimizer CreateOptimizer(IEnumerable<Parameter> parameters, OptimizationOptions options)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        TorchRuntime.EnsureAvailable();
        var list = parameters.ToArray();
        if (list.Length == 0)
        {
            throw new ArgumentException("The optimizer got no parameters.", nameof(parameters));
        }

        // Every hyper-parameter is passed explicitly: TorchSharp's defaults have differed from PyTorch's between versions.
        return options.Kind switch
        {
            OptimizerKind.Adam => new Adam(list, options.LearningRate, options.Beta1, options.Beta2, weight_decay: options.WeightDecay),
            OptimizerKind.AdamW => new AdamW(list, options.LearningRate, options.Beta1, options.Beta2, weight_decay: options.WeightDecay),
            OptimizerKind.Sgd => new SGD(list, options.LearningRate, options.Momentum, dampening: 0, weight_decay: options.WeightDecay, nesterov: options.Nesterov),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "Unknown optimizer kind."),
        };
    }

    /// <summary>
    /// Scales the gradients of <paramref name="parameters"/> down, all by the same factor, so that
    /// their total L2 norm is at most <paramref name="maxNorm"/> (PyTorch's <c>clip_grad_norm_</c>).
    /// Call it between <c>backward()</c> and the optimizer's <c>step()</c>; parameters without a
    /// gradient are skipped.
    /// </summary>
    /// <param name="parameters">The parameters whose gradients to clip.</param>
    /// <param name="maxNorm">The largest total norm allowed, finite and &gt; 0.</param>
    /// <returns>The total norm before clipping (useful to log).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxNorm"/> is out of range.</exception>
    public static double ClipGradients(IEnumerable<Parameter> parameters, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!double.IsFinite(maxNorm) || maxNorm <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "The maximum norm must be a finite number > 0.");
        }

        return torch.nn.utils.clip_grad_norm_(parameters.ToArray(), maxNorm);
    }
}
