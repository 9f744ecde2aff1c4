using Distillation.Devices;
using FluentAssertions;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Devices;

public sealed class AutocastTests
{
    [Fact]
    public void Libtorchs_autocast_is_found_in_this_process()
    {
        Autocast.Availability.Should().BeNull();
    }

    [Fact]
    public void Inside_a_region_a_linear_layer_runs_in_bfloat16_and_outside_in_float32()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var linear = nn.Linear(8, 4);
        var input = randn(2, 8);

        Tensor inside;
        using (Autocast.Enter(DeviceType.CPU, ScalarType.BFloat16))
        {
            Autocast.IsEnabled(DeviceType.CPU).Should().BeTrue();
            inside = linear.call(input);
        }

        Autocast.IsEnabled(DeviceType.CPU).Should().BeFalse();
        var outside = linear.call(input);
        inside.dtype.Should().Be(ScalarType.BFloat16);
        outside.dtype.Should().Be(ScalarType.Float32);

        // The same computation, rounded: bfloat16 keeps 8 significant bits.
        inside.to(ScalarType.Float32).allclose(outside, rtol: 0.02, atol: 0.02).Should().BeTrue();
    }

    [Fact]
    public void A_nested_region_leaves_the_outer_one_on()
    {
        using (Autocast.Enter(DeviceType.CPU, ScalarType.BFloat16))
        {
            using (Autocast.Enter(DeviceType.CPU, ScalarType.BFloat16))
            {
                Autocast.IsEnabled(DeviceType.CPU).Should().BeTrue();
            }

            Autocast.IsEnabled(DeviceType.CPU).Should().BeTrue();
        }

        Autocast.IsEnabled(DeviceType.CPU).Should().BeFalse();
    }

    [Fact]
    public void A_region_after_a_weight_update_sees_the_new_weights()
    {
        // Autocast caches the bfloat16 copy of each weight it casts inside a region (a convolution's;
        // TorchSharp's linear passes a transposed view, which is not cached); the cache must be dropped
        // when the region ends, or the step after an optimizer update would run on stale weights.
        using var scope = NewDisposeScope();
        manual_seed(2);
        using var conv = nn.Conv2d(3, 4, 3);
        var input = randn(2, 3, 5, 5);
        Tensor before;
        using (Autocast.Enter(DeviceType.CPU, ScalarType.BFloat16))
        {
            before = conv.call(input);
        }

        using (no_grad())
        {
            conv.weight.add_(1);
        }

        Tensor after;
        using (Autocast.Enter(DeviceType.CPU, ScalarType.BFloat16))
        {
            after = conv.call(input);
        }

        var expected = conv.call(input);
        after.to(ScalarType.Float32).allclose(expected, rtol: 0.02, atol: 0.1).Should().BeTrue();
        after.to(ScalarType.Float32).allclose(before.to(ScalarType.Float32), rtol: 0.02, atol: 0.1).Should().BeFalse();
    }
}
