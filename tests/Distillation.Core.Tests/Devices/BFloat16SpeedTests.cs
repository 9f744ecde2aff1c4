using System.Diagnostics;
using Distillation.Devices;
using Distillation.Tests.TestSupport;
using TorchSharp;

namespace Distillation.Tests.Devices;

/// <summary>BFloat16Speed: bfloat16 only where the device has the instructions and the probe measures it faster by the margin.</summary>
public sealed class BFloat16SpeedTests
{
    [Fact]
    public void Bfloat16_is_chosen_where_the_device_has_the_instructions_and_the_probe_measures_it_faster()
    {
        var probe = new FakeBFloat16Probe(support: true, factor: 0.45);

        var decision = BFloat16Speed.Decide(torch.CPU, probe, measureWithoutSupport: false);

        decision.UseBFloat16.Should().BeTrue();
        decision.NativeSupport.Should().BeTrue();
        decision.Factor.Should().BeApproximately(0.45, 1e-12);
        decision.Reason.Should().StartWith("bfloat16:").And.Contain("avx512_bf16").And.Contain("0.45x");
        probe.Timings.Should().Be(1);
    }

    [Theory]
    [InlineData(1.3)]
    [InlineData(0.95)]
    public void Float32_is_chosen_where_the_probe_measures_bfloat16_slower_or_not_faster_by_the_margin(double factor)
    {
        var probe = new FakeBFloat16Probe(support: true, factor: factor);

        var decision = BFloat16Speed.Decide(torch.CPU, probe, measureWithoutSupport: false);

        decision.UseBFloat16.Should().BeFalse();
        decision.Factor.Should().BeApproximately(factor, 1e-12);
        decision.Reason.Should().StartWith("float32:").And.Contain("not below 0.90");
    }

    [Fact]
    public void Without_the_instructions_float32_is_chosen_without_running_the_probe()
    {
        var probe = new FakeBFloat16Probe(support: false, factor: 0.45);

        var decision = BFloat16Speed.Decide(torch.CPU, probe, measureWithoutSupport: false);

        decision.UseBFloat16.Should().BeFalse();
        decision.NativeSupport.Should().BeFalse();
        decision.Factor.Should().BeNull();
        decision.Reason.Should().Contain("no bfloat16 flag").And.Contain("not timed");
        probe.Timings.Should().Be(0);
    }

    [Fact]
    public void Without_the_instructions_an_explicit_request_is_measured_but_never_chosen()
    {
        var probe = new FakeBFloat16Probe(support: false, factor: 0.45);

        var decision = BFloat16Speed.Decide(torch.CPU, probe, measureWithoutSupport: true);

        decision.UseBFloat16.Should().BeFalse();
        decision.Factor.Should().BeApproximately(0.45, 1e-12);
        probe.Timings.Should().Be(1);
    }

    [Fact]
    public void Where_the_instructions_are_unknown_the_probe_decides()
    {
        BFloat16Speed.Decide(torch.CPU, new FakeBFloat16Probe(support: null, factor: 0.5), measureWithoutSupport: false).UseBFloat16.Should().BeTrue();
        BFloat16Speed.Decide(torch.CPU, new FakeBFloat16Probe(support: null, factor: 2.0), measureWithoutSupport: false).UseBFloat16.Should().BeFalse();
    }

    [Fact]
    public void A_probe_whose_bfloat16_convolution_fails_gives_float32_with_the_first_line_of_the_error()
    {
        var decision = BFloat16Speed.Decide(torch.CPU, new FakeBFloat16Probe(support: true, factor: 0.5, fails: true), measureWithoutSupport: false);

        decision.UseBFloat16.Should().BeFalse();
        decision.Factor.Should().BeNull();
        decision.Reason.Should().EndWith("the bfloat16 convolution failed: bfloat16 convolution not implemented");
    }

    [Theory]
    [InlineData("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n", true, "avx512_bf16")]
    [InlineData("flags\t\t: fpu sse2 avx2 amx_tile amx_bf16\n", true, "amx_bf16")]
    [InlineData("processor\t: 0\nflags\t\t: fpu sse2 fma avx2\n", false, "neither avx512_bf16 nor amx_bf16")]
    [InlineData("flags\t\t: fpu avx512f avx512_bf16x\n", false, "neither")]
    [InlineData("Features\t: fp asimd sve bf16 i8mm\n", true, "bf16")]
    [InlineData("Features\t: fp asimd\n", false, "bf16")]
    [InlineData("processor\t: 0\n", null, "no CPU flags")]
    public void The_CPU_flags_tell_the_bfloat16_instructions(string cpuInfo, bool? expected, string evidence)
    {
        var support = TorchBFloat16Probe.FromCpuInfo(cpuInfo);

        support.Present.Should().Be(expected);
        support.Evidence.Should().Contain(evidence);
    }

    [Theory]
    [InlineData(8, 0, true)]
    [InlineData(9, 0, true)]
    [InlineData(7, 5, false)]
    public void A_CUDA_device_has_bfloat16_from_compute_capability_8_0(int major, int minor, bool expected) =>
        TorchBFloat16Probe.FromComputeCapability(major, minor).Present.Should().Be(expected);

    [Fact]
    public void The_real_probe_times_both_precisions_once_per_process_and_gives_a_finite_factor()
    {
        var first = BFloat16Speed.Decide(torch.CPU);
        var clock = Stopwatch.StartNew();
        var second = BFloat16Speed.Decide(torch.CPU);
        clock.Stop();

        var timing = TorchBFloat16Probe.Instance.Time(torch.CPU);
        timing.Float32Seconds.Should().BePositive();
        timing.BFloat16Seconds.Should().BePositive();
        double.IsFinite(timing.Factor).Should().BeTrue();
        if (first.NativeSupport != false)
        {
            first.Factor.Should().Be(timing.Factor, "the decision reports the probe's measurement");
        }

        second.Factor.Should().Be(first.Factor, "the measurement is cached for the process");
        second.UseBFloat16.Should().Be(first.UseBFloat16);
        clock.ElapsedMilliseconds.Should().BeLessThan(50, "the second decision reuses the first measurement");
    }

    [Fact]
    public void The_real_probe_puts_the_thread_count_back()
    {
        var before = torch.get_num_threads();
        try
        {
            torch.set_num_threads(2);
            _ = TorchBFloat16Probe.Measure(torch.CPU);
            torch.get_num_threads().Should().Be(2);
        }
        finally
        {
            torch.set_num_threads(before);
        }
    }

    [Fact]
    public void The_real_probe_leaves_the_global_random_stream_alone()
    {
        torch.manual_seed(11);
        var expected = torch.rand(4).data<float>().ToArray();
        torch.manual_seed(11);
        _ = TorchBFloat16Probe.Measure(torch.CPU);
        var after = torch.rand(4).data<float>().ToArray();

        after.Should().Equal(expected);
    }
}
