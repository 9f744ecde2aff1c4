using System.Diagnostics;
using System.Globalization;
using Distillation.Devices;
using Distillation.Models;
using Distillation.Models.Zoo;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Benchmarks;

/// <summary>
/// Training speed of each model in the four settings of <see cref="TrainerOptions.Precision"/> and
/// <see cref="TrainerOptions.ChannelsLast"/>: float32 NCHW (the baseline), float32 channels-last,
/// bfloat16 mixed NCHW and bfloat16 mixed channels-last. Every setting trains its own copy of the
/// same initial weights with <c>Trainer.TrainStudent</c> for one epoch over the same images; the
/// four alternate within every round, in an order that rotates from round to round.
/// </summary>
internal static class PrecisionBenchmark
{
    public static readonly string[] DefaultModels = ["teachernet", "studentnet", "resnet20", "wrn_16_2", "mobilenetv2", "airbench"];

    private static readonly (string Name, TrainingPrecision Precision, bool ChannelsLast)[] Settings =
    [
        ("float32 NCHW", TrainingPrecision.Float32, false),
        ("float32 channels-last", TrainingPrecision.Float32, true),
        ("bfloat16 mixed NCHW", TrainingPrecision.BFloat16Mixed, false),
        ("bfloat16 mixed channels-last", TrainingPrecision.BFloat16Mixed, true),
    ];

    public static BenchReport Run(BenchOptions options)
    {
        var images = Math.Min(options.TeacherImages, 1024);
        using var data = BenchData.Load(options, images, 1);
        Console.WriteLine($"Data: {data.Source}");
        new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads }.Resolve();
        var clock = Stopwatch.StartNew();
        var notes = new List<string> { "CPU flags: " + CpuCeilings.Flags() };
        var (float32Ceiling, bfloat16Ceiling) = CpuCeilings.Convolution();
        notes.Add(Invariant($"Convolution ceilings (128→64 3×3 at 32×32, batch 128, forward, best of 5): float32 NCHW {float32Ceiling:F0} GFLOP/s, bfloat16 channels-last {bfloat16Ceiling:F0} GFLOP/s"));
        Console.WriteLine(notes[^2]);
        Console.WriteLine(notes[^1]);

        var results = new List<IdeaResult>();
        foreach (var model in options.Models ?? DefaultModels)
        {
            var trainers = Settings.Select(setting =>
            {
                manual_seed(42);
                var net = model == "teachernet" ? new TeacherNet() : model == "studentnet" ? (nn.Module<Tensor, Tensor>)new StudentNet() : ModelZoo.Create(model, 10);
                return new Trainer<nn.Module<Tensor, Tensor>, nn.Module<Tensor, Tensor>>(new TeacherNet(), net, new TrainerOptions
                {
                    Epochs = 1, BatchSize = options.BatchSize, Precision = setting.Precision, ChannelsLast = setting.ChannelsLast,
                    Optimizer = new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.01, Momentum = 0.9 },
                    Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = options.Threads },
                });
            }).ToArray();
            var flops = CpuCeilings.TrainingFlopsPerImage(trainers[0].Student, [3, 32, 32]);
            foreach (var trainer in trainers)
            {
                for (var w = 0; w < options.Warmup; w++)
                {
                    trainer.TrainStudent(data.Train);
                }
            }

            var rates = Settings.Select(_ => new List<double>()).ToArray();
            for (var r = 0; r < options.Repeats; r++)
            {
                for (var k = 0; k < Settings.Length; k++)
                {
                    var s = (k + r) % Settings.Length;
                    rates[s].Add(data.Train.Count / Stats.Seconds(() => trainers[s].TrainStudent(data.Train)));
                }
            }

            var baseline = Stats.Of(rates[0])!;
            for (var s = 1; s < Settings.Length; s++)
            {
                var ratio = Stats.Of(rates[s].Zip(rates[0], (v, b) => v / b).ToList())!;
                var verdict = ratio.Median >= 1.03 ? "faster" : ratio.Median <= 0.97 ? "slower" : "no measurable difference (within ±3 %)";
                results.Add(new IdeaResult($"{model}: {Settings[s].Name}", $"Trainer.TrainStudent, one epoch of {data.Train.Count} images, batch {options.BatchSize}, SGD; against float32 NCHW", baseline, Stats.Of(rates[s])!, ratio, verdict));
                Console.WriteLine(Invariant($"{results[^1].Name}: {baseline.Median:F0} → {results[^1].Variant.Median:F0} images/s, ratio {ratio.Median:F3} ({ratio.Min:F3}–{ratio.Max:F3}): {verdict}"));
            }

            var best = Enumerable.Range(0, Settings.Length).MaxBy(s => Stats.Of(rates[s])!.Median);
            var bestRate = Stats.Of(rates[best])!.Median * flops / 1e9;
            notes.Add(Invariant($"{model}: {flops / 1e6:F0} MFLOP per training image; fastest setting {Settings[best].Name} at {bestRate:F0} GFLOP/s ({100 * bestRate / float32Ceiling:F0} % of the float32 ceiling, {100 * bestRate / bfloat16Ceiling:F0} % of the bfloat16 one); float32 NCHW at {baseline.Median * flops / 1e9:F0} GFLOP/s"));
            Console.WriteLine(notes[^1]);
            foreach (var trainer in trainers)
            {
                trainer.Teacher.Dispose();
                trainer.Student.Dispose();
            }
        }

        return new BenchReport
        {
            Mode = "precision",
            Environment = BenchEnvironment.Capture(options, data.Source),
            Ideas = results,
            Notes = notes,
            Memory = [MemorySample.Take("end")],
            WallSeconds = clock.Elapsed.TotalSeconds,
        };
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
