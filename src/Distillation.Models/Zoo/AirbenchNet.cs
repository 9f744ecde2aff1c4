using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Models.Zoo;

/// <summary>
/// A fast, strong CIFAR teacher in the style of Keller Jordan's airbench networks (airbench94): a
/// fixed 2×2 whitening convolution whose filters come from the training images' patch covariance
/// (<see cref="InitializeWhitening"/>), GELU, three conv groups of 64, 256 and 256 channels (each
/// conv, 2×2 max-pool, BatchNorm, GELU, conv, BatchNorm, GELU), a global max-pool and a bias-free
/// linear head whose output is scaled by 1/9. Its BatchNorm layers learn a bias only (the scale
/// stays 1, eps 1e-12, running-statistics momentum 0.4), and each 3×3 convolution starts as the
/// identity on its first input channels (Dirac init).
/// </summary>
/// <remarks>
/// Module names follow airbench (<c>whiten</c>, <c>block1.conv1</c>, <c>block1.norm1</c>, …,
/// <c>head</c>). airbench pools with a fixed 3×3 window, valid for 32×32 inputs only; this pools
/// globally, which is the same at 32×32 and lets the model take larger images.
/// </remarks>
public sealed class AirbenchNet : Module<Tensor, Tensor>
{
    /// <summary>The factor airbench scales the logits by.</summary>
    internal const double LogitScale = 1.0 / 9;

    /// <summary>The whitening filters' regulariser, added to the eigenvalues (airbench's eps).</summary>
    private const double WhiteningEpsilon = 5e-4;

    // Field order is airbench's registration order, so state_dict() lists keys as PyTorch does.
    private readonly Conv2d whiten;
    private readonly GELU activation;
    private readonly Sequential block1;
    private readonly Sequential block2;
    private readonly Sequential block3;
    private readonly Linear head;

    /// <summary>Creates the network with airbench94's widths.</summary>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="widths">The three groups' channels; airbench94's 64, 256, 256 when null.</param>
    public AirbenchNet(int numClasses, IReadOnlyList<int>? widths = null)
        : base("AirbenchNet")
    {
        widths ??= [64, 256, 256];
        const int whitenedChannels = 2 * 3 * 2 * 2;
        whiten = Conv2d(3, whitenedChannels, kernel_size: 2, stride: 1, padding: 0L, bias: true);
        whiten.weight!.requires_grad = false;
        activation = GELU();
        block1 = ConvGroup(whitenedChannels, widths[0]);
        block2 = ConvGroup(widths[0], widths[1]);
        block3 = ConvGroup(widths[1], widths[2]);
        head = Linear(widths[2], numClasses, hasBias: false);
        RegisterComponents();
        NumClasses = numClasses;
    }

    /// <summary>Output classes.</summary>
    public int NumClasses { get; }

    /// <summary>Whether <see cref="InitializeWhitening"/> has set the whitening filters.</summary>
    public bool WhiteningInitialized { get; private set; }

    /// <summary>
    /// Sets the fixed whitening filters from the 2×2 patches of <paramref name="images"/> (airbench's
    /// <c>init_whitening_conv</c>): the eigenvectors of the patches' (uncentred) covariance, each
    /// divided by √(eigenvalue + 5e-4), and their negatives. Call it once, before training, with a few
    /// thousand normalized training images; the filters stay fixed afterwards.
    /// </summary>
    /// <param name="images">Normalized training images, <c>[N, 3, H, W]</c> with H, W ≥ 2, on any device.</param>
    /// <exception cref="ArgumentException">The images are not a non-empty <c>[N, 3, H, W]</c> float batch.</exception>
    public void InitializeWhitening(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4 || images.shape[1] != 3 || images.shape[0] == 0 || images.shape[2] < 2 || images.shape[3] < 2 || !images.is_floating_point())
        {
            throw new ArgumentException($"The whitening filters need a non-empty float batch of [N, 3, H, W] images with H, W ≥ 2; got {images.dtype} [{string.Join(", ", images.shape)}].", nameof(images));
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var weight = whiten.weight!;
        var patchSize = 3 * 2 * 2;

        // Every 2×2 patch as a row of 12 values, in the (channel, row, column) order of the filters.
        var patches = images.to(float32).to(weight.device)
            .unfold(2, 2, 1).unfold(3, 2, 1)      // [N, 3, H-1, W-1, 2, 2]
            .permute(0, 2, 3, 1, 4, 5)            // [N, H-1, W-1, 3, 2, 2]
            .reshape(-1, patchSize)
            .to(float64);
        var covariance = patches.t().matmul(patches).div(patches.shape[0]);
        var (eigenvalues, eigenvectors) = linalg.eigh(covariance);

        // Largest eigenvalue first, as airbench orders them.
        var order = arange(patchSize - 1, -1, -1, dtype: int64, device: weight.device);
        var values = eigenvalues.index_select(0, order);
        var vectors = eigenvectors.t().index_select(0, order);
        var scaled = vectors.div(values.add(WhiteningEpsilon).sqrt().unsqueeze(1)).reshape(patchSize, 3, 2, 2);
        weight.copy_(cat([scaled, scaled.neg()], 0).to(weight.dtype));
        WhiteningInitialized = true;
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var whitened = whiten.call(input);
        using var x0 = activation.call(whitened);
        using var x1 = block1.call(x0);
        using var x2 = block2.call(x1);
        using var x3 = block3.call(x2);
        using var pooled = x3.amax([2, 3]);
        using var logits = head.call(pooled);
        return logits.mul(LogitScale);
    }

    /// <summary>airbench's <c>ConvGroup</c>: conv1, pool, norm1, activ, conv2, norm2, activ.</summary>
    private static Sequential ConvGroup(long input, long output) => Sequential(
        ("conv1", IdentityInitializedConv(input, output)),
        ("pool", MaxPool2d(2)),
        ("norm1", BiasOnlyBatchNorm(output)),
        ("activ1", GELU()),
        ("conv2", IdentityInitializedConv(output, output)),
        ("norm2", BiasOnlyBatchNorm(output)),
        ("activ2", GELU()));

    /// <summary>A bias-free 3×3 "same" convolution with PyTorch's default init, then the identity (Dirac) on its first input-many filters.</summary>
    private static Conv2d IdentityInitializedConv(long input, long output)
    {
        var conv = ZooLayers.Conv(input, output, 3);
        using var noGrad = no_grad();
        using var identity = conv.weight!.narrow(0, 0, Math.Min(input, output));
        init.dirac_(identity);
        return conv;
    }

    /// <summary>BatchNorm with a learned bias only: the scale stays 1 (airbench's <c>weight=False</c>).</summary>
    private static BatchNorm2d BiasOnlyBatchNorm(long channels)
    {
        var norm = BatchNorm2d(channels, eps: 1e-12, momentum: 0.4);
        norm.weight!.requires_grad = false;
        return norm;
    }
}
