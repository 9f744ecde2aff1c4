using Distillation.Devices;
using TorchSharp;
using TorchSharp.Modules;

namespace Distillation.Training;

/// <summary>Creating TorchSharp optimizers from <see cref="OptimizationOptions"/>, and clipping gradients.</summary>
internal static class Optimization
{
    /// <summary>
    /// Creates the optimizer <paramref name="options"/> describe: one parameter group, or two when
    /// <see cref="OptimizationOptions.NormBiasLearningRateScale"/> is not 1 and some parameters are
    /// BatchNorm biases (those then learn at the scaled rate, with the weight decay divided by it).
    /// </summary>
    /// <param name="parameters">The parameters to optimize (read once).</param>
    /// <param name="options">The algorithm and its hyper-parameters.</param>
    /// <param name="normBiases">Which of <paramref name="parameters"/> are BatchNorm biases; none when null.</param>
    /// <returns>A <see cref="Adam"/>, <see cref="AdamW"/> or <see cref="SGD"/> optimizer; dispose it after training.</returns>
    /// <exception cref="ArgumentException">There are no parameters.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static torch.optim.Optimizer CreateOptimizer(IEnumerable<Parameter> parameters, OptimizationOptions options, IReadOnlySet<Parameter>? normBiases = null)
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
        var (rate, decay, scale) = (options.LearningRate, options.WeightDecay, options.NormBiasLearningRateScale);
        var biases = scale == 1 || normBiases is null ? [] : list.Where(normBiases.Contains).ToArray();
        if (biases.Length == 0)
        {
            return options.Kind switch
            {
                OptimizerKind.Adam => new Adam(list, rate, options.Beta1, options.Beta2, weight_decay: decay),
                OptimizerKind.AdamW => new AdamW(list, rate, options.Beta1, options.Beta2, weight_decay: decay),
                OptimizerKind.Sgd => new SGD(list, rate, options.Momentum, dampening: 0, weight_decay: decay, nesterov: options.Nesterov),
                _ => throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "Unknown optimizer kind."),
            };
        }

        // The rest first: the schedule and the reports read the first group's rate as the run's rate.
        var rest = list.Where(p => !normBiases!.Contains(p)).ToArray();
        var (biasRate, biasDecay) = (rate * scale, decay / scale);
        return options.Kind switch
        {
            OptimizerKind.Adam => new Adam(
                [new Adam.ParamGroup(rest, rate, options.Beta1, options.Beta2, weight_decay: decay), new Adam.ParamGroup(biases, biasRate, options.Beta1, options.Beta2, weight_decay: biasDecay)],
                rate, options.Beta1, options.Beta2, weight_decay: decay),
            OptimizerKind.AdamW => new AdamW(
                [new AdamW.ParamGroup(rest, rate, options.Beta1, options.Beta2, weight_decay: decay), new AdamW.ParamGroup(biases, biasRate, options.Beta1, options.Beta2, weight_decay: biasDecay)],
                rate, options.Beta1, options.Beta2, weight_decay: decay),
            OptimizerKind.Sgd => new SGD(
                [new SGD.ParamGroup(rest, rate, options.Momentum, dampening: 0, weight_decay: decay, nesterov: options.Nesterov),
                 new SGD.ParamGroup(biases, biasRate, options.Momentum, dampening: 0, weight_decay: biasDecay, nesterov: options.Nesterov)],
                rate, options.Momentum, dampening: 0, weight_decay: decay, nesterov: options.Nesterov),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "Unknown optimizer kind."),
        };
    }

    /// <summary>The biases of every BatchNorm layer of <paramref name="model"/> that are trained (<see cref="OptimizationOptions.NormBiasLearningRateScale"/>).</summary>
    /// <param name="model">The model.</param>
    /// <returns>The bias parameters, compared by reference.</returns>
    public static IReadOnlySet<Parameter> NormBiases(torch.nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var biases = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        foreach (var (_, module) in model.named_modules())
        {
            if (module is BatchNorm { bias: { requires_grad: true } bias })
            {
                biases.Add(bias);
            }
        }

        return biases;
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
