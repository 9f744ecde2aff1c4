namespace Distillation.Training;

/// <summary>The number format of a training step's forward and backward pass (<see cref="TrainerOptions.Precision"/>).</summary>
public enum TrainingPrecision
{
    /// <summary>float32 throughout. A run reproduces to the bit on the same machine and libtorch.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "Named as TorchSharp's ScalarType.Float32, which it means.")]
    Float32,

    /// <summary>
    /// Mixed precision, as PyTorch's <c>torch.autocast(device, torch.bfloat16)</c> (it is libtorch's
    /// own autocast): the model keeps float32 weights, gradients and optimizer state; its
    /// convolutions, linear layers and matrix products run forward and backward in bfloat16;
    /// BatchNorm keeps float32 parameters and statistics; the logits, features and every loss are
    /// float32. Evaluation runs in float32. Measured 1.9–2.1× faster than float32 for the notebook's
    /// networks, ResNets, WRNs and the airbench net on a CPU with AVX512-BF16 (1.2× for MobileNetV2's
    /// depthwise convolutions), with channels-last batches (<see cref="TrainerOptions.ChannelsLast"/>);
    /// several times slower on CPUs without bfloat16 instructions, where a run warns once.
    /// </summary>
    BFloat16Mixed,

    /// <summary>
    /// <see cref="BFloat16Mixed"/> where the device has bfloat16 instructions and a short probe
    /// measures bfloat16 faster (the run logs the decision and its reason), and for a model whose floating
    /// values are all float32; <see cref="Float32"/> elsewhere. The choice is logged, and recorded
    /// in checkpoints.
    /// </summary>
    Auto,

    /// <summary>
    /// Mixed precision in float16, as PyTorch's <c>torch.autocast(device, torch.float16)</c> with a
    /// <c>GradScaler</c>: float32 weights, gradients and optimizer state; convolutions, linear layers
    /// and matrix products in float16 under libtorch's autocast; losses in float32; the loss scaled
    /// dynamically before the backward pass (from 2¹⁶: a step whose gradients overflow is skipped and
    /// the scale halved, and it doubles after 2,000 steps without one), the gradients unscaled in
    /// float32 before clipping and the step. Meant for GPUs with float16 units; on a CPU it runs,
    /// slowly (no float16 instructions there) and with a warning, so the logic can be tested.
    /// Never chosen by <see cref="Auto"/>.
    /// </summary>
    Float16Mixed,
}
