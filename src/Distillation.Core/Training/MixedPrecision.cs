using Distillation.Devices;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// Resolves <see cref="TrainerOptions.Precision"/> for one run, and runs the model's training
/// forward in it: under libtorch's autocast for <see cref="TrainingPrecision.BFloat16Mixed"/>, with
/// the logits and the captured features returned in float32, so that every loss, its softmax and
/// its reductions run in float32 as PyTorch's autocast lists have them.
/// </summary>
internal static partial class MixedPrecision
{
    /// <summary>
    /// The precision the run trains in (never Auto). Auto picks mixed precision where it is measured
    /// faster and the model can run it; an explicit request refuses what it cannot run and warns where
    /// bfloat16 is slow.
    /// </summary>
    /// <exception cref="InvalidOperationException">Mixed precision was asked for and cannot run here: the one-line message says why.</exception>
    public static TrainingPrecision Resolve(TrainingPrecision requested, nn.Module model, Device device, ILogger logger, IBFloat16Probe? probe = null)
    {
        if (requested == TrainingPrecision.Float32)
        {
            return TrainingPrecision.Float32;
        }

        var problem = Problem(model, device);
        if (requested == TrainingPrecision.Auto)
        {
            if (problem is not null)
            {
                LogAutoDecision(logger, $"float32: {problem}");
                return TrainingPrecision.Float32;
            }

            var decision = BFloat16Speed.Decide(device, probe ?? TorchBFloat16Probe.Instance, measureWithoutSupport: false);
            LogAutoDecision(logger, decision.Reason);
            return decision.UseBFloat16 ? TrainingPrecision.BFloat16Mixed : TrainingPrecision.Float32;
        }

        if (problem is not null)
        {
            throw Refusal(requested, problem);
        }

        if (requested == TrainingPrecision.Float16Mixed)
        {
            if (device.type == DeviceType.CPU)
            {
                LogFloat16OnCpu(logger);
            }

            return TrainingPrecision.Float16Mixed;
        }

        if (BFloat16Speed.Decide(device, probe ?? TorchBFloat16Probe.Instance, measureWithoutSupport: true) is { UseBFloat16: false } slow)
        {
            LogSlow(logger, slow.Factor ?? double.NaN, slow.Reason);
        }

        return TrainingPrecision.BFloat16Mixed;
    }

    /// <summary>Refuses an explicit mixed-precision request that cannot run, measuring and logging nothing (the trainer's preflight).</summary>
    /// <exception cref="InvalidOperationException">Mixed precision was asked for and cannot run here: the one-line message says why.</exception>
    public static void Check(TrainingPrecision requested, nn.Module model, Device device)
    {
        if (requested is TrainingPrecision.BFloat16Mixed or TrainingPrecision.Float16Mixed && Problem(model, device) is { } problem)
        {
            throw Refusal(requested, problem);
        }
    }

    private static InvalidOperationException Refusal(TrainingPrecision requested, string problem) =>
        new($"TrainerOptions.Precision {requested} cannot run: {problem}; use TrainingPrecision.Float32.");

    /// <summary>The model's training forward: in <paramref name="precision"/>, with float32 logits.</summary>
    public static Tensor Forward(nn.Module<Tensor, Tensor> model, Tensor input, TrainingPrecision precision)
    {
        if (precision is not (TrainingPrecision.BFloat16Mixed or TrainingPrecision.Float16Mixed))
        {
            return model.call(input);
        }

        Tensor logits;
        using (Autocast.Enter(input.device_type, precision == TrainingPrecision.Float16Mixed ? ScalarType.Float16 : ScalarType.BFloat16))
        {
            logits = model.call(input);
        }

        return logits.dtype == ScalarType.Float32 ? logits : logits.to(ScalarType.Float32);
    }

    /// <summary>The captured features in float32 (autocast leaves convolution outputs in bfloat16), unchanged when they are.</summary>
    public static IReadOnlyDictionary<string, Tensor> InFloat32(IReadOnlyDictionary<string, Tensor> features) =>
        features.Count == 0 || features.Values.All(f => f.dtype is not (ScalarType.BFloat16 or ScalarType.Float16))
            ? features
            : features.ToDictionary(f => f.Key, f => f.Value.dtype is ScalarType.BFloat16 or ScalarType.Float16 ? f.Value.to(ScalarType.Float32) : f.Value, StringComparer.Ordinal);

    /// <summary>Why mixed precision cannot train <paramref name="model"/> on <paramref name="device"/>; null when it can.</summary>
    private static string? Problem(nn.Module model, Device device)
    {
        if (device.type is not (DeviceType.CPU or DeviceType.CUDA))
        {
            return $"the device is {device.type}, and it runs on CPU and CUDA devices";
        }

        if (model.state_dict().FirstOrDefault(entry => entry.Value.is_floating_point() && entry.Value.dtype != ScalarType.Float32) is { Key: not null } other)
        {
            return $"it keeps float32 master weights, and the model's {other.Key} is {other.Value.dtype}";
        }

        return Autocast.Availability;
    }

    [LoggerMessage(EventId = 130, Level = LogLevel.Information, Message = "Training precision Auto chose {Reason}")]
    private static partial void LogAutoDecision(ILogger logger, string reason);

    [LoggerMessage(EventId = 131, Level = LogLevel.Warning, Message = "TrainerOptions.Precision BFloat16Mixed was requested, but bfloat16 is slow on this device (the probe's bfloat16 time is {Factor:F2}x float32's): {Reason}. It runs as asked; TrainingPrecision.Auto or Float32 would be faster.")]
    private static partial void LogSlow(ILogger logger, double factor, string reason);

    [LoggerMessage(EventId = 132, Level = LogLevel.Warning, Message = "TrainerOptions.Precision Float16Mixed runs on the CPU, where float16 has no fast instructions: it is several times slower than float32 here, and meant for GPUs (on this CPU, BFloat16Mixed or Auto).")]
    private static partial void LogFloat16OnCpu(ILogger logger);
}
