using Distillation.Training;

namespace Distillation.Tests;

/// <summary>
/// Distillation.Core's public surface stays what users name in code: at most 65 public top-level
/// types (the teacher-abstraction issue's bound), with the helpers, probes and test seams internal.
/// A new public type means another one goes, or the bound is raised on purpose, in review.
/// </summary>
public sealed class PublicSurfaceTests
{
    private static readonly Type[] Exported = typeof(Trainer<,>).Assembly.GetExportedTypes();

    [Fact]
    public void Core_has_at_most_65_public_top_level_types()
    {
        var topLevel = Exported.Where(t => !t.IsNested).Select(t => t.FullName!).Order().ToArray();

        topLevel.Length.Should().BeLessThanOrEqualTo(65, "the public types are: " + string.Join(", ", topLevel));
    }

    [Theory]
    [InlineData("Distillation.IO.AtomicFile")]
    [InlineData("Distillation.Diagnostics.ProcessMemory")]
    [InlineData("Distillation.Devices.DeviceSelector")]
    [InlineData("Distillation.Devices.BFloat16Speed")]
    [InlineData("Distillation.Devices.TorchRuntime")]
    [InlineData("Distillation.Evaluation.LatencyOptions")]
    public void Helpers_and_probes_are_internal(string name)
    {
        var type = typeof(Trainer<,>).Assembly.GetType(name);

        type.Should().NotBeNull($"{name} still exists");
        type!.IsPublic.Should().BeFalse($"{name} is a helper, not a thing users name");
    }

    [Fact]
    public void Image_decoding_is_not_in_Core()
    {
        typeof(Trainer<,>).Assembly.GetReferencedAssemblies().Select(a => a.Name).Should().NotContain("SkiaSharp");
        Exported.Should().NotContain(t => t.Name.StartsWith("Cifar10", StringComparison.Ordinal) || t.Name.Contains("ImageFolder", StringComparison.Ordinal));
    }
}
