using System.Diagnostics;
using System.Globalization;
using System.Text;
using Distillation.Devices;
using Distillation.Models;
using Distillation.Serialization;
using Distillation.Onnx;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Distillation.Benchmarks;

/// <summary>
/// The student's inference latency in TorchSharp (eval, no_grad) and in ONNX Runtime on the file
/// Distillation.Onnx exports, at batch 1 and 256, both on the same number of threads. The four
/// cases alternate within every round (their order reversed every other round); each timed pass is
/// one sample, and the tables give the median.
/// </summary>
internal static class OnnxLatencyBenchmark
{
    private static readonly int[] BatchSizes = [1, 256];

    /// <summary>Timed passes per case and round: many small passes, fewer large ones, a similar time each.</summary>
    private static int PassesPerRound(int batchSize) => batchSize == 1 ? 200 : 8;

    public static BenchReport Run(BenchOptions options)
    {
        var clock = Stopwatch.StartNew();
        new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads }.Resolve();
        manual_seed(42);
        using var student = new StudentNet();
        var notes = new List<string>();
        if (options.StudentWeights is { } weights)
        {
            student.LoadWeights(weights);
            notes.Add($"student weights: {weights}");
        }
        else
        {
            notes.Add("student weights: freshly initialised (seed 42); the latency of these dense layers does not depend on the values");
        }

        student.eval();
        var folder = Path.Combine(Path.GetTempPath(), "distill-bench-onnx-" + Environment.ProcessId);
        var path = Path.Combine(folder, "student.onnx");
        OnnxExporter.Export(student, path);
        notes.Add($"ONNX file: {new FileInfo(path).Length:N0} bytes, opset {OnnxExporter.OpsetVersion}; ONNX Runtime {typeof(InferenceSession).Assembly.GetName().Version}, " +
            $"IntraOpNumThreads {options.Threads}, InterOpNumThreads 1, sequential execution, all graph optimisations");

        using var sessionOptions = new SessionOptions
        {
            IntraOpNumThreads = options.Threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        using var session = new InferenceSession(path, sessionOptions);
        using var runOptions = new RunOptions();
        Directory.Delete(folder, recursive: true);

        // The same images for both engines, created once: only the forward pass is timed.
        manual_seed(7);
        var inputs = BatchSizes.ToDictionary(b => b, b => randn(b, 3, 32, 32).DetachFromDisposeScope());
        var ortInputs = inputs.ToDictionary(p => p.Key, p => OrtValue.CreateTensorValueFromMemory(p.Value.data<float>().ToArray(), p.Value.shape));
        notes.Add("agreement: " + string.Join(", ", BatchSizes.Select(b => Invariant($"batch {b} max |Δ| {MaxDifference(student, session, runOptions, inputs[b], ortInputs[b]):E1}"))));

        var cases = new List<(string Engine, int Batch, Action Pass)>();
        foreach (var batch in BatchSizes)
        {
            var input = inputs[batch];
            var ortInput = ortInputs[batch];
            cases.Add(("TorchSharp", batch, () =>
            {
                using var noGrad = no_grad();
                using var output = student.call(input);
            }));
            cases.Add(("ONNX Runtime", batch, () =>
            {
                using var outputs = session.Run(runOptions, session.InputNames, [ortInput], session.OutputNames);
            }));
        }

        var samples = cases.ToDictionary(c => Key(c.Engine, c.Batch), _ => new List<double>());
        for (var round = 0; round < options.Warmup + options.Repeats; round++)
        {
            var timed = round >= options.Warmup;
            var order = round % 2 == 0 ? cases : Enumerable.Reverse(cases).ToList();
            foreach (var (engine, batch, pass) in order)
            {
                for (var i = 0; i < PassesPerRound(batch); i++)
                {
                    var seconds = Stats.Seconds(pass);
                    if (timed)
                    {
                        samples[Key(engine, batch)].Add(seconds * 1000);
                    }
                }
            }

            Console.WriteLine($"Round {round + 1}/{options.Warmup + options.Repeats}{(timed ? string.Empty : " (warm-up)")} done");
        }

        var latencies = cases.Select(c =>
        {
            var milliseconds = samples[Key(c.Engine, c.Batch)];
            return new LatencyResult(c.Engine, c.Batch, options.Threads, milliseconds.Count, Stats.Of(milliseconds)!,
                Stats.Of(milliseconds.Select(ms => c.Batch / (ms / 1000)).ToArray())!);
        }).ToList();

        foreach (var input in inputs.Values)
        {
            input.Dispose();
        }

        foreach (var ortInput in ortInputs.Values)
        {
            ortInput.Dispose();
        }

        return new BenchReport
        {
            Mode = options.Mode,
            Environment = BenchEnvironment.Capture(options, "random images (latency does not depend on the pixels)"),
            Latencies = latencies,
            Notes = notes,
            Samples = samples.ToDictionary(p => p.Key, p => (IReadOnlyList<double>)p.Value),
            WallSeconds = clock.Elapsed.TotalSeconds,
        };
    }

    public static string Markdown(BenchReport report)
    {
        var text = new StringBuilder();
        text.AppendLine(Invariant($"Student inference, {(report.Latencies.Count > 0 ? report.Latencies[0].Threads : 0)} threads, median over the timed passes (min–max):"));
        text.AppendLine();
        text.AppendLine("| Engine | Batch | Latency (ms) | Images/s | vs TorchSharp |");
        text.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var latency in report.Latencies)
        {
            var torch = report.Latencies.First(l => l.Engine == "TorchSharp" && l.BatchSize == latency.BatchSize);
            text.AppendLine(Invariant(
                $"| {latency.Engine} | {latency.BatchSize} | {latency.Milliseconds.Median:F3} ({latency.Milliseconds.Min:F3}–{latency.Milliseconds.Max:F3}) | {latency.ImagesPerSecond.Median:N0} | {torch.Milliseconds.Median / latency.Milliseconds.Median:F2}× |"));
        }

        text.AppendLine();
        foreach (var note in report.Notes)
        {
            text.AppendLine("- " + note);
        }

        return text.ToString();
    }

    private static float MaxDifference(StudentNet student, InferenceSession session, RunOptions runOptions, Tensor input, OrtValue ortInput)
    {
        using var noGrad = no_grad();
        using var expected = student.call(input);
        using var outputs = session.Run(runOptions, session.InputNames, [ortInput], session.OutputNames);
        var actual = outputs[0].GetTensorDataAsSpan<float>();
        var reference = expected.data<float>().ToArray();
        var max = 0f;
        for (var i = 0; i < reference.Length; i++)
        {
            max = Math.Max(max, Math.Abs(reference[i] - actual[i]));
        }

        return max;
    }

    private static string Key(string engine, int batch) => Invariant($"{engine} batch {batch}");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
