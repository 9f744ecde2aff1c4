using System.Diagnostics;

namespace Distillation.Tests.Reliability;

/// <summary>
/// eng/install-native-deps.sh says what apt will change before changing it (issue 29: on Debian 12 it
/// upgraded libc6 and 26 other core packages unannounced). Its listing is tested here on a recorded
/// <c>apt-get -s</c> output, so nothing is installed; the dry run itself was run by hand (docs/reliability-round3.md).
/// </summary>
public sealed class InstallScriptTests
{
    // apt-get -s install -t trixie libstdc++6 on a Debian 12 state (the versions of the hand-run dry run).
    private const string BookwormSimulation = """
        NOTE: This is only a simulation!
              apt-get needs root privileges for real execution.
        Reading package lists...
        Building dependency tree...
        The following NEW packages will be installed:
          gcc-14-base libidn2-0 libunistring5
        The following packages will be upgraded:
          libc6 libgcc-s1 libstdc++6
        3 upgraded, 3 newly installed, 1 to remove and 0 not upgraded.
        Inst gcc-14-base (14.2.0-19 Debian:13.2/stable [amd64])
        Inst libgcc-s1 [12.2.0-14] (14.2.0-19 Debian:13.2/stable [amd64]) [libc6:amd64 ]
        Inst libc6 [2.36-9+deb12u10] (2.41-12+deb13u5 Debian:13.2/stable [amd64])
        Remv locales-all [2.36-9+deb12u10]
        Conf libc6 (2.41-12+deb13u5 Debian:13.2/stable [amd64])
        Inst libunistring5 (1.3-2 Debian:13.2/stable [amd64])
        Inst libidn2-0 (2.3.8-2 Debian:13.2/stable [amd64])
        Inst libstdc++6 [12.2.0-14] (14.2.0-19 Debian:13.2/stable [amd64])
        Conf libstdc++6 (14.2.0-19 Debian:13.2/stable [amd64])
        """;

    private static string Script()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var script = Path.Combine(dir.FullName, "eng", "install-native-deps.sh");
            if (File.Exists(Path.Combine(dir.FullName, "Distillation.sln")) && File.Exists(script))
            {
                return script;
            }
        }

        throw new InvalidOperationException("eng/install-native-deps.sh not found above the test binaries.");
    }

    private static (int Exit, string Output, string Error) Run(string input, params string[] arguments)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Script());
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        process.StandardInput.Write(input);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error);
    }

    [SkippableFact]
    public void The_plan_lists_every_upgrade_with_both_versions_every_new_package_and_every_removal()
    {
        Skip.IfNot(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "The script runs under bash.");

        var (exit, output, _) = Run(BookwormSimulation, "--summarize-simulation");

        exit.Should().Be(0);
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).Should().Equal(
            "install  gcc-14-base 14.2.0-19 (new)",
            "upgrade  libgcc-s1 12.2.0-14 -> 14.2.0-19",
            "upgrade  libc6 2.36-9+deb12u10 -> 2.41-12+deb13u5",
            "REMOVE   locales-all 2.36-9+deb12u10",
            "install  libunistring5 1.3-2 (new)",
            "install  libidn2-0 2.3.8-2 (new)",
            "upgrade  libstdc++6 12.2.0-14 -> 14.2.0-19",
            "7 change(s): 3 upgraded, 3 newly installed, 1 removed");
    }

    [SkippableFact]
    public void A_simulation_without_changes_says_so()
    {
        Skip.IfNot(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "The script runs under bash.");

        var (exit, output, _) = Run("Reading package lists...\nlibstdc++6 is already the newest version (14.2.0-19).\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n", "--summarize-simulation");

        exit.Should().Be(0);
        output.Trim().Should().Be("no package changes");
    }

    [SkippableFact]
    public void An_unknown_argument_is_refused_before_anything_runs()
    {
        Skip.IfNot(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "The script runs under bash.");

        var (exit, _, error) = Run(string.Empty, "--yes");

        exit.Should().Be(2);
        error.Trim().Should().Be("install-native-deps: unknown argument '--yes': use --dry-run, --check, or nothing to install.");
    }
}
