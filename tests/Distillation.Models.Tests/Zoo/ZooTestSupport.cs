using Distillation.Models.Zoo;
using Distillation.Serialization;
using static TorchSharp.torch;

namespace Distillation.Models.Tests.Zoo;

internal static class ZooTestSupport
{
    public static long Parameters(nn.Module model) => model.parameters().Sum(p => p.numel());

    public static IReadOnlyList<string> StateDict(nn.Module model) =>
        model.state_dict().Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}]").ToList();

    /// <summary>Loads the case's PyTorch state dict into the zoo model and returns max |ours − PyTorch's| and whether every argmax agrees.</summary>
    public static (double MaxAbsDiff, bool SameArgmax, long[] Shape) CompareLogits(LogitsCase testCase)
    {
        using var scope = NewDisposeScope();
        using var model = ModelZoo.Create(testCase.Model, testCase.Classes);
        var result = model.LoadPyTorchStateDict(testCase.StateDictPath);
        result.IsExactMatch.Should().BeTrue($"{testCase.Model}: torchvision's / RepDistiller's keys load with no renaming");
        model.eval();
        var io = ZooReference.ReadTensors(testCase.InputOutputPath);
        using var _ = no_grad();
        var ours = model.call(io["input"]);
        var theirs = io["logits"];
        var diff = (ours - theirs).abs().max().item<float>();
        var sameArgmax = ours.argmax(1).eq(theirs.argmax(1)).all().item<bool>();
        return (diff, sameArgmax, ours.shape);
    }
}
