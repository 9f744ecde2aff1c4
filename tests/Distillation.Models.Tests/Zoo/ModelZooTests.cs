using Distillation.Models.Zoo;
using static TorchSharp.torch;

namespace Distillation.Models.Tests.Zoo;

public sealed class ModelZooTests
{
    public static TheoryData<string> AllModels() => new(ModelZoo.Models.Select(m => m.Name));

    public static TheoryData<string> CifarModels() => new(ModelZoo.Models.Where(m => m.IsCifarStyle).Select(m => m.Name));

    public static TheoryData<string> ImageNetModels() => new(ModelZoo.Models.Where(m => !m.IsCifarStyle).Select(m => m.Name));

    [Fact]
    public void Registry_lists_every_model_of_the_issue_once_with_the_reference_scripts_names()
    {
        ModelZoo.Models.Select(m => m.Name).Should().Equal(
            "resnet20", "resnet32", "resnet56", "resnet110", "resnet8x4", "resnet32x4", "wrn_16_2", "wrn_40_2", "mobilenetv2", "airbench",
            "resnet18", "resnet34", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large");
        ZooReference.ModelNames.Should().BeEquivalentTo(ModelZoo.Models.Select(m => m.Name), "the fixture script covers every zoo model");
    }

    [Fact]
    public void Registry_describes_input_sizes_and_families()
    {
        foreach (var model in ModelZoo.Models)
        {
            model.InputSize.Should().Be(model.IsCifarStyle ? 32 : 224, model.Name);
            // airbench's unpadded stem loses a pixel first, so its deepest pooling needs twice its stride.
            model.MinimumInputSize.Should().Be(model.FeatureStages.Max(s => s.Stride) * (model.Family == ModelFamily.Airbench ? 2 : 1), $"{model.Name}: its deepest stage is its total stride");
            model.FeatureStages.Select(s => s.Stride).Should().BeInAscendingOrder(model.Name);
        }

        ModelZoo.Get("resnet56").Family.Should().Be(ModelFamily.CifarResNet);
        ModelZoo.Get("wrn_40_2").Family.Should().Be(ModelFamily.WideResNet);
        ModelZoo.Get("mobilenetv2").Family.Should().Be(ModelFamily.CifarMobileNetV2);
        ModelZoo.Get("resnet50").Family.Should().Be(ModelFamily.ResNet);
        ModelZoo.Get("mobilenet_v2").Family.Should().Be(ModelFamily.MobileNetV2);
        ModelZoo.Get("mobilenet_v3_large").Family.Should().Be(ModelFamily.MobileNetV3);
    }

    [Theory]
    [InlineData("resnet2", "resnet20")]
    [InlineData("resnet18x", "resnet18")]
    [InlineData("wrn_16", "wrn_16_2")]
    [InlineData("mobilenet_v3_smal", "mobilenet_v3_small")]
    public void Unknown_name_lists_the_valid_names_nearest_first(string typo, string nearest)
    {
        var act = () => ModelZoo.Create(typo, 10);

        var error = act.Should().Throw<ArgumentException>().Which;
        error.ParamName.Should().Be("name");
        error.Message.Should().Contain($"no model '{typo}'").And.Contain($"nearest first: {nearest}, ");
        foreach (var model in ModelZoo.Models)
        {
            error.Message.Should().Contain(model.Name);
        }
    }

    [Fact]
    public void Names_are_case_insensitive()
    {
        ModelZoo.Get("ResNet20").Name.Should().Be("resnet20");
        ModelZoo.Get(" MobileNet_V3_Small ").Name.Should().Be("mobilenet_v3_small");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void Fewer_than_one_class_is_refused_naming_the_model(int classes)
    {
        var act = () => ModelZoo.Create("resnet20", classes);

        act.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("'resnet20'").And.Contain("at least 1 output class");
    }

    [Theory]
    [MemberData(nameof(AllModels))]
    public void Parameter_count_equals_the_reference_implementations(string name)
    {
        using var model = ModelZoo.Create(name, 10);

        var count = ZooTestSupport.Parameters(model);

        count.Should().Be(ZooReference.ParameterCount(name), "the reference implementation (RepDistiller or torchvision), built for 10 classes, has that many");
        ModelZoo.Get(name).ParameterCount.Should().Be(count, "the registry lists the real count");
    }

    [Fact]
    public void Resnet20_has_the_benchmarks_0_27_M_parameters_and_the_classifier_scales_with_classes()
    {
        using var ten = ModelZoo.Create("resnet20", 10);
        using var hundred = ModelZoo.Create("resnet20", 100);

        ZooTestSupport.Parameters(ten).Should().BeInRange(265_000, 275_000);
        (ZooTestSupport.Parameters(hundred) - ZooTestSupport.Parameters(ten)).Should().Be(90 * (64 + 1), "only fc (64 features) grows");
    }

    [Theory]
    [MemberData(nameof(AllModels))]
    public void State_dict_keys_and_shapes_equal_the_reference(string name)
    {
        using var model = ModelZoo.Create(name, 10);
        var reference = ZooReference.StateDict(name);

        // TorchSharp's state_dict() lists every parameter, then every buffer (BatchNorm's running
        // statistics), where PyTorch interleaves them module by module. Within each group the order
        // is PyTorch's, so the comparison is exact against the reference regrouped that way.
        static bool IsBuffer(string entry) => entry.Contains(".running_mean ", StringComparison.Ordinal)
            || entry.Contains(".running_var ", StringComparison.Ordinal) || entry.Contains(".num_batches_tracked ", StringComparison.Ordinal);
        var regrouped = reference.Where(e => !IsBuffer(e)).Concat(reference.Where(IsBuffer));
        ZooTestSupport.StateDict(model).Should().Equal(regrouped);
    }

    [Theory]
    [InlineData("mobilenet_v3_small", 0.001, 0.01)]
    [InlineData("mobilenet_v3_large", 0.001, 0.01)]
    [InlineData("mobilenet_v2", 1e-5, 0.1)]
    [InlineData("resnet18", 1e-5, 0.1)]
    [InlineData("wrn_16_2", 1e-5, 0.1)]
    public void BatchNorm_has_the_reference_eps_and_momentum(string name, double eps, double momentum)
    {
        using var model = ModelZoo.Create(name, 10);

        // Neither shows in a state dict: eps changes eval-mode outputs, momentum the running statistics.
        var norms = model.modules().OfType<TorchSharp.Modules.BatchNorm2d>().ToList();
        norms.Should().NotBeEmpty();
        norms.Should().AllSatisfy(norm =>
        {
            norm.eps.Should().Be(eps);
            norm.momentum.Should().Be(momentum);
        });
    }

    [Theory]
    [MemberData(nameof(CifarModels))]
    public void Cifar_model_maps_a_32px_batch_to_logits(string name)
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var model = ModelZoo.Create(name, 10);
        model.eval();
        using var _ = no_grad();

        var logits = model.call(randn(2, 3, 32, 32));

        logits.shape.Should().Equal(2, 10);
        logits.isfinite().all().item<bool>().Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(ImageNetModels))]
    public void ImageNet_model_maps_a_64px_batch_to_logits(string name)
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var model = ModelZoo.Create(name, 7);
        model.eval();
        using var _ = no_grad();

        var logits = model.call(randn(2, 3, 64, 64));

        logits.shape.Should().Equal(2, 7);
        logits.isfinite().all().item<bool>().Should().BeTrue();
    }

    [Fact]
    public void Fresh_weights_follow_the_reference_initialisation()
    {
        manual_seed(8);
        using var resnet50 = ModelZoo.Create("resnet50", 10);
        using var mobilenet = ModelZoo.Create("mobilenet_v3_small", 10);
        using var wrn = ModelZoo.Create("wrn_16_2", 10);
        var r = resnet50.state_dict();
        var m = mobilenet.state_dict();

        // Kaiming normal, fan-out, ReLU gain: std sqrt(2 / (out·k·k)); 1024 → 512 (1×1) tells fan-out (0.0625) from fan-in (0.044).
        r["layer4.0.conv1.weight"].std().item<float>().Should().BeApproximately((float)Math.Sqrt(2.0 / 512), 0.002f);
        r["layer3.1.conv2.weight"].std().item<float>().Should().BeApproximately((float)Math.Sqrt(2.0 / (256 * 9)), 0.001f);
        r["bn1.weight"].eq(1).all().item<bool>().Should().BeTrue();
        r["layer1.0.bn3.bias"].eq(0).all().item<bool>().Should().BeTrue();
        // torchvision's MobileNets: Linear N(0, 0.01), zero bias; convolution biases (squeeze-excitation) zero.
        m["classifier.0.weight"].std().item<float>().Should().BeApproximately(0.01f, 0.0005f);
        m["classifier.3.bias"].eq(0).all().item<bool>().Should().BeTrue();
        m["features.1.block.1.fc1.bias"].eq(0).all().item<bool>().Should().BeTrue();
        // RepDistiller's wide ResNet zeroes the classifier's bias and keeps PyTorch's default weights (uniform ±1/sqrt(128)).
        wrn.state_dict()["fc.bias"].eq(0).all().item<bool>().Should().BeTrue();
        wrn.state_dict()["fc.weight"].abs().max().item<float>().Should().BeLessThanOrEqualTo((float)(1 / Math.Sqrt(128)));
    }

    [Theory]
    [MemberData(nameof(AllModels))]
    public void Forward_outside_a_dispose_scope_leaves_only_its_output_alive(string name)
    {
        var info = ModelZoo.Get(name);
        using var model = info.Create(10);
        model.eval();
        using var _ = no_grad();
        using var input = randn(1, 3, info.MinimumInputSize * 2, info.MinimumInputSize * 2);
        var liveBefore = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        using (var logits = model.call(input))
        {
            TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(liveBefore + 1, "each intermediate is disposed as soon as it is used, as Sequential does");
        }
    }

    [Theory]
    [InlineData("resnet18")]
    [InlineData("mobilenet_v3_small")]
    public void ImageNet_model_maps_a_224px_image_to_logits(string name)
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var model = ModelZoo.Create(name, 1000);
        model.eval();
        using var _ = no_grad();

        var logits = model.call(randn(1, 3, 224, 224));

        logits.shape.Should().Equal(1, 1000);
        logits.isfinite().all().item<bool>().Should().BeTrue();
    }

    [Theory]
    [InlineData("resnet20")]
    [InlineData("wrn_16_2")]
    [InlineData("mobilenetv2")]
    [InlineData("mobilenet_v3_small")]
    public void Training_step_reaches_every_parameter(string name)
    {
        using var scope = NewDisposeScope();
        manual_seed(2);
        var info = ModelZoo.Get(name);
        using var model = info.Create(10);
        model.train();
        var size = info.IsCifarStyle ? 32 : 64;

        var loss = nn.functional.cross_entropy(model.call(randn(4, 3, size, size)), tensor(new long[] { 0, 1, 2, 3 }));
        loss.backward();

        model.named_parameters().Where(p => p.parameter.grad is null || p.parameter.grad.abs().sum().item<float>() == 0)
            .Select(p => p.name).Should().BeEmpty("every parameter takes part in the forward pass");
    }
}
