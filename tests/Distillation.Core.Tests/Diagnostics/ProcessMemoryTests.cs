using Distillation.Diagnostics;

namespace Distillation.Tests.Diagnostics;

public sealed class ProcessMemoryTests
{
    [SkippableFact]
    public void Resident_memory_grows_with_an_allocation_and_never_exceeds_its_peak()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "/proc/self/status is Linux's");
        // Memory freed elsewhere in the process (a collection, glibc trimming after an earlier test)
        // can cancel the growth in one attempt, so the growth must show in one of three.
        var grew = new List<double>();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var before = ProcessMemory.Read()!;

            // 64 MiB, touched so that the pages become resident.
            var block = new byte[64 << 20];
            Array.Fill(block, (byte)1);
            var after = ProcessMemory.Read()!;
            GC.KeepAlive(block);

            before.ResidentMiB.Should().BePositive();
            after.PeakResidentMiB.Should().BeGreaterThanOrEqualTo(after.ResidentMiB);
            grew.Add(after.ResidentMiB - before.ResidentMiB);
        }

        grew.Max().Should().BeGreaterThan(32);
    }
}
