using static TorchSharp.torch;

namespace Distillation.Tests.TestSupport;

/// <summary>Images whose pixels say where they came from, and the reference padding built without the code under test.</summary>
internal static class EncodedImages
{
    /// <summary>
    /// float64 images whose every pixel value is unique and non-zero:
    /// 1 + image·10⁶ + channel·10⁴ + row·100 + column. A value says where it came from, so
    /// any output window can be traced back, and 0 can only come from zero padding.
    /// </summary>
    public static Tensor Encoded(long b, long c, long h, long w) =>
        arange(b, ScalarType.Float64).mul(1e6).view(b, 1, 1, 1)
            .add(arange(c, ScalarType.Float64).mul(1e4).view(1, c, 1, 1))
            .add(arange(h, ScalarType.Float64).mul(100).view(1, 1, h, 1))
            .add(arange(w, ScalarType.Float64).view(1, 1, 1, w))
            .add(1);

    /// <summary>Same shape and every element equal (torch.equal).</summary>
    public static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    /// <summary>The reference padding, built independently of the implementation: a canvas of <paramref name="fill"/> per channel with the images in the middle.</summary>
    public static Tensor Padded(Tensor images, int p, IReadOnlyList<double> fill)
    {
        var (b, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3]);
        var canvas = zeros([b, c, h + (2 * p), w + (2 * p)], images.dtype);
        for (var ch = 0; ch < c; ch++)
        {
            canvas[.., ch] = fill[ch];
        }

        canvas[.., .., p..(int)(p + h), p..(int)(p + w)] = images;
        return canvas;
    }

    /// <inheritdoc cref="Padded(Tensor, int, IReadOnlyList{double})"/>
    public static Tensor Padded(Tensor images, int p, float[] fill) => Padded(images, p, Array.ConvertAll(fill, f => (double)f));
}
