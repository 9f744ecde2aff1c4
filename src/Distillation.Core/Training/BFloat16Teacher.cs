using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// Runs a frozen teacher in bfloat16 for one distillation call: converts its floating-point
/// parameters and buffers in place, feeds it bfloat16 channels-last images and returns float32
/// logits; <see cref="Dispose"/> puts the saved float32 values back bit for bit. In place, because
/// a module of any type cannot be copied; the trainer runs one call at a time, so nothing else
/// sees the converted teacher.
/// </summary>
internal sealed class BFloat16Teacher : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> teacher;
    private readonly Dictionary<string, Tensor> saved;
    private bool disposed;

    private BFloat16Teacher(nn.Module<Tensor, Tensor> teacher, Dictionary<string, Tensor> saved)
    {
        this.teacher = teacher;
        this.saved = saved;
    }

    /// <summary>Converts <paramref name="teacher"/> to bfloat16 until the returned object is disposed.</summary>
    /// <param name="teacher">A teacher whose floating-point parameters and buffers are all float32.</param>
    /// <returns>The converted teacher's runner.</returns>
    /// <exception cref="InvalidOperationException">A floating-point parameter or buffer is not float32 (the name says which).</exception>
    public static BFloat16Teacher Convert(nn.Module<Tensor, Tensor> teacher)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        var floating = teacher.state_dict().Where(entry => entry.Value.is_floating_point()).ToArray();
        if (floating.FirstOrDefault(entry => entry.Value.dtype != ScalarType.Float32) is { Key: not null } other)
        {
            throw new InvalidOperationException(
                $"TeacherOutputs.Precision BFloat16 needs a float32 teacher, but its {other.Key} is {other.Value.dtype}; use TeacherPrecision.Float32.");
        }

        var saved = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var runner = new BFloat16Teacher(teacher, saved);
        try
        {
            foreach (var (name, value) in floating)
            {
                saved[name] = value.detach().clone().DetachFromDisposeScope();
            }

            teacher.to(ScalarType.BFloat16);
            return runner;
        }
        catch
        {
            runner.Dispose();
            throw;
        }
    }

    /// <summary>The teacher's logits for <paramref name="images"/>, computed in bfloat16 and returned in float32.</summary>
    /// <param name="images">A float32 batch.</param>
    /// <returns>Float32 logits.</returns>
    public Tensor Forward(Tensor images)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var input = images.to(ScalarType.BFloat16);
        if (input.dim() == 4 && input.device_type == DeviceType.CPU)
        {
            // Channels-last (NHWC strides, same logical shape) is where oneDNN's bfloat16 convolutions are fast.
            input = input.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        }

        return teacher.call(input).to(ScalarType.Float32);
    }

    /// <summary>Puts the teacher's float32 values back, bit for bit.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        teacher.to(ScalarType.Float32);
        using (no_grad())
        {
            foreach (var (name, value) in teacher.state_dict())
            {
                if (saved.TryGetValue(name, out var original))
                {
                    value.copy_(original);
                }
            }
        }

        foreach (var original in saved.Values)
        {
            original.Dispose();
        }
    }
}
