using Xunit.Abstractions;

namespace Distillation.Models.Tests.Zoo;

/// <summary>
/// Loads state dicts saved by PyTorch (RepDistiller's code for the CIFAR models, torchvision 0.14 for
/// the ImageNet ones; eng/make-zoo-fixtures.py) into the zoo's models and compares the logits.
/// </summary>
public sealed class PyTorchLogitsTests(ITestOutputHelper output)
{
    public static TheoryData<string> CommittedCases() => new(ZooReference.Cases(Path.Combine(ZooReference.Folder, "logits")).Select(c => c.Model));

    /// <summary>Small float16 fixtures committed with the tests: one per block family (CIFAR ResNet, wide ResNet, CIFAR MobileNetV2, MobileNetV3).</summary>
    [Theory]
    [MemberData(nameof(CommittedCases))]
    public void Committed_PyTorch_state_dict_gives_PyTorchs_logits(string model)
    {
        var testCase = ZooReference.Cases(Path.Combine(ZooReference.Folder, "logits")).Single(c => c.Model == model);

        var (diff, sameArgmax, shape) = ZooTestSupport.CompareLogits(testCase);

        output.WriteLine($"{model} at {testCase.InputSize}px ({testCase.DType} weights): max abs diff {diff:E2}, same argmax {sameArgmax}");
        shape.Should().Equal(2, testCase.Classes);
        diff.Should().BeLessThanOrEqualTo(1e-4);
        sameArgmax.Should().BeTrue();
    }

    /// <summary>
    /// The full-size torchvision state dicts (resnet18 is 45 MB, so not committed): run
    /// <c>/usr/bin/python3 eng/make-zoo-fixtures.py --large-dir DIR</c> and set
    /// DISTILLATION_ZOO_LARGE_FIXTURES=DIR.
    /// </summary>
    [SkippableFact]
    public void Torchvision_state_dicts_at_224px_give_PyTorchs_logits()
    {
        var folder = Environment.GetEnvironmentVariable(ZooReference.LargeFixturesVariable);
        Skip.If(
            string.IsNullOrEmpty(folder) || !File.Exists(Path.Combine(folder, "cases.json")),
            $"Set {ZooReference.LargeFixturesVariable} to a folder written by `/usr/bin/python3 eng/make-zoo-fixtures.py --large-dir DIR` (torchvision 0.14 state dicts, ~260 MB, not committed).");

        var cases = ZooReference.Cases(folder!);
        cases.Select(c => c.Model).Should().Contain("resnet18");
        foreach (var testCase in cases)
        {
            var (diff, sameArgmax, shape) = ZooTestSupport.CompareLogits(testCase);
            output.WriteLine($"{testCase.Model} at {testCase.InputSize}px ({testCase.DType} weights, {new FileInfo(testCase.StateDictPath).Length:N0} bytes): max abs diff {diff:E2}, same argmax {sameArgmax}");
            shape.Should().Equal(2, testCase.Classes);
            diff.Should().BeLessThanOrEqualTo(1e-4, testCase.Model);
            sameArgmax.Should().BeTrue(testCase.Model);
        }
    }
}
