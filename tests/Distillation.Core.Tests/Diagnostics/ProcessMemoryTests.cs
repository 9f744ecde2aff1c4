using System.Runtime.InteropServices;
using Distillation.Diagnostics;

namespace Distillation.Tests.Diagnostics;

/// <summary>
/// Runs alone, after the parallel tests: the resident set is the whole process's, and a test of
/// another class freeing a large image buffer meanwhile would hide the growth measured here.
/// </summary>
[CollectionDefinition(nameof(ProcessMemoryTests), DisableParallelization = true)]
public sealed class ProcessMemoryMeasuredAlone;

[Collection(nameof(ProcessMemoryTests))]
public sealed class ProcessMemoryTests
{
    private const int ProtectReadWrite = 0x1 | 0x2;
    private const int MapPrivateAnonymous = 0x02 | 0x20;

    [SkippableFact]
    public void Resident_memory_grows_with_an_allocation_and_never_exceeds_its_peak()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64, "/proc/self/status and these mmap flags are Linux's");

        // Fresh pages straight from the kernel: the managed heap and malloc both keep freed memory
        // resident (the allocator tuning raises glibc's thresholds), so their blocks can be served
        // from pages an earlier test left behind and not grow the resident set at all.
        const nuint size = 64 << 20;
        var before = ProcessMemory.Read()!;
        var block = Mmap(0, size, ProtectReadWrite, MapPrivateAnonymous, -1, 0);
        block.Should().NotBe(new IntPtr(-1), "mmap must give the block");
        try
        {
            var ones = new byte[1 << 20];
            Array.Fill(ones, (byte)1);
            for (nuint offset = 0; offset < size; offset += (nuint)ones.Length)
            {
                Marshal.Copy(ones, 0, block + (nint)offset, ones.Length);
            }

            var after = ProcessMemory.Read()!;

            before.ResidentMiB.Should().BePositive();
            after.PeakResidentMiB.Should().BeGreaterThanOrEqualTo(after.ResidentMiB);
            (after.ResidentMiB - before.ResidentMiB).Should().BeGreaterThan(32);
        }
        finally
        {
            Munmap(block, size).Should().Be(0);
        }
    }

    [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern IntPtr Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [DllImport("libc", EntryPoint = "munmap", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Munmap(IntPtr address, nuint length);
}
