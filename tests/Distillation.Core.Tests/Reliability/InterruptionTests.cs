using System.Diagnostics;
using System.Text.Json;
using Distillation.Serialization;
using Distillation.Tests.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Distillation.Tests.Reliability;

/// <summary>
/// Issue 7, item 2: a process killed (SIGKILL on Linux) while it writes results and weights never
/// leaves a damaged file under the real name: each file holds one whole generation, the old or the new.
/// </summary>
public sealed class InterruptionTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public async Task Killing_a_writer_at_random_moments_always_leaves_complete_results_and_weights()
    {
        var random = new Random(20260703);
        var generations = new List<int>();
        var watch = Stopwatch.StartNew();
        for (var kill = 0; kill < 4 && (kill < 2 || watch.Elapsed < TimeSpan.FromSeconds(12)); kill++)
        {
            using var writer = StartWriter();
            var ready = await writer.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            ready.Should().Be("ready", $"the writer starts (stderr: {ReadError(writer)})");

            await Task.Delay(random.Next(20, 600));
            writer.HasExited.Should().BeFalse($"the writer loops until killed (stderr: {ReadError(writer)})");
            writer.Kill(entireProcessTree: true);
            await writer.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

            generations.Add(CheckResults());
            CheckWeights();
            output.WriteLine($"kill {kill + 1}: results of generation {generations[^1]}, {Directory.EnumerateFiles(temp.Path, "*.tmp").Count()} temporary file(s) left by kills so far");
        }

        generations.Should().OnlyContain(g => g >= 1);
        Directory.EnumerateFiles(temp.Path).Select(Path.GetFileName)
            .Should().Contain([AtomicWriterProcess.ResultsFile, AtomicWriterProcess.WeightsFile])
            .And.OnlyContain(name => name == AtomicWriterProcess.ResultsFile || name == AtomicWriterProcess.WeightsFile || name!.EndsWith(".tmp", StringComparison.Ordinal),
                "a kill may leave a temporary file, never anything else");
    }

    private Process StartWriter()
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(typeof(AtomicWriterProcess).Assembly.Location);
        start.ArgumentList.Add("atomic-writer");
        start.ArgumentList.Add(temp.Path);
        return Process.Start(start)!;
    }

    private static string ReadError(Process process) =>
        process.HasExited ? process.StandardError.ReadToEnd() : "(still running)";

    private int CheckResults()
    {
        var text = File.ReadAllText(Path.Combine(temp.Path, AtomicWriterProcess.ResultsFile));
        var results = JsonSerializer.Deserialize<AtomicWriterProcess.Results>(text)!;
        results.Complete.Should().BeTrue();
        results.Payload.Should().HaveLength(AtomicWriterProcess.PayloadLength)
            .And.Match(p => p.All(c => c == (char)('a' + (results.Generation % 26))), "one generation throughout");
        return results.Generation;
    }

    private void CheckWeights()
    {
        using var scope = NewDisposeScope();
        using var module = AtomicWriterProcess.NewModule();
        module.LoadWeights(Path.Combine(temp.Path, AtomicWriterProcess.WeightsFile));
        var first = module.parameters().First().flatten()[0].item<float>();
        first.Should().BeGreaterThanOrEqualTo(1);
        module.parameters().Should().OnlyContain(p => p.eq(first).all().item<bool>(), "every value comes from one generation");
    }
}
