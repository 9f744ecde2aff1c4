namespace Distillation.Training;

/// <summary>The optimization algorithm.</summary>
public enum OptimizerKind
{
    /// <summary>Adam; weight decay is an L2 term added to the gradient (PyTorch's <c>Adam(weight_decay=…)</c>).</summary>
    Adam,

    /// <summary>AdamW: Adam with decoupled weight decay (Loshchilov and Hutter).</summary>
    AdamW,

    /// <summary>Stochastic gradient descent, with optional (Nesterov) momentum; weight decay is an L2 term added to the gradient.</summary>
    Sgd,
}

/// <summary>
/// Settings of the optimizer made by <see cref="Optimization.CreateOptimizer"/>. Defaults give the
/// notebook's optimizer: Adam, learning rate 0.001, betas (0.9, 0.999), no weight decay.
/// </summary>
public sealed class OptimizationOptions
{
    /// <summary>The algorithm. Default: <see cref="OptimizerKind.Adam"/>.</summary>
    public OptimizerKind Kind { get; set; } = OptimizerKind.Adam;

    /// <summary>The base learning rate (a <see cref="LearningRateSchedule"/> varies it per epoch). Default: 0.001.</summary>
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>
    /// Weight decay, ≥ 0. Adam and SGD add <c>WeightDecay·θ</c> to the gradient; AdamW shrinks the
    /// weights by <c>LearningRate·WeightDecay·θ</c> apart from the gradient. Default: 0 (so AdamW
    /// then equals Adam; PyTorch's AdamW defaults to 0.01).
    /// </summary>
    public double WeightDecay { get; set; }

    /// <summary>SGD's momentum, in [0, 1); ignored by Adam and AdamW. Default: 0.9.</summary>
    public double Momentum { get; set; } = 0.9;

    /// <summary>Whether SGD uses Nesterov momentum (which needs <see cref="Momentum"/> &gt; 0); ignored by Adam and AdamW. Default: false.</summary>
    public bool Nesterov { get; set; }

    /// <summary>Adam's and AdamW's decay rate of the gradient average, in [0, 1). Default: 0.9.</summary>
    public double Beta1 { get; set; } = 0.9;

    /// <summary>Adam's and AdamW's decay rate of the squared-gradient average, in [0, 1). Default: 0.999.</summary>
    public double Beta2 { get; set; } = 0.999;

    /// <summary>
    /// The largest total (L2) norm the gradients of one step may have; larger ones are scaled down
    /// to it before the step (<see cref="Optimization.ClipGradients"/>). Null turns clipping off.
    /// Default: null.
    /// </summary>
    public double? GradientClipNorm { get; set; }

    /// <summary>Checks every value.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        if (!Enum.IsDefined(Kind))
        {
            throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "Unknown optimizer kind.");
        }

        if (!double.IsFinite(LearningRate) || LearningRate <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "The learning rate must be a finite number > 0.");
        }

        if (!double.IsFinite(WeightDecay) || WeightDecay < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "The weight decay must be a finite number ≥ 0.");
        }

        RequireUnitInterval(Momentum, nameof(Momentum));
        if (Nesterov && Momentum <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Nesterov), Nesterov, "Nesterov momentum needs Momentum > 0.");
        }

        RequireUnitInterval(Beta1, nameof(Beta1));
        RequireUnitInterval(Beta2, nameof(Beta2));
        if (GradientClipNorm is { } clip && (!double.IsFinite(clip) || clip <= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(GradientClipNorm), clip, "The gradient clipping norm must be a finite number > 0 (or null for no clipping).");
        }
    }

    private static void RequireUnitInterval(double value, string name)
    {
        if (!(value >= 0 && value < 1))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must lie in [0, 1).");
        }
    }
}
