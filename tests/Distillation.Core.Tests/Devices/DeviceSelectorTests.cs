using Distillation.Devices;
using Distillation.Tests.TestSupport;
using TorchSharp;

namespace Distillation.Tests.Devices;

public class DeviceSelectorTests
{
    private sealed record FakeProbe(int CudaDeviceCount, bool MpsAvailable) : IAcceleratorProbe;

    [Theory]
    [InlineData(2, true, DeviceType.CUDA)]
    [InlineData(0, true, DeviceType.MPS)]
    [InlineData(0, false, DeviceType.CPU)]
    public void Auto_prefers_CUDA_then_MPS_then_CPU(int cudaDevices, bool mps, DeviceType expected)
    {
        var device = DeviceSelector.Resolve(new DeviceOptions(), logger: null, probe: new FakeProbe(cudaDevices, mps));

        device.type.Should().Be(expected);
    }

    [Fact]
    public void Explicit_CUDA_index_is_used_when_present()
    {
        var device = DeviceSelector.Resolve(new DeviceOptions { Kind = DeviceKind.Cuda, CudaIndex = 1 }, logger: null, probe: new FakeProbe(2, false));

        device.type.Should().Be(DeviceType.CUDA);
        device.index.Should().Be(1);
    }

    [Fact]
    public void CUDA_where_there_is_none_is_a_clear_error()
    {
        var act = () => DeviceSelector.Resolve(new DeviceOptions { Kind = DeviceKind.Cuda }, logger: null, probe: new FakeProbe(0, false));

        act.Should().Throw<DeviceNotAvailableException>()
            .Where(e => e.Requested == "cuda:0")
            .WithMessage("*CUDA is not available*TorchSharp-cpu*");
    }

    [Fact]
    public void CUDA_index_beyond_the_devices_present_is_a_clear_error()
    {
        var act = () => DeviceSelector.Resolve(new DeviceOptions { Kind = DeviceKind.Cuda, CudaIndex = 3 }, logger: null, probe: new FakeProbe(2, false));

        act.Should().Throw<DeviceNotAvailableException>().WithMessage("*2 CUDA device(s), numbered 0 to 1*");
    }

    [Fact]
    public void Unavailable_device_falls_back_to_CPU_with_a_warning_when_allowed()
    {
        var logger = new ListLogger();

        var device = DeviceSelector.Resolve(new DeviceOptions { Kind = DeviceKind.Mps, AllowCpuFallback = true }, logger, new FakeProbe(0, false));

        device.type.Should().Be(DeviceType.CPU);
        logger.Entries.Should().Contain(e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning && e.Message.Contains("Falling back to the CPU"));
    }

    [Fact]
    public void The_chosen_device_and_threads_are_logged_and_threads_applied()
    {
        var logger = new ListLogger();
        var before = torch.get_num_threads();
        try
        {
            new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 }.Resolve(logger);

            torch.get_num_threads().Should().Be(1);
            logger.Entries.Should().Contain(e => e.Message.Contains("Device cpu") && e.Message.Contains("1 CPU threads"));
        }
        finally
        {
            torch.set_num_threads(before);
        }
    }

    [Fact]
    public void The_real_probe_finds_no_accelerator_on_a_CPU_only_backend()
    {
        new DeviceOptions { Kind = DeviceKind.Auto }.Resolve().type.Should().Be(DeviceType.CPU);
    }

    [SkippableFact]
    public void Choosing_the_CPU_on_Linux_raises_glibcs_allocator_thresholds()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "The allocator tuning is for glibc on Linux.");

        new DeviceOptions { Kind = DeviceKind.Cpu }.Resolve();

        CpuAllocatorTuning.Apply(Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance).Should().BeTrue("glibc accepts the raised thresholds");
    }

    [Theory]
    [InlineData("auto", DeviceKind.Auto, 0)]
    [InlineData("CPU", DeviceKind.Cpu, 0)]
    [InlineData("cuda", DeviceKind.Cuda, 0)]
    [InlineData("cuda:2", DeviceKind.Cuda, 2)]
    [InlineData(" mps ", DeviceKind.Mps, 0)]
    public void Device_text_parses(string text, DeviceKind kind, int index)
    {
        var options = DeviceOptions.Parse(text);

        options.Kind.Should().Be(kind);
        options.CudaIndex.Should().Be(index);
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:-1")]
    public void Unknown_device_text_is_rejected(string text)
    {
        var act = () => DeviceOptions.Parse(text);

        act.Should().Throw<FormatException>().WithMessage($"*'{text}'*");
    }

    [Fact]
    public void Thread_count_must_be_positive()
    {
        var act = () => new DeviceOptions { Threads = 0 }.Validate();

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("Threads");
    }
}
