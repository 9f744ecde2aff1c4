using TorchSharp.Modules;
using static TorchSharp.torch.nn;

namespace Distillation.Models;

/// <summary>
/// The teacher of the knowledge-distillation notebook: four 3×3 convolutions (128, 64, 64, 32
/// channels) with two 2×2 max-pools, then a 2048 → 512 → classes classifier. 1,186,986 parameters
/// for 10 classes. Parameter names follow the PyTorch original (<c>features.0.weight</c>,
/// <c>classifier.1.weight</c>, …), so a PyTorch state dict maps one to one.
/// </summary>
public sealed class TeacherNet : FeatureClassifierNet
{
    /// <summary>Creates the teacher with PyTorch's default initialization, drawn from torch's global generator.</summary>
    /// <param name="numClasses">Number of output classes (10 for CIFAR-10).</param>
    public TeacherNet(int numClasses = 10)
        : base(nameof(TeacherNet), CheckedClassCount(numClasses), BuildFeatures(), BuildClassifier(numClasses))
    {
    }

    /// <summary>The shape of the feature map for a 32×32 input: 32 channels of 8×8.</summary>
    public static IReadOnlyList<long> FeatureShape { get; } = [32, 8, 8];

    private static Sequential BuildFeatures() => Sequential(
        ("0", Conv2d(3, 128, kernel_size: 3, padding: 1)),
        ("1", ReLU()),
        ("2", Conv2d(128, 64, kernel_size: 3, padding: 1)),
        ("3", ReLU()),
        ("4", MaxPool2d(kernel_size: 2, stride: 2)),
        ("5", Conv2d(64, 64, kernel_size: 3, padding: 1)),
        ("6", ReLU()),
        ("7", Conv2d(64, 32, kernel_size: 3, padding: 1)),
        ("8", ReLU()),
        ("9", MaxPool2d(kernel_size: 2, stride: 2)));

    private static Sequential BuildClassifier(int numClasses) => Sequential(
        ("0", Flatten()),
        ("1", Linear(2048, 512)),
        ("2", ReLU()),
        ("3", Linear(512, numClasses)));
}
