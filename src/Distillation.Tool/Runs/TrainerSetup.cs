using Distillation.Data;
using Distillation.Devices;
using Distillation.Tool.Cli;
using Distillation.Training;

namespace Distillation.Tool.Runs;

/// <summary>Builds the trainer's settings from the training options.</summary>
internal static class TrainerSetup
{
    public static void Check(RunSettings settings, DataOptions data, TrainingOptions training, RuntimeOptions runtime)
    {
        Checks.Positive(settings, training.Epochs);
        Checks.Positive(settings, runtime.BatchSize);
        Checks.PositiveOrNull(settings, runtime.Threads);
        Checks.Above(settings, training.LearningRate, 0);
        Checks.AtLeast(settings, training.WeightDecay, 0);
        Checks.NonNegative(settings, training.Warmup);
        Checks.OneOf(settings, training.Optimizer, "adam", "adamw", "sgd");
        Checks.OneOf(settings, training.Schedule, "constant", "step", "multistep", "cosine");
        Checks.OneOf(settings, training.Precision, "fp32", "float32", "bf16-mixed", "auto", "fp16-mixed");
        Checks.OneOf(settings, training.ChannelsLast, "auto", "on", "off");
        Checks.OutputFolder(settings, training.Output);
        Checks.OutputFile(settings, training.Export);
        if ((settings.Get(training.Mixup) != 0 || settings.Get(training.CutMix) != 0) && !settings.Get(training.Augment))
        {
            throw new UsageException($"{settings.Origin(settings.Get(training.Mixup) != 0 ? training.Mixup : training.CutMix)} mixes augmented batches: add {settings.Origin(training.Augment)}.");
        }

        try
        {
            _ = DeviceOptions.Parse(settings.Get(runtime.Device));
        }
        catch (FormatException e)
        {
            throw new UsageException($"{settings.Origin(runtime.Device)}: {e.Message}");
        }

        try
        {
            For(settings, data, training, runtime).Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            // "WarmupEpochs must be …" becomes "--warmup must be …": the user sees the flag (or key) they wrote.
            ToolOption? option = e.ParamName switch
            {
                nameof(TrainerOptions.Epochs) => training.Epochs,
                nameof(TrainerOptions.BatchSize) => runtime.BatchSize,
                nameof(OptimizationOptions.LearningRate) => training.LearningRate,
                nameof(OptimizationOptions.WeightDecay) => training.WeightDecay,
                nameof(ScheduleOptions.WarmupEpochs) => training.Warmup,
                nameof(DeviceOptions.Threads) => runtime.Threads,
                nameof(AugmentationOptions.MixupAlpha) => training.Mixup,
                nameof(AugmentationOptions.CutMixAlpha) => training.CutMix,
                _ => null,
            };
            var message = ErrorText.OneLine(e.Message);
            throw new UsageException(option is null ? message
                : message.StartsWith(e.ParamName + " ", StringComparison.Ordinal) ? settings.Origin(option) + message[e.ParamName!.Length..]
                : $"{settings.Origin(option)}: {message}");
        }
    }

    public static DeviceOptions Device(RunSettings settings, RuntimeOptions runtime)
    {
        var device = DeviceOptions.Parse(settings.Get(runtime.Device));
        device.Threads = settings.GetOrNull(runtime.Threads);
        return device;
    }

    /// <summary>Pad-and-crop and flip for small images; from 64 pixels on, torchvision's random-resized crop; mixing as asked.</summary>
    private static AugmentationOptions Augmentation(RunSettings settings, DataOptions data, TrainingOptions training)
    {
        var augmentation = AugmentationOptions.ForImageSize(settings.Get(data.ImageSize));
        augmentation.MixupAlpha = settings.Get(training.Mixup);
        augmentation.CutMixAlpha = settings.Get(training.CutMix);
        return augmentation;
    }

    public static TrainerOptions For(RunSettings settings, DataOptions data, TrainingOptions training, RuntimeOptions runtime)
    {
        var epochs = settings.Get(training.Epochs);
        var warmup = settings.Get(training.Warmup);
        return new TrainerOptions
        {
            Epochs = epochs,
            BatchSize = settings.Get(runtime.BatchSize),
            Seed = settings.Get(data.Seed),
            Device = Device(settings, runtime),
            Optimizer = new OptimizationOptions
            {
                Kind = Enum.Parse<OptimizerKind>(settings.Get(training.Optimizer), ignoreCase: true),
                LearningRate = settings.Get(training.LearningRate),
                WeightDecay = settings.Get(training.WeightDecay),
            },
            Schedule = settings.Get(training.Schedule).ToLowerInvariant() switch
            {
                "step" => new ScheduleOptions { Kind = ScheduleKind.Step, StepSize = Math.Max(1, epochs / 3), WarmupEpochs = warmup },
                "multistep" => new ScheduleOptions { Kind = ScheduleKind.MultiStep, Milestones = [Math.Max(1, epochs / 2), Math.Max(2, (int)(epochs * 3L / 4))], WarmupEpochs = warmup },
                "cosine" => new ScheduleOptions { Kind = ScheduleKind.Cosine, WarmupEpochs = warmup },
                _ => new ScheduleOptions { WarmupEpochs = warmup },
            },
            Augmentation = settings.Get(training.Augment) ? Augmentation(settings, data, training) : null,
            Precision = settings.Get(training.Precision).ToLowerInvariant() switch
            {
                "bf16-mixed" => TrainingPrecision.BFloat16Mixed,
                "fp16-mixed" => TrainingPrecision.Float16Mixed,
                "auto" => TrainingPrecision.Auto,
                _ => TrainingPrecision.Float32,
            },
            ChannelsLast = settings.Get(training.ChannelsLast).ToLowerInvariant() switch { "on" => true, "off" => false, _ => null },
            EvaluateEveryEpoch = settings.Get(training.EvalEveryEpoch),
            Checkpoints = new CheckpointOptions
            {
                Directory = Path.Combine(Path.GetFullPath(settings.Get(training.Output)), "checkpoints"),
                Resume = settings.Get(training.Resume),
            },
        };
    }

}
