using System.Diagnostics;
using System.Globalization;
using System.Text;
using Distillation.Devices;
using Distillation.Models;
using Distillation.Serialization;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Benchmarks;

/// <summary>
/// CPU speed-ups tried against the baseline, each pair alternating within every round on the same
/// data: evaluation under inference mode instead of no_grad, in-place ReLU, channels-last layout,
/// the evaluation batch size, the live teacher in bfloat16 (explicitly, and as Auto chooses), and
/// mixed-precision training with and without channels-last batches.
/// </summary>
internal static class IdeasBenchmark
{
    public static BenchReport Run(BenchOptions options)
    {
        var defaultThreads = get_num_threads();
        var defaultInterop = get_num_interop_threads();
        var trainImages = Math.Min(options.TeacherImages, 1024);
        var evalImages = options.TeacherEvalImages;
        using var data = BenchData.Load(options, trainImages, evalImages);
        Console.WriteLine($"Data: {data.Source}");
        var clock = Stopwatch.StartNew();
        var notes = new List<string>
        {
            $"libtorch's default thread counts in this process: {defaultThreads} intra-op, {defaultInterop} inter-op (before any setting)",
            ChannelsLastApiNote(),
        };

        // Resolving the device sets the thread count and the allocator tuning, as the trainer does.
        new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads }.Resolve();
        manual_seed(42);
        using var teacher = new TeacherNet();
        manual_seed(42);
        using var inPlace = new InPlaceReluTeacherNet();
        manual_seed(42);
        using var teacherForLayout = new TeacherNet();
        using var baseLoop = new PlainLoop(teacher, data.Train.Normalization);
        using var inPlaceLoop = new PlainLoop(inPlace, data.Train.Normalization);
        using var layoutLoop = new PlainLoop(teacherForLayout, data.Train.Normalization, prepare: ChannelsLast.Of);
        manual_seed(42);
        using var teacherWithLayoutWeights = new TeacherNet();
        ChannelsLast.ConvertWeights(teacherWithLayoutWeights);
        using var layoutWeightsLoop = new PlainLoop(teacherWithLayoutWeights, data.Train.Normalization, prepare: ChannelsLast.Of);

        // Evaluation input, sliced once: the forward pass alone is compared.
        var evalBatches = new List<Tensor>();
        using (var plan = data.Test.PlanBatches(256))
        {
            for (var b = 0; b < plan.BatchCount; b++)
            {
                evalBatches.Add(plan.GetBatch(b).Images.DetachFromDisposeScope());
            }
        }

        var evalChannelsLast = evalBatches.Select(b => ChannelsLast.Of(b).DetachFromDisposeScope()).ToList();
        if (options.TeacherWeights is { } weights)
        {
            using var trained = new TeacherNet();
            trained.LoadWeights(weights);
            notes.Add($"trained teacher ({weights}): " + LayoutCheck(trained, evalBatches[0], evalChannelsLast[0]));
        }

        notes.Add("random-weight teacher: " + LayoutCheck(teacher, evalBatches[0], evalChannelsLast[0]));

        var trainer256 = new Trainer<TeacherNet, StudentNet>(teacher, new StudentNet(), new TrainerOptions
        {
            EvaluationBatchSize = 256, Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads },
        });
        var trainer512 = new Trainer<TeacherNet, StudentNet>(teacher, trainer256.Student, new TrainerOptions
        {
            EvaluationBatchSize = 512, Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads },
        });

        var distiller = new Trainer<TeacherNet, StudentNet>(teacher, new StudentNet(), new TrainerOptions
        {
            Epochs = 1, BatchSize = options.BatchSize, Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads },
            TeacherOutputs = new TeacherOutputOptions { Cache = false, Precision = TeacherPrecision.Float32 },
        });

        var distillerAuto = new Trainer<TeacherNet, StudentNet>(teacher, distiller.Student, new TrainerOptions
        {
            Epochs = 1, BatchSize = options.BatchSize, Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads },
            TeacherOutputs = new TeacherOutputOptions { Cache = false, Precision = TeacherPrecision.Auto },
        });

        // What Auto chooses here, and on what evidence, is the trainer's own log line (the probe is internal to the library);
        // the probe runs once per process, in the "auto precision" case's untimed first call, which then times whatever it chose.
        notes.Add("TeacherPrecision.Auto and TrainingPrecision.Auto decide by the library's probe (avx512_bf16 or amx_bf16, then one timed convolution); the choice is in the run's log.");

        var distillerBFloat16 = new Trainer<TeacherNet, StudentNet>(teacher, distiller.Student, new TrainerOptions
        {
            Epochs = 1, BatchSize = options.BatchSize, Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads },
            TeacherOutputs = new TeacherOutputOptions { Cache = false, Precision = TeacherPrecision.BFloat16 },
        });

        // Mixed precision and channels-last batches in training (TrainerOptions.Precision, ChannelsLast):
        // each arm trains its own copy of the same initial weights, so the arms never share a module.
        Trainer<TeacherNet, StudentNet> Training(TrainingPrecision precision, bool channelsLast, TeacherPrecision teacherPrecision = TeacherPrecision.Auto)
        {
            manual_seed(42);
            var ownTeacher = new TeacherNet();
            manual_seed(43);
            return new Trainer<TeacherNet, StudentNet>(ownTeacher, new StudentNet(), new TrainerOptions
            {
                Epochs = 1, BatchSize = options.BatchSize, Precision = precision, ChannelsLast = channelsLast,
                Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads },
                TeacherOutputs = new TeacherOutputOptions { Cache = false, Precision = teacherPrecision },
            });
        }

        var float32Training = Training(TrainingPrecision.Float32, channelsLast: false);
        var channelsLastTraining = Training(TrainingPrecision.Float32, channelsLast: true);
        var mixedTraining = Training(TrainingPrecision.BFloat16Mixed, channelsLast: false);
        var mixedChannelsLastTraining = Training(TrainingPrecision.BFloat16Mixed, channelsLast: true);

        // Baselines in the default layout, whatever the library's default for eval mode is.
        teacher.ChannelsLastInference = false;
        trainer256.Student.ChannelsLastInference = false;

        var ideas = new List<(string Name, string Measure, long Images, Action Baseline, Action Variant)>
        {
            ("inference_mode instead of no_grad", "teacher evaluation forward, batch 256", evalImages,
                () => Forward(teacher, evalBatches, inference: false), () => Forward(teacher, evalBatches, inference: true)),
            ("channels-last input (evaluation)", "teacher evaluation forward, batch 256, no_grad, input converted outside the timing", evalImages,
                () => Forward(teacher, evalBatches, inference: false), () => Forward(teacher, evalChannelsLast, inference: false)),
            ("ChannelsLastInference on the teacher", "Trainer.EvaluateTeacher, batch 256", evalImages,
                () => WithLayout(teacher, false, () => trainer256.EvaluateTeacher(data.Test)), () => WithLayout(teacher, true, () => trainer256.EvaluateTeacher(data.Test))),
            ("ChannelsLastInference on the student", "Trainer.EvaluateStudent, batch 256", evalImages,
                () => WithLayout(trainer256.Student, false, () => trainer256.EvaluateStudent(data.Test)), () => WithLayout(trainer256.Student, true, () => trainer256.EvaluateStudent(data.Test))),
            ("ChannelsLastInference on the teacher", $"Trainer.Distill (live teacher, notebook KL loss), batch {options.BatchSize}", trainImages,
                () => WithLayout(teacher, false, () => distiller.Distill(data.Train)), () => WithLayout(teacher, true, () => distiller.Distill(data.Train))),
            ("bfloat16 teacher (TeacherOutputs.Precision)", $"Trainer.Distill (live teacher, notebook KL loss), batch {options.BatchSize}; float32 default layout against bfloat16 channels-last", trainImages,
                () => WithLayout(teacher, false, () => distiller.Distill(data.Train)), () => WithLayout(teacher, false, () => distillerBFloat16.Distill(data.Train))),
            ("auto precision (TeacherOutputs.Precision Auto against Float32)", $"Trainer.Distill (live teacher, notebook KL loss), batch {options.BatchSize}; float32 default layout against Auto (bfloat16 channels-last where the probe finds it faster)", trainImages,
                () => WithLayout(teacher, false, () => distiller.Distill(data.Train)), () => WithLayout(teacher, false, () => distillerAuto.Distill(data.Train))),
            ("bfloat16 teacher against a channels-last float32 one", $"Trainer.Distill (live teacher, notebook KL loss), batch {options.BatchSize}; float32 channels-last against bfloat16 channels-last", trainImages,
                () => WithLayout(teacher, true, () => distiller.Distill(data.Train)), () => WithLayout(teacher, false, () => distillerBFloat16.Distill(data.Train))),
            ("channels-last batches in training (TrainerOptions.ChannelsLast)", $"Trainer.TrainTeacher, one epoch, batch {options.BatchSize}; float32 NCHW against float32 channels-last", trainImages,
                () => float32Training.TrainTeacher(data.Train), () => channelsLastTraining.TrainTeacher(data.Train)),
            ("mixed precision, teacher training (TrainerOptions.Precision BFloat16Mixed)", $"Trainer.TrainTeacher, one epoch, batch {options.BatchSize}; float32 against bfloat16 mixed, both NCHW", trainImages,
                () => float32Training.TrainTeacher(data.Train), () => mixedTraining.TrainTeacher(data.Train)),
            ("mixed precision with channels-last, teacher training", $"Trainer.TrainTeacher, one epoch, batch {options.BatchSize}; float32 NCHW against bfloat16 mixed channels-last", trainImages,
                () => float32Training.TrainTeacher(data.Train), () => mixedChannelsLastTraining.TrainTeacher(data.Train)),
            ("mixed precision with channels-last, student training", $"Trainer.TrainStudent, one epoch, batch {options.BatchSize}; float32 NCHW against bfloat16 mixed channels-last", trainImages,
                () => float32Training.TrainStudent(data.Train), () => mixedChannelsLastTraining.TrainStudent(data.Train)),
            ("mixed precision with channels-last, live distillation", $"Trainer.Distill (live teacher in Auto precision, notebook KL loss), one epoch, batch {options.BatchSize}; float32 NCHW student against bfloat16 mixed channels-last", trainImages,
                () => float32Training.Distill(data.Train), () => mixedChannelsLastTraining.Distill(data.Train)),
            ("evaluation batch 512 instead of 256", "Trainer.EvaluateTeacher", evalImages,
                () => trainer256.EvaluateTeacher(data.Test), () => trainer512.EvaluateTeacher(data.Test)),
            ("in-place ReLU", $"teacher training epoch, plain loop, batch {options.BatchSize}", trainImages,
                () => baseLoop.Epoch(data.Train, options.BatchSize), () => inPlaceLoop.Epoch(data.Train, options.BatchSize)),
            ("channels-last input (training)", $"teacher training epoch, plain loop, batch {options.BatchSize}", trainImages,
                () => baseLoop.Epoch(data.Train, options.BatchSize), () => layoutLoop.Epoch(data.Train, options.BatchSize)),
            ("channels-last input and convolution weights (training)", $"teacher training epoch, plain loop, batch {options.BatchSize}", trainImages,
                () => baseLoop.Epoch(data.Train, options.BatchSize), () => layoutWeightsLoop.Epoch(data.Train, options.BatchSize)),
        };

        // The machine's ceilings, for the share of them that training reaches.
        var (float32Ceiling, bfloat16Ceiling) = CpuCeilings.Convolution();
        var teacherFlops = CpuCeilings.TrainingFlopsPerImage(teacher, [3, 32, 32]);
        notes.Add("CPU flags: " + CpuCeilings.Flags());
        notes.Add(Invariant($"Convolution ceilings (the notebook teacher's 128→64 3×3 convolution at 32×32, batch 128, forward, best of 5): float32 NCHW {float32Ceiling:F0} GFLOP/s, bfloat16 channels-last {bfloat16Ceiling:F0} GFLOP/s; a notebook-teacher training step costs {teacherFlops / 1e6:F0} MFLOP per image (3 × the forward's convolutions and linear layers)"));
        Console.WriteLine(notes[^2]);
        Console.WriteLine(notes[^1]);

        var results = new List<IdeaResult>();
        foreach (var (name, measure, images, baseline, variant) in ideas.Where(i => options.Only is null || i.Name.Contains(options.Only, StringComparison.OrdinalIgnoreCase)))
        {
            baseline();
            variant();
            var a = new List<double>();
            var b = new List<double>();
            for (var r = 0; r < options.Repeats; r++)
            {
                // Alternate which goes first.
                if (r % 2 == 0)
                {
                    a.Add(images / Stats.Seconds(baseline));
                    b.Add(images / Stats.Seconds(variant));
                }
                else
                {
                    b.Add(images / Stats.Seconds(variant));
                    a.Add(images / Stats.Seconds(baseline));
                }
            }

            var ratio = Stats.Of(a.Zip(b, (x, y) => y / x).ToList())!;
            var verdict = ratio.Median >= 1.03 ? "faster" : ratio.Median <= 0.97 ? "slower" : "no measurable difference (within ±3 %)";
            results.Add(new IdeaResult(name, measure, Stats.Of(a)!, Stats.Of(b)!, ratio, verdict));
            Console.WriteLine(Invariant($"{name}: baseline {results[^1].Baseline.Median:F0}, variant {results[^1].Variant.Median:F0} images/s, ratio {ratio.Median:F3} ({ratio.Min:F3}–{ratio.Max:F3}): {verdict}"));
        }

        foreach (var result in results.Where(r => r.Name.Contains("teacher training", StringComparison.Ordinal)))
        {
            var (baselineRate, variantRate) = (result.Baseline.Median * teacherFlops / 1e9, result.Variant.Median * teacherFlops / 1e9);
            notes.Add(Invariant($"{result.Name}: baseline {baselineRate:F0} GFLOP/s ({100 * baselineRate / float32Ceiling:F0} % of the float32 ceiling), variant {variantRate:F0} GFLOP/s ({100 * variantRate / float32Ceiling:F0} % of the float32 ceiling, {100 * variantRate / bfloat16Ceiling:F0} % of the bfloat16 one)"));
            Console.WriteLine(notes[^1]);
        }

        foreach (var t in evalBatches.Concat(evalChannelsLast))
        {
            t.Dispose();
        }

        return new BenchReport
        {
            Mode = "ideas",
            Environment = BenchEnvironment.Capture(options, data.Source),
            Ideas = results,
            Notes = notes,
            Memory = [MemorySample.Take("end")],
            WallSeconds = clock.Elapsed.TotalSeconds,
        };
    }

    private static void WithLayout(FeatureClassifierNet model, bool channelsLast, Action run)
    {
        var before = model.ChannelsLastInference;
        model.ChannelsLastInference = channelsLast;
        try
        {
            run();
        }
        finally
        {
            model.ChannelsLastInference = before;
        }
    }

    private static void Forward(nn.Module<Tensor, Tensor> model, List<Tensor> batches, bool inference)
    {
        model.eval();
        using IDisposable guard = inference ? inference_mode(true) : no_grad();
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            model.call(batch).argmax(1);
        }
    }

    /// <summary>What TorchSharp offers for memory formats, by reflection.</summary>
    private static string ChannelsLastApiNote()
    {
        var formatType = typeof(TorchSharp.torch).Assembly.GetType("TorchSharp.memory_format");
        var takers = typeof(TorchSharp.torch).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods())
            .Where(m => formatType is not null && m.GetParameters().Any(p => p.ParameterType == formatType))
            .Select(m => $"{m.DeclaringType?.Name}.{m.Name}")
            .Distinct()
            .ToList();
        return formatType is null
            ? "TorchSharp has no memory_format type"
            : takers.Count == 0
                ? "TorchSharp 0.107 declares an enum memory_format (contiguous_format, channels_last, preserve_format) but no method takes it: no contiguous(memory_format), no to(memory_format); channels-last is reached through strides (permute to NHWC, contiguous, permute back)"
                : $"methods taking memory_format: {string.Join(", ", takers)}";
    }

    /// <summary>Whether a channels-last input keeps its layout through the first convolution, and how far the logits move.</summary>
    private static string LayoutCheck(TeacherNet teacher, Tensor input, Tensor channelsLastInput)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        teacher.eval();
        var firstConv = teacher.named_modules().First(m => m.name == "features.0").module as nn.Module<Tensor, Tensor>;
        var output = firstConv!.call(channelsLastInput.narrow(0, 0, 2));
        var before = teacher.ChannelsLastInference;
        teacher.ChannelsLastInference = false;
        var plain = teacher.call(input);
        teacher.ChannelsLastInference = true;
        var fast = teacher.call(input);
        teacher.ChannelsLastInference = before;
        var maxDiff = (fast - plain).abs().max().item<float>();
        var scale = plain.abs().max().item<float>();
        var argmaxChanged = fast.argmax(1).ne(plain.argmax(1)).sum().item<long>();
        return string.Create(CultureInfo.InvariantCulture,
            $"channels-last check: input strides ({string.Join(", ", channelsLastInput.stride())}), first convolution's output strides ({string.Join(", ", output.stride())}), channels-last kept: {ChannelsLast.Is(output)}; teacher logits over {input.shape[0]} images, channels-last against the default layout: max |difference| {maxDiff:G3} (largest |logit| {scale:G3}), top-1 changed for {argmaxChanged}");
    }

    public static string Markdown(BenchReport report)
    {
        var text = new StringBuilder();
        text.AppendLine("| Idea | Measured on | Baseline images/s | Variant images/s | Variant / baseline (median, min–max) | Verdict |");
        text.AppendLine("|---|---|---:|---:|---:|---|");
        foreach (var i in report.Ideas)
        {
            text.AppendLine(Invariant($"| {i.Name} | {i.Measure} | {i.Baseline.Median:N0} | {i.Variant.Median:N0} | {i.Ratio.Median:F3} ({i.Ratio.Min:F3}–{i.Ratio.Max:F3}) | {i.Verdict} |"));
        }

        foreach (var note in report.Notes)
        {
            text.AppendLine();
            text.AppendLine("- " + note);
        }

        return text.ToString();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
