using Distillation.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Benchmarks;

/// <summary>
/// A hand-written TorchSharp training loop, the reference for the library's overhead: the same
/// model, Adam at the same learning rate, the same batch slicing (a seeded permutation,
/// index_select from the resident uint8 tensor, scale and shift to float) and the loss summed on
/// the device, read once per epoch. Nothing else: no progress, no logging, no checks.
/// </summary>
internal sealed class PlainLoop : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> model;
    private readonly optim.Optimizer optimizer;
    private readonly Generator shuffle;
    private readonly Tensor scale;
    private readonly Tensor shift;
    private readonly Func<Tensor, Tensor>? prepare;

    /// <summary>Creates the loop.</summary>
    /// <param name="prepare">Applied to each normalized batch before the model (e.g. a change of memory layout); none when null.</param>
    public PlainLoop(nn.Module<Tensor, Tensor> model, ImageNormalization normalization, double learningRate = 1e-3, long seed = 42, Func<Tensor, Tensor>? prepare = null)
    {
        this.model = model;
        this.prepare = prepare;
        optimizer = optim.Adam(model.parameters(), learningRate);
        shuffle = new Generator((ulong)seed);
        scale = tensor(normalization.Std.Select(s => 1f / (255f * s)).ToArray(), [1, 3, 1, 1]);
        shift = tensor(normalization.Mean.Zip(normalization.Std, (m, s) => m / s).ToArray(), [1, 3, 1, 1]);
    }

    /// <summary>One epoch over <paramref name="data"/>; returns the mean loss.</summary>
    public double Epoch(ImageDataset data, int batchSize)
    {
        model.train();
        var n = data.Count;
        using var order = randperm(n, generator: shuffle);
        using var sum = zeros(1, ScalarType.Float64);
        var batches = 0;
        for (long start = 0; start < n; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var indices = order.narrow(0, start, Math.Min(batchSize, n - start));
            var images = data.Images.index_select(0, indices).to_type(ScalarType.Float32).mul_(scale).sub_(shift);
            if (prepare is not null)
            {
                images = prepare(images);
            }

            var labels = data.Labels.index_select(0, indices);
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(images), labels);
            loss.backward();
            optimizer.step();
            sum.add_(loss.detach());
            batches++;
        }

        return sum.item<double>() / batches;
    }

    public void Dispose()
    {
        optimizer.Dispose();
        shuffle.Dispose();
        scale.Dispose();
        shift.Dispose();
    }
}
