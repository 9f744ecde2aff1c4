using System.Globalization;
using System.Text;
using Distillation.Models.Zoo;

namespace Distillation.Models.Tests.Zoo;

/// <summary>docs/models.md carries the registry's table; this keeps the two the same.</summary>
public sealed class ModelsDocumentTests
{
    private static string FamilyName(ModelFamily family) => family switch
    {
        ModelFamily.CifarResNet => "CIFAR ResNet",
        ModelFamily.WideResNet => "Wide ResNet",
        ModelFamily.CifarMobileNetV2 => "CIFAR MobileNetV2",
        ModelFamily.ResNet => "ResNet (torchvision)",
        ModelFamily.MobileNetV2 => "MobileNetV2 (torchvision)",
        ModelFamily.MobileNetV3 => "MobileNetV3 (torchvision)",
        ModelFamily.Airbench => "airbench (CIFAR)",
        _ => throw new ArgumentOutOfRangeException(nameof(family)),
    };

    /// <summary>The markdown table of every zoo model, from the registry.</summary>
    internal static string ModelsTable()
    {
        var table = new StringBuilder();
        table.Append("| Model | Family | Parameters (10 classes) | Input size (minimum) | Feature stages: module (channels, stride) |\n");
        table.Append("| --- | --- | ---: | --- | --- |\n");
        foreach (var model in ModelZoo.Models)
        {
            var stages = string.Join(", ", model.FeatureStages.Select(s => $"`{s.Module}` ({s.Channels}, /{s.Stride})"));
            table.Append(CultureInfo.InvariantCulture, $"| `{model.Name}` | {FamilyName(model.Family)} | {model.ParameterCount:N0} | {model.InputSize} (≥ {model.MinimumInputSize}) | {stages} |\n");
        }

        return table.ToString();
    }

    [Fact]
    public void Docs_models_md_has_the_registrys_table()
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        while (folder is not null && !File.Exists(Path.Combine(folder.FullName, "Distillation.sln")))
        {
            folder = folder.Parent;
        }

        folder.Should().NotBeNull("the tests run inside the repository");
        var document = File.ReadAllText(Path.Combine(folder!.FullName, "docs", "models.md")).ReplaceLineEndings("\n");
        var expected = ModelsTable();

        document.Contains(expected, StringComparison.Ordinal).Should().BeTrue($"docs/models.md should contain the registry's table:\n{expected}");
    }
}
