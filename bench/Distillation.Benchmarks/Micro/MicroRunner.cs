using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Distillation.Benchmarks.Micro;

/// <summary>Runs the BenchmarkDotNet classes in this process and summarises them.</summary>
internal static class MicroRunner
{
    public static BenchReport Run(BenchOptions options)
    {
        MicroSettings.Threads = options.Threads;
        var artifacts = Path.Combine(Path.GetTempPath(), "distill-bench-artifacts");

        // In-process: no child project is generated and built (the solution's central package management
        // and warnings-as-errors would get in its way), and libtorch loads once.
        var job = Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithId("in-process");
        var config = DefaultConfig.Instance.AddJob(job).WithArtifactsPath(artifacts).WithOptions(ConfigOptions.JoinSummary);
        var summaries = BenchmarkSwitcher.FromTypes([typeof(KLDivergenceLossBenchmarks), typeof(DataPathBenchmarks)])
            .Run(options.Rest.Count > 0 ? [.. options.Rest] : ["--filter", "*"], config)
            .ToList();

        var points = summaries.SelectMany(s => s.Reports).Where(r => r.ResultStatistics is not null).Select(Point).ToList();
        return new BenchReport
        {
            Mode = "micro",
            Environment = BenchEnvironment.Capture(options, "synthetic (micro benchmarks)"),
            Notes = points,
            Memory = [MemorySample.Take("end")],
        };
    }

    private static string Point(BenchmarkReport report)
    {
        var s = report.ResultStatistics!;
        var name = $"{report.BenchmarkCase.Descriptor.Type.Name}.{report.BenchmarkCase.Descriptor.WorkloadMethod.Name}({report.BenchmarkCase.Parameters.DisplayInfo})";
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{name}: mean {s.Mean / 1000:F1} µs, median {s.Median / 1000:F1} µs, sd {s.StandardDeviation / 1000:F1} µs, n {s.N}");
    }
}
