using System.Text;
using TorchSharp;

namespace Distillation.Evaluation;

/// <summary>The size of a model: its parameters, and the bytes of its weights file.</summary>
/// <param name="Parameters">Elements of all parameters.</param>
/// <param name="TrainableParameters">Elements of the parameters that require gradients.</param>
/// <param name="WeightBytes">
/// Bytes of the state dict (parameters and buffers) in TorchSharp's format, as <c>module.save</c>
/// or <c>ModuleWeights.SaveWeights</c> writes it: the raw tensor data plus a small header per tensor.
/// </param>
public sealed record ModelFootprint(long Parameters, long TrainableParameters, long WeightBytes)
{
    /// <summary>Measures <paramref name="model"/>. Its weights are serialized in memory, not written to disk.</summary>
    /// <param name="model">The model, on any device.</param>
    /// <returns>Its footprint.</returns>
    public static ModelFootprint Of(torch.nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        long parameters = 0, trainable = 0;
        foreach (var parameter in model.parameters())
        {
            parameters += parameter.numel();
            if (parameter.requires_grad)
            {
                trainable += parameter.numel();
            }
        }

        using var stream = new MemoryStream();

        // module.save(Stream) closes the stream, and a closed MemoryStream has no length to read.
        // Disposing the writer flushes it.
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            model.save(writer);
        }

        return new ModelFootprint(parameters, trainable, stream.Length);
    }
}
