using Distillation.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Benchmarks;

/// <summary>The notebook's teacher with in-place ReLUs: the same layers and parameter names as <see cref="TeacherNet"/>.</summary>
internal sealed class InPlaceReluTeacherNet()
    : FeatureClassifierNet(nameof(TeacherNet), 10, Features(), Classifier())
{
    private static Sequential Features() => Sequential(
        ("0", Conv2d(3, 128, kernel_size: 3, padding: 1)),
        ("1", ReLU(inplace: true)),
        ("2", Conv2d(128, 64, kernel_size: 3, padding: 1)),
        ("3", ReLU(inplace: true)),
        ("4", MaxPool2d(kernel_size: 2, stride: 2)),
        ("5", Conv2d(64, 64, kernel_size: 3, padding: 1)),
        ("6", ReLU(inplace: true)),
        ("7", Conv2d(64, 32, kernel_size: 3, padding: 1)),
        ("8", ReLU(inplace: true)),
        ("9", MaxPool2d(kernel_size: 2, stride: 2)));

    private static Sequential Classifier() => Sequential(
        ("0", Flatten()),
        ("1", Linear(2048, 512)),
        ("2", ReLU(inplace: true)),
        ("3", Linear(512, 10)));
}

/// <summary>Channels-last without a memory-format argument.</summary>
internal static class ChannelsLast
{
    /// <summary>
    /// The same [N, C, H, W] values stored N, H, W, C: permute to NHWC, make that contiguous, permute
    /// back. The result has PyTorch's channels-last strides (C·W·H, 1, W·C, C), which is all
    /// <c>memory_format=torch.channels_last</c> means, and libtorch's convolutions follow the
    /// input's layout.
    /// </summary>
    public static Tensor Of(Tensor images) => images.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

    /// <summary>Replaces every convolution's weight by a channels-last copy (before an optimizer is made).</summary>
    public static void ConvertWeights(nn.Module model)
    {
        using var noGrad = no_grad();
        foreach (var conv in model.modules().OfType<TorchSharp.Modules.Conv2d>())
        {
            var weight = conv.weight!;
            conv.weight = new TorchSharp.Modules.Parameter(Of(weight.detach()).DetachFromDisposeScope());
            weight.Dispose();
        }
    }

    /// <summary>Whether the tensor has channels-last strides.</summary>
    public static bool Is(Tensor t) => t.dim() == 4 && t.stride(1) == 1 && t.stride(3) == t.shape[1] && t.shape[1] > 1;
}
