using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// Runs a live module teacher in bfloat16 for each run: <see cref="Prepare"/> converts the
/// module's floating-point parameters and buffers in place, <see cref="Forward"/> feeds it bfloat16
/// channels-last images and returns float32 logits, and disposing the preparation puts the saved
/// float32 values back bit for bit. In place, because a module of any type cannot be copied; one run
/// at a time holds the teacher, so nothing else sees it converted. Logits only: the rounding would
/// reach a feature loss's gradients, so feature requests are refused.
/// </summary>
internal sealed class BFloat16Teacher : DelegatingTeacher
{
    private readonly nn.Module<Tensor, Tensor> module;

    /// <summary>Decorates <paramref name="inner"/>, whose module it converts.</summary>
    /// <exception cref="ArgumentException"><paramref name="inner"/> holds no TorchSharp module.</exception>
    public BFloat16Teacher(ITeacher inner)
        : base(inner)
    {
        module = inner.GetService(typeof(nn.Module<Tensor, Tensor>)) as nn.Module<Tensor, Tensor>
            ?? throw new ArgumentException($"UseBFloat16 converts a TorchSharp module, and the teacher {inner.GetType().Name} holds none; apply it to Teacher.From(module).", nameof(inner));
    }

    /// <summary>The inner teacher's fingerprint, marked as bfloat16: its outputs differ by rounding.</summary>
    public override string Fingerprint => Inner.Fingerprint + "+bfloat16";

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The loss reads the teacher's features.</exception>
    /// <exception cref="InvalidOperationException">A floating-point parameter or buffer is not float32 (the name says which).</exception>
    public override TeacherPreparation Prepare(TeacherRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.FeaturePaths.Count > 0)
        {
            throw new ArgumentException(
                $"TeacherOutputs.Precision BFloat16 runs the teacher for its logits only, but the {request.RequestedBy} loss reads the teacher's features ({string.Join(", ", request.FeaturePaths)}); use TeacherPrecision.Float32.",
                nameof(request));
        }

        var floating = module.state_dict().Where(entry => entry.Value.is_floating_point()).ToArray();
        if (floating.FirstOrDefault(entry => entry.Value.dtype != ScalarType.Float32) is { Key: not null } other)
        {
            throw new InvalidOperationException(
                $"TeacherOutputs.Precision BFloat16 needs a float32 teacher, but its {other.Key} is {other.Value.dtype}; use TeacherPrecision.Float32.");
        }

        var inner = Inner.Prepare(request);
        if (request.CheckOnly)
        {
            return inner;
        }

        var saved = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        void RestoreWeights()
        {
            module.to(ScalarType.Float32);
            using (no_grad())
            {
                foreach (var (name, value) in module.state_dict())
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

        try
        {
            foreach (var (name, value) in floating)
            {
                saved[name] = value.detach().clone().DetachFromDisposeScope();
            }

            module.to(ScalarType.BFloat16);
            return new TeacherPreparation(inner, RestoreWeights);
        }
        catch
        {
            RestoreWeights();
            inner.Dispose();
            throw;
        }
    }

    /// <summary>The logits for the batch, computed in bfloat16 and returned in float32.</summary>
    public override TeacherOutput Forward(TeacherBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var input = batch.Images.to(ScalarType.BFloat16);
        if (input.dim() == 4 && input.device_type == DeviceType.CPU)
        {
            // Channels-last (NHWC strides, same logical shape) is where oneDNN's bfloat16 convolutions are fast.
            input = input.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        }

        var output = Inner.Forward(batch with { Images = input });
        return output with { Logits = output.Logits.to(ScalarType.Float32) };
    }
}
