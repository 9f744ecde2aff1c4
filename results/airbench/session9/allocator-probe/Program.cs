// The allocator probe of docs/results.md (ninth session): not part of the solution; build it with
// `dotnet build -c Release -o bin` in this folder and run `dotnet bin/memprobe2.dll lookahead tta normbias [short] [notune]`.
// Throwaway probe: resident memory and live tensors per epoch of the airbench teacher's training, with parts switched off.
using Distillation.Data;
using Distillation.Devices;
using Distillation.Models;
using Distillation.Models.Zoo;
using Distillation.Training;
using TorchSharp;
using static TorchSharp.torch;

var lookahead = args.Contains("lookahead");
var tta = args.Contains("tta");
var normBias = args.Contains("normbias");
var tune = !args.Contains("notune");
var eval = !args.Contains("noeval");
var epochs = args.Contains("short") ? 4 : 10;
using var full = Cifar10Dataset.Load("/work/shared/datasets/cifar-10-batches-bin", Cifar10Split.Train);
using var slice = full.Sample(5000, 42);
var (train, validation) = slice.SplitValidation(1000, 42);
manual_seed(42);
var net = (AirbenchNet)ModelZoo.Create("airbench", 10);
using (var plan = train.PlanBatches(1000)) { using var imgs = plan.GetBatch(0, CPU).Images; net.InitializeWhitening(imgs); }
var options = new TrainerOptions
{
    Epochs = epochs, BatchSize = 1024, Seed = 42,
    Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 2, TuneCpuAllocator = tune },
    Optimizer = new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 1.0, Momentum = 0.85, Nesterov = true, WeightDecay = 1e-3, NormBiasLearningRateScale = normBias ? 64 : 1 },
    Schedule = new ScheduleOptions { Kind = ScheduleKind.Triangle },
    Augmentation = new AugmentationOptions { Padding = 2 },
    FlipTestTimeAugmentation = tta,
    Lookahead = lookahead ? new LookaheadOptions() : null,
    EvaluateEveryEpoch = eval,
};
options.Callbacks.Add(new Probe());
var trainer = new Trainer<AirbenchNet, AirbenchNet>(net, (AirbenchNet)ModelZoo.Create("airbench", 10), options);
Console.WriteLine($"config: {string.Join(' ', args)} tune={tune}");
trainer.TrainTeacher(train, eval ? validation : null);

sealed class Probe : ITrainingCallback
{
    private readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();
    public void OnEpochEnd(EpochEndContext context)
    {
        var rss = File.ReadAllLines("/proc/self/status").First(l => l.StartsWith("VmRSS")).Split(':')[1].Trim();
        Console.WriteLine($"epoch {context.Report.Epoch}: RSS {rss}, live tensors {Tensor.TotalCount}, {context.Report.ImagesPerSecond:F0} images/s, {clock.Elapsed.TotalSeconds:F1} s, heap {GC.GetTotalMemory(false) >> 20} MiB");
    }
}
