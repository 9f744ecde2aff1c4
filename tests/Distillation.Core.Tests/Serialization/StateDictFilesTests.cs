using Distillation.Serialization;
using Distillation.Tests.TestSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Serialization;

public sealed class StateDictFilesTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private static Tensor Values(params float[] values) => tensor(values);

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static nn.Module<Tensor, Tensor> LinearWithBatchNorm() => nn.Sequential(("fc", nn.Linear(3, 2)), ("bn", nn.BatchNorm1d(2)));

    [Fact]
    public void Loads_parameters_and_buffers_by_name_converting_the_dtype_in_place()
    {
        using var module = LinearWithBatchNorm();
        var weight = module.get_parameter("fc.weight")!;
        using var w = Values(1, 2, 3, 4, 5, 6).reshape(2, 3).to(ScalarType.Float64);
        using var b = Values(-1, 1).to(ScalarType.Float64);
        using var mean = Values(0.5f, 0.25f);
        using var variance = Values(2, 3);
        using var gamma = Values(1.5f, 2.5f);
        using var beta = Values(0.1f, 0.2f);
        using var batches = tensor(7L);

        var result = module.LoadStateDict(new Dictionary<string, Tensor>
        {
            ["fc.weight"] = w, ["fc.bias"] = b,
            ["bn.weight"] = gamma, ["bn.bias"] = beta,
            ["bn.running_mean"] = mean, ["bn.running_var"] = variance, ["bn.num_batches_tracked"] = batches,
        });

        result.IsExactMatch.Should().BeTrue();
        result.LoadedKeys.Should().HaveCount(7);
        module.get_parameter("fc.weight").Should().BeSameAs(weight, "values are copied into the existing parameter");
        weight.dtype.Should().Be(ScalarType.Float32);
        weight.requires_grad.Should().BeTrue();
        weight.data<float>().ToArray().Should().Equal(1f, 2f, 3f, 4f, 5f, 6f);
        module.get_buffer("bn.running_var")!.data<float>().ToArray().Should().Equal(2f, 3f);
        module.get_buffer("bn.num_batches_tracked")!.item<long>().Should().Be(7);
    }

    [Fact]
    public void An_optimizer_created_before_the_load_trains_the_loaded_parameters()
    {
        using var module = nn.Linear(2, 1);
        using var optimizer = optim.SGD(module.parameters(), 0.5);
        using var w = Values(1, 1).reshape(1, 2);
        using var b = zeros(1);
        module.LoadStateDict(new Dictionary<string, Tensor> { ["weight"] = w, ["bias"] = b });

        // loss = sum(W·x + b) with x = [1, 2]: dloss/dW = [1, 2], one step of 0.5 gives [0.5, 0].
        using var x = Values(1, 2).reshape(1, 2);
        optimizer.zero_grad();
        module.call(x).sum().backward();
        optimizer.step();

        module.weight!.data<float>().ToArray().Should().Equal(0.5f, 0f);
    }

    [Fact]
    public void Strict_load_lists_missing_and_unexpected_keys_and_changes_nothing()
    {
        using var module = nn.Linear(3, 2);
        using var before = module.weight!.clone();
        using var w = ones(2, 3);
        using var extra = ones(1);

        var act = () => module.LoadStateDict(new Dictionary<string, Tensor> { ["weight"] = w, ["scale"] = extra });

        var error = act.Should().Throw<StateDictMismatchException>().Which;
        error.MissingKeys.Should().Equal("bias");
        error.UnexpectedKeys.Should().Equal("scale");
        error.Message.Should().Contain("missing keys (in the module, not in the source): bias").And.Contain("unexpected keys (in the source, not in the module): scale");
        Same(module.weight!, before).Should().BeTrue("a failed load copies nothing");
    }

    [Fact]
    public void Non_strict_load_reports_the_keys_and_loads_the_rest()
    {
        using var module = nn.Linear(3, 2);
        using var bias = module.bias!.clone();
        using var w = ones(2, 3);
        using var extra = ones(1);

        var result = module.LoadStateDict(new Dictionary<string, Tensor> { ["weight"] = w, ["scale"] = extra }, strict: false);

        result.LoadedKeys.Should().Equal("weight");
        result.MissingKeys.Should().Equal("bias");
        result.UnexpectedKeys.Should().Equal("scale");
        result.IsExactMatch.Should().BeFalse();
        Same(module.weight!, w).Should().BeTrue();
        Same(module.bias!, bias).Should().BeTrue("a missing key keeps its value");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Shape_mismatch_names_the_key_and_both_shapes_even_when_not_strict(bool strict)
    {
        using var module = nn.Linear(3, 2);
        using var w = ones(3, 2);
        using var b = ones(2);

        var act = () => module.LoadStateDict(new Dictionary<string, Tensor> { ["weight"] = w, ["bias"] = b }, strict);

        var error = act.Should().Throw<StateDictMismatchException>().Which;
        error.ShapeMismatches.Should().ContainSingle().Which.Key.Should().Be("weight");
        error.Message.Should().Contain("weight: [3, 2] in the source, [2, 3] in the module");
    }

    [Fact]
    public void Safetensors_round_trip_of_any_module_with_buffers()
    {
        var path = Path.Combine(temp.Path, "bn.safetensors");
        manual_seed(3);
        using var trained = LinearWithBatchNorm();
        trained.train();
        using (var batch = randn(8, 3))
        {
            trained.call(batch).Dispose();   // moves the running statistics
        }

        using var fresh = LinearWithBatchNorm();
        trained.SaveSafetensors(path, new Dictionary<string, string> { ["format"] = "pt" });
        var result = fresh.LoadSafetensors(path);

        result.IsExactMatch.Should().BeTrue();
        foreach (var (key, value) in trained.state_dict())
        {
            Same(fresh.state_dict()[key], value).Should().BeTrue(key);
        }

        fresh.get_buffer("bn.num_batches_tracked")!.item<long>().Should().Be(1);
        Safetensors.ReadHeader(path).Metadata["format"].Should().Be("pt");
    }

    [Fact]
    public void Safetensors_that_do_not_fit_name_the_file()
    {
        var path = Path.Combine(temp.Path, "tiny.safetensors");
        using var tiny = new TinyNet(width: 4);
        using var wider = new TinyNet(width: 8);
        tiny.SaveSafetensors(path);

        var act = () => wider.LoadSafetensors(path);

        act.Should().Throw<StateDictMismatchException>().WithMessage($"Safetensors file {path} does not fit TinyNet*layers.0.weight: [4, 3, 3, 3] in the source, [8, 3, 3, 3] in the module*");
    }
}
