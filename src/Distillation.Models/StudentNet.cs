using TorchSharp.Modules;
using static TorchSharp.torch.nn;

namespace Distillation.Models;

/// <summary>
/// The student of the knowledge-distillation notebook: two 3×3 convolutions of 16 channels, each
/// followed by a 2×2 max-pool, then a 1024 → 256 → classes classifier. 267,738 parameters for 10
/// classes. Parameter names follow the PyTorch original (<c>features.0.weight</c>,
/// <c>classifier.1.weight</c>, …), so a PyTorch state dict maps one to one.
/// </summary>
public sealed class StudentNet : FeatureClassifierNet
{
    /// <summary>Creates the student with PyTorch's default initialization, drawn from torch's global generator.</summary>
    /// <param name="numClasses">Number of output classes (10 for CIFAR-10).</param>
    public StudentNet(int numClasses = 10)
        : base(nameof(StudentNet), CheckedClassCount(numClasses), BuildFeatures(), BuildClassifier(numClasses))
    {
    }

    /// <summary>The shape of the feature map for a 32×32 input: 16 channels of 8×8.</summary>
    public static IReadOnlyList<long> FeatureShape { get; } = [16, 8, 8];

    private static Sequential BuildFeatures() => Sequential(
        ("0", Conv2d(3, 16, kernel_size: 3, padding: 1)),
        ("1", ReLU()),
        ("2", MaxPool2d(kernel_size: 2, stride: 2)),
        ("3", Conv2d(16, 16, kernel_size: 3, padding: 1)),
        ("4", ReLU()),
        ("5", MaxPool2d(kernel_size: 2, stride: 2)));

    private static Sequential BuildClassifier(int numClasses) => Sequential(
        ("0", Flatten()),
        ("1", Linear(1024, 256)),
        ("2", ReLU()),
        ("3", Linear(256, numClasses)));
}
