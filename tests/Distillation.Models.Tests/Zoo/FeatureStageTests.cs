using Distillation.Models.Zoo;
using static TorchSharp.torch;

namespace Distillation.Models.Tests.Zoo;

public sealed class FeatureStageTests
{
    public static TheoryData<string> AllModels() => new(ModelZoo.Models.Select(m => m.Name));

    [Fact]
    public void Stage_names_are_the_reference_implementations()
    {
        string[] Stages(string name) => ModelZoo.Get(name).FeatureStages.Select(s => s.Module).ToArray();

        Stages("resnet20").Should().Equal("layer1", "layer2", "layer3");
        Stages("resnet32x4").Should().Equal("layer1", "layer2", "layer3");
        Stages("wrn_40_2").Should().Equal("block1", "block2", "block3");
        Stages("mobilenetv2").Should().Equal("blocks.1", "blocks.2", "blocks.4", "blocks.6");
        Stages("resnet50").Should().Equal("layer1", "layer2", "layer3", "layer4");
        Stages("mobilenet_v2").Should().Equal("features.3", "features.6", "features.13", "features.17");
        Stages("mobilenet_v3_small").Should().Equal("features.1", "features.3", "features.8", "features.11");
        Stages("mobilenet_v3_large").Should().Equal("features.3", "features.6", "features.12", "features.15");
    }

    /// <summary>
    /// Hooks every stage by module path, the way the library's feature losses capture them
    /// (FeatureCapture: named_modules() path, forward hook through call()), and checks the shapes.
    /// </summary>
    [Theory]
    [MemberData(nameof(AllModels))]
    public void Each_stage_is_a_hookable_module_path_with_the_listed_channels_and_stride(string name)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var info = ModelZoo.Get(name);
        using var model = info.Create(10);
        model.eval();
        var size = info.IsCifarStyle ? 32 : 64;
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        var captured = new Dictionary<string, long[]>();
        var hooks = new List<Action>();
        foreach (var stage in info.FeatureStages)
        {
            modules.Should().ContainKey(stage.Module);
            var module = modules[stage.Module].Should().BeAssignableTo<nn.Module<Tensor, Tensor>>().Subject;
            hooks.Add(module.register_forward_hook((_, _, output) =>
            {
                captured[stage.Module] = output.shape;
                return output;
            }).remove);
        }

        using (no_grad())
        {
            model.call(randn(2, 3, size, size));
        }

        hooks.ForEach(remove => remove());
        foreach (var stage in info.FeatureStages)
        {
            captured.Should().ContainKey(stage.Module, "the model's forward calls the stage through call(), so hooks fire");
            // airbench's unpadded 2×2 whitening stem takes one pixel before the first pooling.
            var side = info.Family == ModelFamily.Airbench ? (size - 1) / stage.Stride : size / stage.Stride;
            captured[stage.Module].Should().Equal([2, stage.Channels, side, side], stage.Module);
        }
    }

    [Theory]
    [InlineData("resnet20", 3, "at least 4×4 pixels")]
    [InlineData("mobilenetv2", 8, "at least 16×16 pixels")]
    [InlineData("mobilenet_v3_small", 31, "at least 32×32 pixels")]
    public void An_image_size_below_the_minimum_is_refused_in_one_line(string name, int size, string reason)
    {
        var info = ModelZoo.Get(name);

        var act = () => info.EnsureInputSize(size);

        var message = act.Should().Throw<ArgumentOutOfRangeException>().Which.Message;
        message.Should().Contain($"'{name}'").And.Contain(reason).And.Contain($"got {size}×{size}");
        message.Split('\n').Should().HaveCount(2, "one line, then .NET's parameter line");
        info.Invoking(i => i.EnsureInputSize(info.MinimumInputSize)).Should().NotThrow();
        info.Invoking(i => i.EnsureInputSize(info.InputSize)).Should().NotThrow();
    }

    [Theory]
    [MemberData(nameof(AllModels))]
    public void Model_takes_its_minimum_input_size(string name)
    {
        using var scope = NewDisposeScope();
        var info = ModelZoo.Get(name);
        using var model = info.Create(3);
        model.eval();
        using var _ = no_grad();

        model.call(randn(1, 3, info.MinimumInputSize, info.MinimumInputSize)).shape.Should().Equal(1, 3);
    }
}
