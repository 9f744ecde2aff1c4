using Distillation.Benchmarks;
using Distillation.Benchmarks.Micro;

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (UsageException e)
{
    if (e.Message.Length > 0)
    {
        Console.Error.WriteLine(e.Message);
        Console.Error.WriteLine();
    }

    Console.Error.WriteLine(BenchOptions.Usage);
    return e.Message.Length > 0 ? 2 : 0;
}

// Measurements mean nothing from a Debug build.
#if DEBUG
Console.Error.WriteLine("Warning: a Debug build; run with -c Release for figures worth reporting.");
#endif

BenchReport report;
try
{
    report = Run(options);
}
catch (UsageException e)
{
    // A mistake found once the mode has looked at its inputs (a missing or non-empty folder, an unknown model).
    Console.Error.WriteLine(e.Message);
    return 2;
}

static BenchReport Run(BenchOptions options) => options.Mode switch
{
    "throughput" => ThroughputBenchmark.Run(options),
    "scaling" => ScalingBenchmark.Run(options),
    "ideas" => IdeasBenchmark.Run(options),
    "precision" => PrecisionBenchmark.Run(options),
    "stability" => StabilityBenchmark.Run(options),
    "onnx-latency" => OnnxLatencyBenchmark.Run(options),
    "onnx-int8" => OnnxInt8Benchmark.Run(options),
    "streaming" => StreamingBenchmark.Run(options),
    "png-folder" => StreamingBenchmark.WritePngFolder(options),
    "jpeg-folder" => JpegFolder.Write(options),
    _ => MicroRunner.Run(options),
};

Console.WriteLine();
Console.WriteLine(options.Mode switch
{
    "throughput" => ThroughputBenchmark.Markdown(report),
    "scaling" => ScalingBenchmark.Markdown(report),
    "ideas" or "precision" => IdeasBenchmark.Markdown(report),
    "stability" => StabilityBenchmark.Markdown(report),
    "onnx-latency" => OnnxLatencyBenchmark.Markdown(report),
    "onnx-int8" => OnnxInt8Benchmark.Markdown(report),
    "streaming" or "png-folder" or "jpeg-folder" => StreamingBenchmark.Markdown(report),
    _ => string.Join(Environment.NewLine, report.Notes),
});

var peak = report.Memory.Count > 0 ? report.Memory[^1] : null;
if (peak is not null)
{
    Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"Peak resident memory {peak.PeakResidentMiB:F0} MiB, resident now {peak.ResidentMiB:F0} MiB, live tensors {peak.LiveTensors}"));
}

if (options.Output is { } output)
{
    report.Write(output);
    Console.WriteLine($"Results written to {output}");
}

return 0;
