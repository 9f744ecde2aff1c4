using TorchSharp;

namespace Distillation.Models.Zoo;

/// <summary>
/// The standard architectures people distil, by name: the CIFAR-style networks of the distillation
/// benchmarks (RepDistiller, mdistiller) and torchvision's ImageNet-style ResNets and MobileNets,
/// whose module names are torchvision's so its state dicts load with no renaming.
/// </summary>
/// <example>
/// <code>
/// using var student = ModelZoo.Create("resnet20", classes: 10);
/// var stages = ModelZoo.Get("resnet56").FeatureStages; // layer1, layer2, layer3
/// </code>
/// </example>
public static class ModelZoo
{
    private static readonly ZooFeatureStage[] CifarResNetStages = [new("layer1", 16, 1), new("layer2", 32, 2), new("layer3", 64, 4)];
    private static readonly ZooFeatureStage[] CifarResNetX4Stages = [new("layer1", 64, 1), new("layer2", 128, 2), new("layer3", 256, 4)];
    private static readonly ZooFeatureStage[] WideResNet2Stages = [new("block1", 32, 1), new("block2", 64, 2), new("block3", 128, 4)];

    private static readonly ZooModelInfo[] All =
    [
        Cifar("resnet20", ModelFamily.CifarResNet, 272_474, 4, CifarResNetStages, "CIFAR ResNet-20 (RepDistiller/mdistiller resnet20; 1×1 projection shortcuts)", c => new CifarResNet(20, [16, 16, 32, 64], c)),
        Cifar("resnet32", ModelFamily.CifarResNet, 466_906, 4, CifarResNetStages, "CIFAR ResNet-32 (RepDistiller/mdistiller resnet32)", c => new CifarResNet(32, [16, 16, 32, 64], c)),
        Cifar("resnet56", ModelFamily.CifarResNet, 855_770, 4, CifarResNetStages, "CIFAR ResNet-56 (RepDistiller/mdistiller resnet56)", c => new CifarResNet(56, [16, 16, 32, 64], c)),
        Cifar("resnet110", ModelFamily.CifarResNet, 1_730_714, 4, CifarResNetStages, "CIFAR ResNet-110 (RepDistiller/mdistiller resnet110)", c => new CifarResNet(110, [16, 16, 32, 64], c)),
        Cifar("resnet8x4", ModelFamily.CifarResNet, 1_210_410, 4, CifarResNetX4Stages, "CIFAR ResNet-8, 4× wider (RepDistiller/mdistiller resnet8x4)", c => new CifarResNet(8, [32, 64, 128, 256], c)),
        Cifar("resnet32x4", ModelFamily.CifarResNet, 7_410_730, 4, CifarResNetX4Stages, "CIFAR ResNet-32, 4× wider (RepDistiller/mdistiller resnet32x4)", c => new CifarResNet(32, [32, 64, 128, 256], c)),
        Cifar("wrn_16_2", ModelFamily.WideResNet, 691_674, 4, WideResNet2Stages, "Wide ResNet 16-2 (RepDistiller/mdistiller wrn_16_2)", c => new WideResNet(16, 2, c)),
        Cifar("wrn_40_2", ModelFamily.WideResNet, 2_243_546, 4, WideResNet2Stages, "Wide ResNet 40-2 (RepDistiller/mdistiller wrn_40_2)", c => new WideResNet(40, 2, c)),
        Cifar(
            "mobilenetv2",
            ModelFamily.CifarMobileNetV2,
            697_546,
            16,
            [new("blocks.1", 12, 2), new("blocks.2", 16, 4), new("blocks.4", 48, 8), new("blocks.6", 160, 16)],
            "CIFAR MobileNetV2, width 0.5 (RepDistiller/mdistiller mobile_half)",
            c => new CifarMobileNetV2(c)),
        Cifar(
            "airbench",
            ModelFamily.Airbench,
            1_972_792,
            16,
            [new("block1", 64, 2), new("block2", 256, 4), new("block3", 256, 8)],
            "CIFAR airbench94-style net: data-whitened 2×2 stem, conv groups 64/256/256 with bias-only BatchNorm and GELU (a fast, strong teacher)",
            c => new AirbenchNet(c)),
        ImageNet("resnet18", ModelFamily.ResNet, 11_181_642, ResNetStages(1), "torchvision resnet18", c => new ResNet(bottleneck: false, [2, 2, 2, 2], c)),
        ImageNet("resnet34", ModelFamily.ResNet, 21_289_802, ResNetStages(1), "torchvision resnet34", c => new ResNet(bottleneck: false, [3, 4, 6, 3], c)),
        ImageNet("resnet50", ModelFamily.ResNet, 23_528_522, ResNetStages(Bottleneck.Expansion), "torchvision resnet50", c => new ResNet(bottleneck: true, [3, 4, 6, 3], c)),
        ImageNet(
            "mobilenet_v2",
            ModelFamily.MobileNetV2,
            2_236_682,
            [new("features.3", 24, 4), new("features.6", 32, 8), new("features.13", 96, 16), new("features.17", 320, 32)],
            "torchvision mobilenet_v2",
            c => new MobileNetV2(c)),
        ImageNet(
            "mobilenet_v3_small",
            ModelFamily.MobileNetV3,
            1_528_106,
            [new("features.1", 16, 4), new("features.3", 24, 8), new("features.8", 48, 16), new("features.11", 96, 32)],
            "torchvision mobilenet_v3_small",
            c => new MobileNetV3(large: false, c)),
        ImageNet(
            "mobilenet_v3_large",
            ModelFamily.MobileNetV3,
            4_214_842,
            [new("features.3", 24, 4), new("features.6", 40, 8), new("features.12", 112, 16), new("features.15", 160, 32)],
            "torchvision mobilenet_v3_large",
            c => new MobileNetV3(large: true, c)),
    ];

    /// <summary>Every model, CIFAR-style first, in a fixed order.</summary>
    public static IReadOnlyList<ZooModelInfo> Models { get; } = Array.AsReadOnly(All);

    /// <summary>The model of that name (case-insensitive).</summary>
    /// <param name="name">A name from <see cref="Models"/>, such as <c>resnet20</c> or <c>mobilenet_v3_small</c>.</param>
    /// <returns>The model's description.</returns>
    /// <exception cref="ArgumentException">No model has that name; the message lists the valid names, the nearest first.</exception>
    public static ZooModelInfo Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var found = All.FirstOrDefault(m => string.Equals(m.Name, name.Trim(), StringComparison.OrdinalIgnoreCase));
        if (found is not null)
        {
            return found;
        }

        var nearest = All
            .Select((m, order) => (m.Name, Distance: EditDistance(name.Trim().ToLowerInvariant(), m.Name), order))
            .OrderBy(m => m.Distance)
            .ThenBy(m => m.order)
            .Select(m => m.Name);
        throw new ArgumentException($"The model zoo has no model '{name}'. Valid names, nearest first: {string.Join(", ", nearest)}.", nameof(name));
    }

    /// <summary>Creates a model by name with fresh weights, initialised as its reference implementation does.</summary>
    /// <param name="name">A name from <see cref="Models"/> (case-insensitive).</param>
    /// <param name="classes">Output classes, at least 1.</param>
    /// <returns>The model, in training mode; dispose it when done.</returns>
    /// <exception cref="ArgumentException">No model has that name; the message lists the valid names, the nearest first.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="classes"/> is below 1.</exception>
    public static torch.nn.Module<torch.Tensor, torch.Tensor> Create(string name, int classes) => Get(name).Create(classes);

    private static ZooFeatureStage[] ResNetStages(int expansion) =>
        [new("layer1", 64 * expansion, 4), new("layer2", 128 * expansion, 8), new("layer3", 256 * expansion, 16), new("layer4", 512 * expansion, 32)];

    private static ZooModelInfo Cifar(
        string name, ModelFamily family, long parameters, int minimumInput, ZooFeatureStage[] stages, string description, Func<int, torch.nn.Module<torch.Tensor, torch.Tensor>> factory) =>
        new(name, family, parameters, inputSize: 32, minimumInput, Array.AsReadOnly(stages), description, factory);

    private static ZooModelInfo ImageNet(
        string name, ModelFamily family, long parameters, ZooFeatureStage[] stages, string description, Func<int, torch.nn.Module<torch.Tensor, torch.Tensor>> factory) =>
        new(name, family, parameters, inputSize: 224, minimumInputSize: 32, Array.AsReadOnly(stages), description, factory);

    /// <summary>Levenshtein distance, to put the names closest to a typo first.</summary>
    private static int EditDistance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        var current = new int[b.Length + 1];
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
