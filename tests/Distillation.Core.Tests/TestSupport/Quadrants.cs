using Distillation.Data;
using static TorchSharp.torch;

namespace Distillation.Tests.TestSupport;

/// <summary>Labelled 8×8 images that a tiny network learns in a few epochs.</summary>
internal static class Quadrants
{
    /// <summary>4 classes of 8×8 images: class c is noise plus a bright quadrant c. Easy to learn.</summary>
    public static ImageDataset Create(int n, long seed)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)seed);
        var labels = randint(0, 4, [n], generator: generator, dtype: ScalarType.Int64);
        var images = rand([n, 3, 8, 8], generator: generator).mul(100);
        for (var c = 0; c < 4; c++)
        {
            var mask = labels.eq(c).reshape(n, 1, 1, 1).to_type(ScalarType.Float32);
            var (row, col) = (c / 2 * 4, c % 2 * 4);
            images[.., .., row..(row + 4), col..(col + 4)] += mask * 150;
        }

        return new ImageDataset(images.to_type(ScalarType.Byte), labels, ["q0", "q1", "q2", "q3"], ImageNormalization.UnitRange);
    }
}
