using Distillation.ConsoleOutput;

namespace Distillation.Tool.Tests.ConsoleOutput;

public sealed class LibTorchNnpackTests
{
    [SkippableFact]
    public void The_switch_turns_libtorchs_nnpack_off_and_on()
    {
        Skip.If(OperatingSystem.IsWindows(), "libtorch's Windows build names the switch differently; the programs leave NNPACK as it is there");
        var before = LibTorchNnpack.IsEnabled();
        before.Should().NotBeNull("libtorch_cpu exports at::Context's NNPACK flag");
        try
        {
            LibTorchNnpack.TryDisable().Should().BeTrue();
            LibTorchNnpack.IsEnabled().Should().BeFalse();
            LibTorchNnpack.TrySet(enabled: true).Should().BeTrue();
            LibTorchNnpack.IsEnabled().Should().BeTrue();
        }
        finally
        {
            LibTorchNnpack.TrySet(before!.Value);
        }
    }
}
