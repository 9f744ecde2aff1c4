using Distillation.Data;
using TorchSharp;
using static Distillation.Tests.TestSupport.EncodedImages;
using static TorchSharp.torch;

namespace Distillation.Tests.Data;

/// <summary>The view index the augmentation reports for each image: the crop and flip it actually applied, from the same draws.</summary>
public sealed class CropFlipViewTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();

    public void Dispose() => scope.Dispose();

    public static TheoryData<int, bool, bool> Layouts => new()
    {
        { 4, true, false },
        { 2, false, false },
        { 1, true, true },
        { 0, true, false },
        { 3, false, true },
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void Each_images_view_index_names_the_crop_and_flip_it_got(int padding, bool flip, bool black)
    {
        using var generator = new Generator(11);
        var normalization = ImageNormalization.ImageNet;
        var options = new AugmentationOptions { Padding = padding, HorizontalFlip = flip, PadWithBlack = black };
        var augmentation = new BatchAugmentation(options, normalization);
        var images = Encoded(200, 3, 5, 6);
        double[] fill = black ? normalization.Mean.Zip(normalization.Std, (m, s) => (double)(-m / s)).ToArray() : [0.0, 0.0, 0.0];
        var padded = Padded(images, padding, fill);
        var layout = CropFlipViews.Of(options)!;

        var (output, views) = augmentation.ApplyWithViews(images, generator);

        views.Should().NotBeNull();
        views!.dtype.Should().Be(ScalarType.Int64);
        views.device_type.Should().Be(DeviceType.CPU);
        views.shape.Should().Equal(200);
        var indices = views.data<long>().ToArray();
        indices.Should().OnlyContain(v => v >= 0 && v < layout.Count);
        indices.Distinct().Count().Should().BeGreaterThan(Math.Min(layout.Count, 200) / 3, "each image draws its own view");
        var ourCanvas = augmentation.PadForViews(images);
        for (var i = 0; i < 200; i++)
        {
            var (dy, dx, flipped) = layout.Decompose((int)indices[i]);
            var window = padded[i].narrow(1, dy, 5).narrow(2, dx, 6);
            var expected = flipped ? window.flip(2) : window;
            Same(output[i], expected).Should().BeTrue($"image {i} got view {indices[i]}: the crop at ({dy}, {dx}){(flipped ? ", mirrored" : "")}");
            Same(BatchAugmentation.View(ourCanvas.narrow(0, i, 1), layout, (int)indices[i], 5, 6)[0], output[i]).Should().BeTrue("the cache's view is the augmented image, pixel for pixel");
        }
    }

    [Fact]
    public void Reporting_views_reads_the_stream_exactly_as_before_so_batches_and_later_draws_are_unchanged()
    {
        var augmentation = new BatchAugmentation(new AugmentationOptions { Padding = 4 });
        var images = randn(64, 3, 8, 8);
        using var plain = new Generator(5);
        using var withViews = new Generator(5);

        var expected = augmentation.Apply(images, plain);
        var (output, _) = augmentation.ApplyWithViews(images, withViews);

        Same(output, expected).Should().BeTrue();
        Same(rand([16], generator: withViews), rand([16], generator: plain)).Should().BeTrue("the stream stands where it stood");
    }

    [Fact]
    public void A_random_resized_crop_reports_no_views_and_mixing_has_no_view_layout()
    {
        using var generator = new Generator(5);
        var (_, views) = new BatchAugmentation(new AugmentationOptions { Padding = 0, RandomResizedCrop = true }).ApplyWithViews(randn(4, 3, 16, 16), generator);

        views.Should().BeNull();
        CropFlipViews.Of(new AugmentationOptions { MixupAlpha = 0.2 }).Should().BeNull();
        CropFlipViews.Of(new AugmentationOptions { CutMixAlpha = 1 }).Should().BeNull();
        CropFlipViews.Of(new AugmentationOptions()).Should().Be(new CropFlipViews(4, true, false));
        new CropFlipViews(4, true, false).Count.Should().Be(162);
    }

    [Theory]
    [InlineData(162, 4, true)]
    [InlineData(81, 4, false)]
    [InlineData(2, 0, true)]
    [InlineData(1, 0, false)]
    [InlineData(50, 2, true)]
    public void A_view_count_implies_its_layout(int count, int padding, bool flip)
    {
        var layout = CropFlipViews.FromCount(count);

        layout.Should().Be(new CropFlipViews(padding, flip, false));
        layout!.Count.Should().Be(count);
        layout.Decompose(layout.Centre).Should().Be((padding, padding, false));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(100)]
    [InlineData(36)]
    public void Other_view_counts_have_no_layout(int count) => CropFlipViews.FromCount(count).Should().BeNull();
}
