using Distillation.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Data;

/// <summary>AugmentationOptions.RandomResizedCrop: torchvision's box sampling for a batch, and the box resized back by bilinear sampling.</summary>
public sealed class RandomResizedCropTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();

    public void Dispose() => scope.Dispose();

    private static readonly bool[] NoFlips = [false, false];
    private static readonly bool[] FirstFlipped = [true, false];

    private static BatchAugmentation Crop(bool flip = false) =>
        new(new AugmentationOptions { Padding = 0, RandomResizedCrop = true, HorizontalFlip = flip });

    [Fact]
    public void Boxes_lie_inside_the_image_with_torchvisions_area_shares_and_ratios_and_spread_over_it()
    {
        var boxes = Crop().DrawCropBoxes(4000, 48, 64, new Generator(1)).data<long>().ToArray();
        var (tops, lefts, shares, ratios) = (new List<long>(), new List<long>(), new List<double>(), new List<double>());
        for (var i = 0; i < 4000; i++)
        {
            var (top, left, height, width) = (boxes[4 * i], boxes[(4 * i) + 1], boxes[(4 * i) + 2], boxes[(4 * i) + 3]);
            top.Should().BeGreaterThanOrEqualTo(0);
            left.Should().BeGreaterThanOrEqualTo(0);
            height.Should().BeInRange(1, 48 - top);
            width.Should().BeInRange(1, 64 - left);
            tops.Add(top);
            lefts.Add(left);
            shares.Add(height * width / (48.0 * 64));
            ratios.Add((double)width / height);
        }

        // Rounding to whole pixels moves shares and ratios a little past the drawn ones.
        shares.Should().OnlyContain(s => s >= 0.07 && s <= 1);
        ratios.Should().OnlyContain(r => r >= 0.7 && r <= 1.43);
        // torchvision 0.14's get_params on this size (eng/random-resized-crop-reference.py, 40,000 draws):
        // mean share 0.4407 and 39.0 % narrower than tall; large boxes of a wide or tall ratio do not fit and are drawn again.
        shares.Average().Should().BeApproximately(0.4407, 0.015);
        (ratios.Count(r => r < 1) / 4000.0).Should().BeApproximately(0.390, 0.03);
        tops.Max().Should().BeGreaterThan(30);
        lefts.Max().Should().BeGreaterThan(45);
    }

    [Fact]
    public void Without_a_box_that_fits_the_largest_centred_box_of_a_permitted_ratio_is_taken()
    {
        // Shares of 1 on a 16 × 64 image: a box of the whole area and a ratio of at most 4/3 never fits.
        var crop = new BatchAugmentation(new AugmentationOptions { Padding = 0, RandomResizedCrop = true, CropScaleMin = 1, CropScaleMax = 1 });

        var boxes = crop.DrawCropBoxes(5, 16, 64, new Generator(2)).data<long>().ToArray();

        // torchvision: the ratio 64/16 is above 4/3, so the height stays 16 and the width becomes round(16 · 4/3) = 21, centred.
        for (var i = 0; i < 5; i++)
        {
            boxes.Skip(4 * i).Take(4).Should().Equal(0L, 21L, 16L, 21L);
        }
    }

    [Fact]
    public void A_pixel_aligned_box_equals_bilinear_interpolation_of_the_slice_and_a_flip_mirrors_it()
    {
        manual_seed(3);
        var images = rand(2, 3, 24, 32);
        var boxes = tensor(new long[] { 4, 6, 12, 16, 0, 0, 24, 32 }).view(2, 4);

        var cropped = BatchAugmentation.ResizedCrop(images, boxes, tensor(NoFlips));
        var flipped = BatchAugmentation.ResizedCrop(images, boxes, tensor(FirstFlipped));

        var expected = nn.functional.interpolate(images[0..1, .., 4..16, 6..22], [24, 32], mode: InterpolationMode.Bilinear, align_corners: false);
        cropped[0..1].allclose(expected, rtol: 0, atol: 1e-5).Should().BeTrue();
        cropped[1].allclose(images[1], rtol: 0, atol: 1e-5).Should().BeTrue("the whole image at its own size is itself");
        flipped[0].allclose(cropped[0].flip(2), rtol: 0, atol: 1e-5).Should().BeTrue();
        flipped[1].allclose(cropped[1], rtol: 0, atol: 0).Should().BeTrue();
    }

    [Fact]
    public void Apply_gives_each_image_its_own_crop_of_the_same_size_and_a_seed_gives_the_same_batch()
    {
        manual_seed(4);
        var images = rand(8, 3, 64, 64);

        var first = Crop(flip: true).Apply(images, new Generator(9));
        var again = Crop(flip: true).Apply(images, new Generator(9));
        var other = Crop(flip: true).Apply(images, new Generator(10));

        first.shape.Should().Equal(8, 3, 64, 64);
        first.eq(again).all().item<bool>().Should().BeTrue();
        first.eq(other).all().item<bool>().Should().BeFalse();
        first.eq(images).all().item<bool>().Should().BeFalse();
    }

    [Theory]
    [InlineData(32, false, 4)]
    [InlineData(63, false, 4)]
    [InlineData(64, true, 0)]
    [InlineData(224, true, 0)]
    public void The_usual_augmentation_for_a_size_crops_small_images_from_padding_and_large_ones_at_random_scales(int size, bool randomResizedCrop, int padding)
    {
        var options = AugmentationOptions.ForImageSize(size);

        options.RandomResizedCrop.Should().Be(randomResizedCrop);
        options.Padding.Should().Be(padding);
        options.HorizontalFlip.Should().BeTrue();
        options.Invoking(o => o.Validate()).Should().NotThrow();
    }

    [Fact]
    public void Settings_that_cannot_work_are_refused_naming_them()
    {
        new AugmentationOptions { RandomResizedCrop = true }.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithMessage("Padding*RandomResizedCrop*");
        new AugmentationOptions { Padding = 0, RandomResizedCrop = true, CropScaleMin = 0 }.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithMessage("CropScaleMin*");
        new AugmentationOptions { Padding = 0, RandomResizedCrop = true, CropScaleMin = 0.5, CropScaleMax = 0.4 }.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithMessage("CropScaleMax*");
    }
}
