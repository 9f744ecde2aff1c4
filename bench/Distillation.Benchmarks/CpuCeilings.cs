using System.Diagnostics;
using static TorchSharp.torch;

namespace Distillation.Benchmarks;

/// <summary>
/// What the CPU can do: its vector flags, and the convolution rate it reaches in float32 and in
/// bfloat16, against which a model's training rate is put as a share of the ceiling.
/// </summary>
internal static class CpuCeilings
{
    /// <summary>The flags that decide convolution speed (AVX, AVX-512, VNNI, BF16, AMX, FMA), from /proc/cpuinfo.</summary>
    public static string Flags()
    {
        const string path = "/proc/cpuinfo";
        if (!File.Exists(path))
        {
            return "?";
        }

        var flags = File.ReadLines(path).FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal))?.Split(':')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
        return string.Join(" ", flags.Where(f => f.StartsWith("avx", StringComparison.Ordinal) || f.StartsWith("amx", StringComparison.Ordinal) || f.Contains("vnni", StringComparison.Ordinal) || f is "fma" or "f16c"));
    }

    /// <summary>
    /// GFLOP/s of the notebook teacher's largest convolution (128 → 64 channels, 3×3, 32×32, batch
    /// 128), forward, the best of five timed calls after two warm-ups: float32 in NCHW, bfloat16 in
    /// channels-last (oneDNN's fast bfloat16 path).
    /// </summary>
    public static (double Float32, double BFloat16) Convolution()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        manual_seed(0);
        var input = randn(128, 128, 32, 32);
        var weight = randn(64, 128, 3, 3).mul(0.05);
        var flops = 2.0 * 128 * 64 * 32 * 32 * (128 * 3 * 3);
        double Best(Tensor x, Tensor w)
        {
            var best = double.MaxValue;
            for (var i = 0; i < 7; i++)
            {
                var clock = Stopwatch.StartNew();
                using var y = nn.functional.conv2d(x, w, padding: [1, 1]);
                _ = y.sum().to(ScalarType.Float32).item<float>();
                if (i >= 2)
                {
                    best = Math.Min(best, clock.Elapsed.TotalSeconds);
                }
            }

            return flops / best / 1e9;
        }

        var float32 = Best(input, weight);
        var channelsLast = input.to(ScalarType.BFloat16).permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        var bfloat16 = Best(channelsLast, weight.to(ScalarType.BFloat16));
        return (float32, bfloat16);
    }

    /// <summary>
    /// Floating-point operations of one training step per image of <paramref name="model"/>: three
    /// times the forward's multiply-adds of its convolutions and linear layers (the backward pass
    /// computes the gradients of the inputs and of the weights, each as large as the forward), counted
    /// with forward hooks on one image of <paramref name="imageShape"/>.
    /// </summary>
    public static double TrainingFlopsPerImage(nn.Module<Tensor, Tensor> model, long[] imageShape)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var forward = 0.0;
        var hooks = new List<Action>();
        foreach (var (_, module) in model.named_modules())
        {
            if (module is TorchSharp.Modules.Conv2d conv)
            {
                var handle = conv.register_forward_hook((m, input, output) =>
                {
                    forward += 2.0 * output.numel() * (conv.weight.shape[1] * conv.weight.shape[2] * conv.weight.shape[3]);
                    return output;
                });
                hooks.Add(handle.remove);
            }
            else if (module is TorchSharp.Modules.Linear linear)
            {
                var handle = linear.register_forward_hook((m, input, output) =>
                {
                    forward += 2.0 * output.numel() * linear.weight.shape[1];
                    return output;
                });
                hooks.Add(handle.remove);
            }
        }

        var wasTraining = model.training;
        model.eval();
        try
        {
            using var image = zeros([1, .. imageShape]);
            using var logits = model.call(image);
        }
        finally
        {
            model.train(wasTraining);
            foreach (var remove in hooks)
            {
                remove();
            }
        }

        return 3 * forward;
    }
}
