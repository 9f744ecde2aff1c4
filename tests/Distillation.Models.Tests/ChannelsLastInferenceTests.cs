using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Models.Tests;

public class ChannelsLastInferenceTests
{
    [Theory]
    [InlineData(typeof(TeacherNet))]
    [InlineData(typeof(StudentNet))]
    public void Eval_mode_gives_the_same_logits_in_either_layout(Type modelType)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(3);
        using var model = (FeatureClassifierNet)Activator.CreateInstance(modelType, 10)!;
        model.eval();
        var input = randn(8, 3, 32, 32);

        using var noGrad = no_grad();
        model.ChannelsLastInference = false;
        var plain = model.call(input);
        model.ChannelsLastInference = true;
        var channelsLast = model.call(input);

        channelsLast.shape.Should().Equal(plain.shape);
        channelsLast.allclose(plain, rtol: 1e-4, atol: 1e-5).Should().BeTrue();
        input.is_contiguous().Should().BeTrue("the caller's input is not changed");
    }

    [Fact]
    public void Training_mode_ignores_the_setting()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(4);
        using var model = new StudentNet { ChannelsLastInference = true };
        model.train();
        var input = randn(4, 3, 32, 32);

        var logits = model.call(input);
        logits.sum().backward();

        model.parameters().Should().AllSatisfy(p => p.grad.Should().NotBeNull());
    }

    [Fact]
    public void The_setting_is_off_by_default_so_published_runs_reproduce_to_the_bit() =>
        new StudentNet().ChannelsLastInference.Should().BeFalse();
}
