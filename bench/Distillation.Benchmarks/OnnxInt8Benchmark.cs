using System.Globalization;
using System.Text;
using Distillation.Data;
using Distillation.Devices;
using Distillation.Models;
using Distillation.Models.Zoo;
using Distillation.Onnx;
using Distillation.Onnx.Quantization;
using Distillation.Serialization;
using Distillation.Training;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using static TorchSharp.torch;

namespace Distillation.Benchmarks;

/// <summary>
/// Static int8 quantization of a trained student (the notebook's, or a zoo student by name) or the
/// notebook teacher, measured in ONNX Runtime: CIFAR-10 test accuracy of the fp32 export against its
/// int8 copies (calibrated on training images by min-max, percentile and entropy), file sizes, the
/// kernels ONNX Runtime fuses the QDQ pairs into, ONNX Runtime's per-node profile at batch 64, and
/// latency at batch 1 and 64 on 1 and 2 threads with fp32 and int8 alternating within every round
/// (order reversed every other round).
/// </summary>
internal static class OnnxInt8Benchmark
{
    private static readonly int[] BatchSizes = [1, 64];
    private static readonly int[] ThreadCounts = [1, 2];

    private static int PassesPerRound(int batchSize) => batchSize == 1 ? 200 : 10;

    private sealed record Variant(string Name, string Path, QuantizationOptions? Options);

    public static BenchReport Run(BenchOptions options)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads }.Resolve();
        var notes = new List<string>();
        var cases = new List<CaseResult>();
        if (!Directory.Exists(Cifar10Dataset.ResolveFolder(options.Data)))
        {
            throw new UsageException($"onnx-int8 needs CIFAR-10 (accuracy is measured): not found under {options.Data}.");
        }

        using var train = Cifar10Dataset.Load(options.Data, Cifar10Split.Train);
        using var test = Cifar10Dataset.Load(options.Data, Cifar10Split.Test);
        manual_seed(42);
        var teacher = options.Only == "teacher";
        var modelName = teacher ? "teacher" : options.Student ?? "student";
        using var student = CreateModel(teacher, options.Student);
        if ((teacher ? options.TeacherWeights : options.StudentWeights) is { } weights && File.Exists(weights))
        {
            student.LoadWeights(weights);
            notes.Add($"{modelName}: weights loaded from {weights}");
        }
        else
        {
            // Cross-entropy training of the model itself (TrainTeacher for the teacher, TrainStudent for a student).
            var trainerOptions = new TrainerOptions { Epochs = options.Epochs, Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads } };
            var trainingSeconds = 0.0;
            TrainingResult? result = null;
            var progress = new Progress<TrainingProgress>(p =>
            {
                if (p is EpochReport epoch)
                {
                    Console.WriteLine(Invariant($"Training epoch {epoch.Epoch}/{epoch.Epochs}: loss {epoch.MeanLoss:F3}, {epoch.TrainingTime.TotalSeconds:F0} s"));
                }
            });
            if (student is TeacherNet teacherNet)
            {
                using var unusedStudent = new StudentNet();
                var trainer = new Trainer<TeacherNet, StudentNet>(teacherNet, unusedStudent, trainerOptions);
                trainingSeconds = Stats.Seconds(() => result = trainer.TrainTeacher(train, test, progress));
            }
            else
            {
                using var unusedTeacher = new StudentNet();
                var trainer = new Trainer<StudentNet, nn.Module<Tensor, Tensor>>(unusedTeacher, student, trainerOptions);
                trainingSeconds = Stats.Seconds(() => result = trainer.TrainStudent(train, test, progress));
            }

            notes.Add(Invariant($"{modelName}: trained with cross-entropy (Adam 1e-3, batch 128, seed 42) for {options.Epochs} epochs on the 50,000 training images in {trainingSeconds:F0} s; TorchSharp test accuracy {100 * result!.FinalAccuracy:F2} %"));
            if ((teacher ? options.TeacherWeights : options.StudentWeights) is { } save)
            {
                student.SaveWeights(save);
                notes.Add($"{modelName}: weights saved to {save}");
            }
        }

        student.eval();
        var folder = options.Folder ?? Path.Combine(Path.GetTempPath(), "distill-bench-int8-" + Environment.ProcessId);
        Directory.CreateDirectory(folder);
        var fp32Path = Path.Combine(folder, modelName + ".onnx");
        OnnxExporter.Export(student, fp32Path, new OnnxExportOptions { ClassNames = train.ClassNames, Normalization = train.Normalization });

        // Calibration images: a seeded sample of the training set, never the test set.
        using var calibration = train.Sample(options.CalibrationImages, seed: 7);
        var variants = new List<Variant>
        {
            new("int8 (u8, min-max)", Path.Combine(folder, modelName + ".int8.onnx"), new QuantizationOptions { Threads = options.Threads }),
            new("int8 (u8, min-max, RGB stem float)", Path.Combine(folder, modelName + ".int8-float-stem.onnx"), new QuantizationOptions { MinConvInputChannels = 4, Threads = options.Threads }),
            new("int8 (u8, percentile 99.999)", Path.Combine(folder, modelName + ".int8-percentile.onnx"), new QuantizationOptions { Method = CalibrationMethod.Percentile, Threads = options.Threads }),
            new("int8 (u8, entropy)", Path.Combine(folder, modelName + ".int8-entropy.onnx"), new QuantizationOptions { Method = CalibrationMethod.Entropy, Threads = options.Threads }),
            new("int8 (s8, min-max)", Path.Combine(folder, modelName + ".int8-s8.onnx"), new QuantizationOptions { Activations = ActivationType.S8, Threads = options.Threads }),
        };
        foreach (var variant in variants)
        {
            var seconds = Stats.Seconds(() =>
            {
                var report = OnnxQuantizer.Quantize(fp32Path, variant.Path, calibration, variant.Options);
                notes.Add(Invariant($"{variant.Name}: {report.QuantizedNodes.Count} nodes quantized ({string.Join(", ", report.QuantizedNodes.Select(n => n.OpType))}), {report.CarriedNodes.Count} carried, {report.FloatNodes.Count} float ({string.Join(", ", report.FloatNodes.Select(n => n.OpType))}); {report.CalibrationImages} calibration images"));
            });
            notes.Add(Invariant($"{variant.Name}: quantized in {seconds:F1} s; ONNX Runtime's optimized graph: {string.Join(", ", OptimizedNodeTypes(variant.Path, folder))}"));
        }

        notes.Add($"fp32: ONNX Runtime's optimized graph: {string.Join(", ", OptimizedNodeTypes(fp32Path, folder))}");
        var fp32Bytes = new FileInfo(fp32Path).Length;
        var fp32Accuracy = Accuracy(fp32Path, test, options.Threads);
        cases.Add(new CaseResult("fp32 test accuracy (%)", Single(100 * fp32Accuracy), null, null, Invariant($"{fp32Bytes:N0} bytes")));
        foreach (var variant in variants)
        {
            var accuracy = Accuracy(variant.Path, test, options.Threads);
            var drop = 100 * (fp32Accuracy - accuracy);
            cases.Add(new CaseResult($"{variant.Name} test accuracy (%)", Single(100 * accuracy), null, null, Invariant($"drop {drop:F2} points")));
            cases.Add(new CaseResult($"{variant.Name} accuracy drop (points)", Single(drop), 0.5, drop <= 0.5, null));
            var bytes = new FileInfo(variant.Path).Length;
            cases.Add(new CaseResult($"{variant.Name} size ratio (fp32 / int8)", Single((double)fp32Bytes / bytes), 3.5, (double)fp32Bytes / bytes >= 3.5, Invariant($"{bytes:N0} bytes")));
        }

        var timed = new List<Variant> { new("fp32", fp32Path, null), variants[0], variants[1], variants[4] };
        foreach (var variant in timed.Take(3))
        {
            notes.Add($"{variant.Name}: ONNX Runtime's profile, batch 64, 1 thread, median kernel time per node over 20 runs: {Profile(variant.Path, folder)}");
        }

        var (latencies, samples) = Latencies(timed, options);
        foreach (var threads in ThreadCounts)
        {
            var fp32 = latencies.Single(l => l.Engine == "fp32" && l.BatchSize == 64 && l.Threads == threads);
            foreach (var variant in timed.Skip(1))
            {
                var int8 = latencies.Single(l => l.Engine == variant.Name && l.BatchSize == 64 && l.Threads == threads);
                var speedup = fp32.Milliseconds.Median / int8.Milliseconds.Median;
                cases.Add(new CaseResult($"{variant.Name} throughput vs fp32, batch 64, {threads} thread(s)", Single(speedup), 2, speedup >= 2, null));
            }
        }

        notes.Add($"ONNX Runtime {typeof(InferenceSession).Assembly.GetName().Version}; sessions with all graph optimizations, sequential execution, InterOpNumThreads 1; files in {folder}");
        notes.Add("CPU flags: " + CpuCeilings.Flags());
        if (options.Folder is null)
        {
            Directory.Delete(folder, recursive: true);
        }

        return new BenchReport
        {
            Mode = options.Mode,
            Environment = BenchEnvironment.Capture(options, $"CIFAR-10 ({options.Data}): 50,000 training images (of which {options.CalibrationImages} calibrate, seed 7), 10,000 test images"),
            Cases = cases,
            Latencies = latencies,
            Samples = samples,
            Notes = notes,
            WallSeconds = clock.Elapsed.TotalSeconds,
        };
    }

    public static string Markdown(BenchReport report)
    {
        var text = new StringBuilder();
        text.AppendLine("| Measure | Value | Goal | Met | Note |");
        text.AppendLine("|---|---:|---:|---|---|");
        foreach (var c in report.Cases)
        {
            text.AppendLine(Invariant($"| {c.Name} | {c.Stats?.Median:F2} | {(c.Target is { } t ? t.ToString(CultureInfo.InvariantCulture) : "")} | {(c.Met is { } m ? (m ? "yes" : "no") : "")} | {c.Note} |"));
        }

        text.AppendLine();
        text.AppendLine("| Model | Threads | Batch | Latency ms, median (min–max) | Images/s |");
        text.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var l in report.Latencies)
        {
            text.AppendLine(Invariant($"| {l.Engine} | {l.Threads} | {l.BatchSize} | {l.Milliseconds.Median:F3} ({l.Milliseconds.Min:F3}–{l.Milliseconds.Max:F3}) | {l.ImagesPerSecond.Median:N0} |"));
        }

        text.AppendLine();
        foreach (var note in report.Notes)
        {
            text.AppendLine("- " + note);
        }

        return text.ToString();
    }

    private static Stats Single(double value) => new(value, value, value, 1);

    /// <summary>The notebook's teacher or student, or a zoo student by name, with fresh weights.</summary>
    private static nn.Module<Tensor, Tensor> CreateModel(bool teacher, string? zooStudent)
    {
        if (teacher)
        {
            return new TeacherNet();
        }

        if (zooStudent is null)
        {
            return new StudentNet();
        }

        try
        {
            return ModelZoo.Create(zooStudent, classes: 10);
        }
        catch (ArgumentException e)
        {
            throw new UsageException("--student: " + e.Message);
        }
    }

    /// <summary>
    /// ONNX Runtime's own profile of 20 runs at batch 64 on 1 thread (after 3 untimed): the median
    /// kernel time of each node, summed by operator, and the total.
    /// </summary>
    private static string Profile(string path, string folder)
    {
        var prefix = Path.Combine(folder, "profile-" + Path.GetFileNameWithoutExtension(path));
        string file;
        using (var sessionOptions = new SessionOptions
        {
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            EnableProfiling = true,
            ProfileOutputPathPrefix = prefix,
        })
        using (var session = new InferenceSession(path, sessionOptions))
        using (var runOptions = new RunOptions())
        {
            manual_seed(3);
            using var images = randn(64, 3, 32, 32);
            using var input = OrtValue.CreateTensorValueFromMemory(images.data<float>().ToArray(), [64, 3, 32, 32]);
            for (var i = 0; i < 23; i++)
            {
                using var outputs = session.Run(runOptions, session.InputNames, [input], session.OutputNames);
            }

            file = session.EndProfiling();
        }

        using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(file));
        var nodes = document.RootElement.EnumerateArray()
            .Where(e => e.GetProperty("cat").GetString() == "Node" && e.GetProperty("name").GetString()!.EndsWith("_kernel_time", StringComparison.Ordinal))
            .GroupBy(e => (Op: e.GetProperty("args").GetProperty("op_name").GetString()!, Node: e.GetProperty("name").GetString()!))
            .Select(g =>
            {
                // The first 3 runs are warm-up.
                var times = g.Select(e => e.GetProperty("dur").GetDouble()).Skip(3).Order().ToArray();
                return (g.Key.Op, Microseconds: times.Length == 0 ? 0 : times[times.Length / 2]);
            })
            .ToList();
        File.Delete(file);
        var byOperator = nodes.GroupBy(n => n.Op)
            .Select(g => (Op: g.Key, Count: g.Count(), Microseconds: g.Sum(n => n.Microseconds)))
            .OrderByDescending(g => g.Microseconds);
        return Invariant($"{nodes.Sum(n => n.Microseconds) / 1000:F2} ms in all; ") + string.Join(", ", byOperator.Select(g => Invariant($"{g.Op}×{g.Count} {g.Microseconds / 1000:F2} ms")));
    }

    private static InferenceSession Open(string path, int threads, string? optimizedPath = null)
    {
        using var sessionOptions = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        if (optimizedPath is not null)
        {
            sessionOptions.OptimizedModelFilePath = optimizedPath;
        }

        return new InferenceSession(path, sessionOptions);
    }

    /// <summary>The node types of the graph ONNX Runtime runs after its optimizations, with counts.</summary>
    private static IEnumerable<string> OptimizedNodeTypes(string path, string folder)
    {
        var optimized = Path.Combine(folder, Path.GetFileNameWithoutExtension(path) + ".optimized.onnx");
        using (Open(path, 1, optimized))
        {
        }

        using var stream = File.OpenRead(optimized);
        var model = ModelProto.Parser.ParseFrom(stream);
        return model.Graph.Node.GroupBy(n => n.OpType).Select(g => $"{g.Key}×{g.Count()}");
    }

    private static double Accuracy(string path, ImageDataset test, int threads)
    {
        using var session = Open(path, threads);
        using var runOptions = new RunOptions();
        using var plan = test.PlanBatches(500);
        long correct = 0;
        for (var i = 0; i < plan.BatchCount; i++)
        {
            using var scope = NewDisposeScope();
            var batch = plan.GetBatch(i);
            using var input = OrtValue.CreateTensorValueFromMemory(batch.Images.contiguous().data<float>().ToArray(), batch.Images.shape);
            using var outputs = session.Run(runOptions, session.InputNames, [input], session.OutputNames);
            var logits = outputs[0].GetTensorDataAsSpan<float>();
            var labels = batch.Labels.data<long>().ToArray();
            var classes = logits.Length / labels.Length;
            for (var row = 0; row < labels.Length; row++)
            {
                var scores = logits.Slice(row * classes, classes);
                var best = 0;
                for (var c = 1; c < classes; c++)
                {
                    best = scores[c] > scores[best] ? c : best;
                }

                correct += best == labels[row] ? 1 : 0;
            }
        }

        return (double)correct / test.Count;
    }

    private static (List<LatencyResult>, Dictionary<string, IReadOnlyList<double>>) Latencies(List<Variant> models, BenchOptions options)
    {
        manual_seed(7);
        var inputs = BatchSizes.ToDictionary(b => b, b =>
        {
            using var images = randn(b, 3, 32, 32);
            var values = images.data<float>().ToArray();
            return OrtValue.CreateTensorValueFromMemory(values, [b, 3, 32, 32]);
        });
        var sessions = new List<InferenceSession>();
        using var runOptions = new RunOptions();
        var cases = new List<(string Model, int Threads, int Batch, Action Pass)>();
        foreach (var threads in ThreadCounts)
        {
            foreach (var model in models)
            {
                var session = Open(model.Path, threads);
                sessions.Add(session);
                foreach (var batch in BatchSizes)
                {
                    var input = inputs[batch];
                    cases.Add((model.Name, threads, batch, () =>
                    {
                        using var outputs = session.Run(runOptions, session.InputNames, [input], session.OutputNames);
                    }));
                }
            }
        }

        var samples = cases.ToDictionary(c => Key(c.Model, c.Threads, c.Batch), _ => new List<double>());
        for (var round = 0; round < options.Warmup + options.Repeats; round++)
        {
            var order = round % 2 == 0 ? cases : Enumerable.Reverse(cases).ToList();
            foreach (var (model, threads, batch, pass) in order)
            {
                for (var i = 0; i < PassesPerRound(batch); i++)
                {
                    var seconds = Stats.Seconds(pass);
                    if (round >= options.Warmup)
                    {
                        samples[Key(model, threads, batch)].Add(seconds * 1000);
                    }
                }
            }

            Console.WriteLine($"Round {round + 1}/{options.Warmup + options.Repeats}{(round < options.Warmup ? " (warm-up)" : string.Empty)} done");
        }

        var latencies = cases.Select(c =>
        {
            var milliseconds = samples[Key(c.Model, c.Threads, c.Batch)];
            return new LatencyResult(c.Model, c.Batch, c.Threads, milliseconds.Count, Stats.Of(milliseconds)!, Stats.Of(milliseconds.Select(ms => c.Batch / (ms / 1000)).ToArray())!);
        }).ToList();
        foreach (var session in sessions)
        {
            session.Dispose();
        }

        foreach (var input in inputs.Values)
        {
            input.Dispose();
        }

        return (latencies, samples.ToDictionary(p => p.Key, p => (IReadOnlyList<double>)p.Value));
    }

    private static string Key(string model, int threads, int batch) => Invariant($"{model}, {threads} thread(s), batch {batch}");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
