using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Distillation.IO;
using static TorchSharp.torch;

namespace Distillation.Benchmarks;

/// <summary>One measured case: images/s over the timed rounds, against its target.</summary>
internal sealed record CaseResult(string Name, Stats? Stats, double? Target, bool? Met, string? Note);

/// <summary>The library's overhead over the plain loop.</summary>
internal sealed record OverheadResult(string Definition, Stats Stats, double Target, bool Met);

/// <summary>The data path's share of one training step.</summary>
internal sealed record ShareResult(string Name, double Share, double Target, bool Met);

/// <summary>One point of a table: a named setting and its figures.</summary>
internal sealed record Point(string Model, int Threads, int BatchSize, int Images, int Epochs, Stats ImagesPerSecond, Stats Seconds);

/// <summary>An idea measured against the baseline, alternating.</summary>
internal sealed record IdeaResult(string Name, string Measure, Stats Baseline, Stats Variant, Stats Ratio, string Verdict);

/// <summary>One engine's inference latency at one batch size: per-pass milliseconds and the images/s they give.</summary>
internal sealed record LatencyResult(string Engine, int BatchSize, int Threads, int Passes, Stats Milliseconds, Stats ImagesPerSecond);

/// <summary>What the benchmark ran on.</summary>
internal sealed record BenchEnvironment(
    string Date, string Machine, int ProcessorCount, string Runtime, string TorchSharp, int Threads, int InteropThreads,
    int BatchSize, int Repeats, int Warmup, string Data, string? OtherLoad)
{
    public static BenchEnvironment Capture(BenchOptions options, string data) => new(
        DateTime.UtcNow.ToString("u", System.Globalization.CultureInfo.InvariantCulture),
        CpuModel(),
        Environment.ProcessorCount,
        RuntimeInformation.FrameworkDescription,
        typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "?",
        get_num_threads(),
        get_num_interop_threads(),
        options.BatchSize,
        options.Repeats,
        options.Warmup,
        data,
        LoadAverage());

    private static string CpuModel()
    {
        const string path = "/proc/cpuinfo";
        return File.Exists(path)
            ? File.ReadLines(path).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?"
            : RuntimeInformation.ProcessArchitecture.ToString();
    }

    private static string? LoadAverage() => File.Exists("/proc/loadavg") ? "load average at start: " + File.ReadAllText("/proc/loadavg").Trim() : null;
}

/// <summary>Everything one run measured; written as JSON.</summary>
internal sealed class BenchReport
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public required string Mode { get; init; }

    public required BenchEnvironment Environment { get; init; }

    public IReadOnlyList<CaseResult> Cases { get; init; } = [];

    public OverheadResult? Overhead { get; init; }

    public Stats? DataPathMillisecondsPerBatch { get; init; }

    public IReadOnlyList<ShareResult> DataPathShares { get; init; } = [];

    public IReadOnlyList<Point> Points { get; init; } = [];

    public IReadOnlyList<IdeaResult> Ideas { get; init; } = [];

    public IReadOnlyList<LatencyResult> Latencies { get; init; } = [];

    public IReadOnlyList<MemorySample> Memory { get; init; } = [];

    public StabilityResult? Stability { get; init; }

    public IReadOnlyDictionary<string, IReadOnlyList<double>>? Samples { get; init; }

    public IReadOnlyList<string> Notes { get; init; } = [];

    public double WallSeconds { get; init; }

    public void Write(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json) + "\n");
}
