using Distillation.Devices;

namespace Distillation.Tests.Devices;

/// <summary>
/// The diagnosis logic against failure texts captured from TorchSharp 0.107.0 on Debian 12:
/// an application referencing TorchSharp alone (no backend package restored), and one referencing
/// TorchSharp-cpu run against Debian 12's libstdc++ (GLIBCXX_3.4.30).
/// </summary>
public class NativeLoadDiagnosticsTests
{
    private static string Fixture(string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Devices", "Fixtures", name));

    [Fact]
    public void Missing_backend_package_is_named_with_the_package_to_add()
    {
        var evidence = new NativeLoadEvidence(
            Fixture("missing-backend.torchsharp.txt"),
            Fixture("missing-backend.loader.txt"),
            LibStdCxxHasRequiredSymbol: true,
            LibStdCxxPath: "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.33");

        var diagnosis = NativeLoadDiagnostics.Diagnose(evidence);

        diagnosis.Cause.Should().Be(NativeLoadFailureCause.MissingBackendPackage);
        diagnosis.Message.Should().Contain("dotnet add package TorchSharp-cpu").And.NotContain("GLIBCXX");
    }

    [Fact]
    public void Old_libstdcxx_is_named_even_though_TorchSharp_blames_a_missing_package()
    {
        // TorchSharp's own text says "doesn't contain a reference to libtorch-cpu-linux-x64";
        // only the loader's error tells the real cause.
        var torchSharpText = Fixture("old-libstdcxx.torchsharp.txt");
        torchSharpText.Should().Contain("doesn't contain a reference to libtorch-cpu-linux-x64");

        var evidence = new NativeLoadEvidence(torchSharpText, Fixture("old-libstdcxx.loader.txt"), LibStdCxxHasRequiredSymbol: null, LibStdCxxPath: null);

        var diagnosis = NativeLoadDiagnostics.Diagnose(evidence);

        diagnosis.Cause.Should().Be(NativeLoadFailureCause.LibStdCxxTooOld);
        diagnosis.Message.Should()
            .Contain("GLIBCXX_3.4.32")
            .And.Contain("'bash eng/install-native-deps.sh' as root")
            .And.NotContain("sudo", "the user may be root, with no sudo (issue 27)")
            .And.Contain("GCC 13.2")
            .And.Contain("version `GLIBCXX_3.4.32' not found");
    }

    [Fact]
    public void Old_libstdcxx_is_named_from_the_mapped_library_when_the_loader_says_nothing()
    {
        var evidence = new NativeLoadEvidence(
            Fixture("old-libstdcxx.torchsharp.txt"),
            LoaderError: null,
            LibStdCxxHasRequiredSymbol: false,
            LibStdCxxPath: "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30");

        var diagnosis = NativeLoadDiagnostics.Diagnose(evidence);

        diagnosis.Cause.Should().Be(NativeLoadFailureCause.LibStdCxxTooOld);
        diagnosis.Message.Should().Contain("/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30");
    }

    [Fact]
    public void Unrecognised_failure_keeps_the_first_line_of_the_original()
    {
        var evidence = new NativeLoadEvidence("Something else broke\nsecond line", "loader said no\nmore", LibStdCxxHasRequiredSymbol: true, LibStdCxxPath: null);

        var diagnosis = NativeLoadDiagnostics.Diagnose(evidence);

        diagnosis.Cause.Should().Be(NativeLoadFailureCause.Unknown);
        diagnosis.Message.Should().Contain("Something else broke").And.Contain("loader said no").And.NotContain("second line");
    }

    [Fact]
    public void The_runtime_loads_here_because_tests_reference_TorchSharp_cpu()
    {
        var act = TorchRuntime.EnsureAvailable;

        act.Should().NotThrow();
    }
}
