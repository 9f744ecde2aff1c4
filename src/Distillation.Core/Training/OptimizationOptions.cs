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
    /// The factor by which the biases of the model's BatchNorm layers learn faster than the other
    /// parameters (airbench uses 64: a few hundred bias values set each channel's threshold, and the
    /// base rate moves them too slowly). Their weight decay is divided by the same factor, so that
    /// every parameter is shrunk by the same <c>rate · decay</c> per step. Must be &gt; 0. Default: 1
    /// (one rate for all).
    /// </summary>
    public double NormBiasLearningRateScale { get; set; } = 1;

    /// <summary>
    /// The largest total (L2) norm the gradients of one step may have; larger ones are scaled down
    /// to it before the step (<see cref="Optimization.ClipGradients"/>). Null turns clipping off.
    /// Default: null.
    /// </summary>
    public double? GradientClipNorm { get; set; }

    /// <summary>
    /// Checks every value against what the optimizer can run: the learning rate, weight decay and
    /// clipping norm must be finite float32 numbers (≤ 3.4e38, and 0 or ≥ 1.2e-38: they scale float32
    /// tensors), momentum and betas must lie in [0, 1).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the one-line message names the option and the value.</exception>
    public void Validate()
    {
        if (!Enum.IsDefined(Kind))
        {
            throw OptionChecks.OutOfRange(nameof(Kind), Kind, "one of Adam, AdamW, Sgd");
        }

        // The rate and the decay multiply float32 weights and gradients: they must be float32 numbers.
        OptionChecks.FloatIn(LearningRate, nameof(LearningRate), 0, OptionChecks.FloatMax, minExclusive: true);
        OptionChecks.FloatIn(WeightDecay, nameof(WeightDecay), 0, OptionChecks.FloatMax);
        OptionChecks.FractionIn(Momentum, nameof(Momentum), 0, 1);
        if (Nesterov && Momentum <= 0)
        {
            throw OptionChecks.OutOfRange(nameof(Nesterov), Nesterov, "false when Momentum is 0 (Nesterov momentum needs Momentum > 0)");
        }

        OptionChecks.FloatIn(NormBiasLearningRateScale, nameof(NormBiasLearningRateScale), 0, OptionChecks.FloatMax, minExclusive: true);
        OptionChecks.FractionIn(Beta1, nameof(Beta1), 0, 1);
        OptionChecks.FractionIn(Beta2, nameof(Beta2), 0, 1);
        if (GradientClipNorm is { } clip)
        {
            OptionChecks.FloatIn(clip, nameof(GradientClipNorm), 0, OptionChecks.FloatMax, minExclusive: true);
        }
    }
}
