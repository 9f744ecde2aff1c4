using System.Diagnostics;
using Distillation.Tests.TestSupport;

namespace Distillation.Tests.Reliability;

/// <summary>
/// eng/NativePrerequisite.targets (issue 27): before an executable builds on Linux, the libstdc++ that
/// TorchSharp's libtorch needs is checked; missing, a root build installs it and any other build stops
/// on one line naming the command. Run here through MSBuild on a small project that imports the
/// targets, with the libraries looked at, <c>id -u</c> and the installer replaced by the targets' test
/// properties, so nothing on this machine changes.
/// </summary>
public sealed class NativePrerequisiteTargetsTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private static string Repository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Distillation.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Distillation.sln not found above the test binaries.");
    }

    private string Library(bool withSymbol)
    {
        var path = Path.Combine(temp.Path, withSymbol ? "libstdc++-new.so.6" : "libstdc++-old.so.6");
        File.WriteAllText(path, withSymbol ? "\u007fELF GLIBCXX_3.4.31\0GLIBCXX_3.4.32\0" : "\u007fELF GLIBCXX_3.4.30\0GLIBCXX_3.4.31\0");
        return path;
    }

    /// <summary>An installer that says it ran, leaves a marker file and exits with <paramref name="exitCode"/>.</summary>
    private string Installer(int exitCode)
    {
        var path = Path.Combine(temp.Path, "fake-installer.sh");
        File.WriteAllText(path, $"echo 'fake installer: upgrade libstdc++6 12.2.0-14 -> 14.2.0-19' >&2\ntouch '{Path.Combine(temp.Path, "installed")}'\nexit {exitCode}\n");
        return path;
    }

    /// <summary>Builds a project of <paramref name="outputType"/> whose BeforeBuild prints "compiling now"; returns MSBuild's exit code and output.</summary>
    private (int Exit, string Output) Build(string outputType, params string[] properties)
    {
        var project = Path.Combine(temp.Path, "check.proj");
        File.WriteAllText(project, $"""
            <Project>
              <PropertyGroup><OutputType>{outputType}</OutputType></PropertyGroup>
              <Import Project="{Path.Combine(Repository(), "eng", "NativePrerequisite.targets")}" />
              <Target Name="BeforeBuild"><Message Importance="high" Text="compiling now" /></Target>
              <Target Name="Build" DependsOnTargets="BeforeBuild" />
            </Project>
            """);
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = temp.Path,
        };
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToArray())
        {
            start.Environment.Remove(name);
        }

        foreach (var argument in (string[])["msbuild", project, "-nologo", "-v:m", "-clp:NoSummary", "-nodeReuse:false", "-t:Build", .. properties.Select(p => "-p:" + p)])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }

    private static string[] ErrorLines(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains("error ", StringComparison.Ordinal)).ToArray();

    [SkippableFact]
    public void Where_the_symbol_is_present_the_build_goes_on_and_nothing_is_installed()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "The check runs on Linux only.");

        var (exit, output) = Build("Exe", $"DistillationNativeLibraries={Library(withSymbol: true)}", "DistillationNativeUserId=1000", $"DistillationNativeInstaller={Installer(0)}");

        exit.Should().Be(0, output);
        output.Should().Contain("compiling now").And.NotContain("lacks").And.NotContain("fake installer");
        File.Exists(Path.Combine(temp.Path, "installed")).Should().BeFalse();
    }

    [SkippableFact]
    public void Where_it_is_missing_a_user_other_than_root_gets_one_error_line_naming_the_command_and_the_build_stops()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "The check runs on Linux only.");
        var script = Path.Combine(Repository(), "eng", "install-native-deps.sh");

        var (exit, output) = Build("Exe", $"DistillationNativeLibraries={Library(withSymbol: false)}", "DistillationNativeUserId=1000");

        exit.Should().NotBe(0);
        ErrorLines(output).Should().ContainSingle(output).Which.Should()
            .Contain("error DIST001: TorchSharp's libtorch needs a libstdc++ exporting GLIBCXX_3.4.32")
            .And.Contain($"run as root `bash {script}`")
            .And.Contain("-p:DistillationSkipNativeCheck=true")
            .And.NotContain("sudo");
        output.Should().NotContain("compiling now");
    }

    [SkippableFact]
    public void Where_it_is_missing_and_the_user_is_root_the_build_says_so_runs_the_installer_and_goes_on()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "The check runs on Linux only.");

        var (exit, output) = Build("Exe", $"DistillationNativeLibraries={Library(withSymbol: false)}", "DistillationNativeUserId=0", $"DistillationNativeInstaller={Installer(0)}");

        exit.Should().Be(0, output);
        output.Should().Contain("lacks; running as root: bash " + Path.Combine(temp.Path, "fake-installer.sh"))
            .And.Contain("fake installer: upgrade libstdc++6 12.2.0-14 -> 14.2.0-19", "the installer's own listing of what apt changes is shown")
            .And.Contain("compiling now")
            .And.NotContain("sudo");
        output.IndexOf("fake installer", StringComparison.Ordinal).Should().BeLessThan(output.IndexOf("compiling now", StringComparison.Ordinal));
        File.Exists(Path.Combine(temp.Path, "installed")).Should().BeTrue();
    }

    [SkippableFact]
    public void A_failed_install_stops_the_build_on_one_error_line()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "The check runs on Linux only.");

        var (exit, output) = Build("Exe", $"DistillationNativeLibraries={Library(withSymbol: false)}", "DistillationNativeUserId=0", $"DistillationNativeInstaller={Installer(1)}");

        exit.Should().NotBe(0);
        ErrorLines(output).Should().ContainSingle(output).Which.Should().Contain("error DIST002:").And.Contain("failed (exit 1)");
        output.Should().NotContain("compiling now");
    }

    [SkippableFact]
    public void The_opt_out_and_a_library_project_skip_the_check()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "The check runs on Linux only.");
        var missing = $"DistillationNativeLibraries={Library(withSymbol: false)}";

        var optedOut = Build("Exe", missing, "DistillationNativeUserId=1000", "DistillationSkipNativeCheck=true");
        var library = Build("Library", missing, "DistillationNativeUserId=1000");

        optedOut.Exit.Should().Be(0, optedOut.Output);
        optedOut.Output.Should().Contain("compiling now").And.NotContain("lacks");
        library.Exit.Should().Be(0, library.Output);
        library.Output.Should().Contain("compiling now").And.NotContain("lacks");
    }
}
