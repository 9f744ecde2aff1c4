using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Distillation.Cifar10.Tests;

/// <summary>Runs the built sample (distill-cifar10.dll, copied beside the tests) as a child process.</summary>
internal sealed class SampleProcess : IDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();
    private readonly StringBuilder error = new();
    private readonly SemaphoreSlim lines = new(0);

    private SampleProcess(IEnumerable<string> arguments)
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "distill-cifar10.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(error, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Output
    {
        get
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }

    public string Error
    {
        get
        {
            lock (error)
            {
                return error.ToString();
            }
        }
    }

    public int ExitCode => process.ExitCode;

    public int Id => process.Id;

    public static SampleProcess Start(params string[] arguments) => new(arguments);

    /// <summary>Runs to the end; returns the exit code, standard output and standard error.</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] arguments)
    {
        using var sample = Start(arguments);
        await sample.WaitForExitAsync(TimeSpan.FromSeconds(120));
        return (sample.ExitCode, sample.Output, sample.Error);
    }

    /// <summary>Waits until standard output has a line containing <paramref name="text"/>.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No \"{text}\" from the sample (exited: {process.HasExited}).\nstdout:\n{Output}\nstderr:\n{Error}");
            }

            await lines.WaitAsync(TimeSpan.FromMilliseconds(200));
        }
    }

    /// <summary>Waits until standard error has a line containing <paramref name="text"/>.</summary>
    public async Task WaitForErrorAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Error.Contains(text, StringComparison.Ordinal))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No \"{text}\" on the sample's standard error (exited: {process.HasExited}).\nstdout:\n{Output}\nstderr:\n{Error}");
            }

            await lines.WaitAsync(TimeSpan.FromMilliseconds(100));
        }
    }

    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The sample did not exit within {timeout}.\nstdout:\n{Output}\nstderr:\n{Error}");
        }

        process.WaitForExit(); // the last output lines
    }

    /// <summary>Sends a POSIX signal, as Ctrl-C (SIGINT = 2) or kill (SIGTERM = 15) would.</summary>
    public void Signal(int signal)
    {
        if (Kill(process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        process.Dispose();
        lines.Dispose();
    }

    private void Append(StringBuilder builder, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (builder)
        {
            builder.AppendLine(line);
        }

        lines.Release();
    }

#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code in the test project for one call.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054
}
