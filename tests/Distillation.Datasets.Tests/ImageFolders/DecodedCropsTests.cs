using Distillation.Data;

namespace Distillation.Datasets.Tests.ImageFolders;

/// <summary>The crop boxes a streamed pass draws while decoding: torchvision's rules, from one seed per pass.</summary>
public sealed class DecodedCropsTests
{
    private static DecodedCrops Crops(ulong seed, double scaleMin = 0.08, double scaleMax = 1, bool flip = true) =>
        new(seed, new AugmentationOptions { Padding = 0, RandomResizedCrop = true, CropScaleMin = scaleMin, CropScaleMax = scaleMax, HorizontalFlip = flip });

    [Fact]
    public void A_seed_and_a_position_fix_the_crop_and_another_of_either_changes_it()
    {
        var crops = Crops(7);
        var drawn = Enumerable.Range(0, 50).Select(p => crops.For(p, 400, 300)).ToArray();

        Enumerable.Range(0, 50).Select(p => Crops(7).For(p, 400, 300)).Should().Equal(drawn, "the same seed and positions draw the same boxes, whoever asks first");
        drawn.Distinct().Should().HaveCount(50, "every position has its own draws");
        Enumerable.Range(0, 50).Select(p => Crops(8).For(p, 400, 300)).Zip(drawn).Count(pair => pair.First == pair.Second).Should().BeLessThan(3, "another pass's seed draws other boxes");
    }

    [Fact]
    public void Boxes_fit_the_image_within_the_scale_and_ratio_ranges_and_half_are_mirrored()
    {
        const int Width = 400, Height = 300;
        var crops = Crops(11);
        var boxes = Enumerable.Range(0, 4000).Select(p => crops.For(p, Width, Height)).ToArray();

        foreach (var (top, left, height, width, _) in boxes)
        {
            top.Should().BeInRange(0, Height - height);
            left.Should().BeInRange(0, Width - width);
            var share = (double)height * width / (Width * Height);
            share.Should().BeInRange(0.079, 1.0);
            ((double)width / height).Should().BeInRange(0.74, 1.36);
        }

        var shares = boxes.Select(b => (double)b.Height * b.Width / (Width * Height)).ToArray();
        shares.Min().Should().BeLessThan(0.1, "the scale range is used down to its minimum");
        shares.Max().Should().BeGreaterThan(0.85, "and up to nearly the whole image");
        boxes.Count(b => b.Top == 0).Should().BeGreaterThan(0, "boxes are placed anywhere, the edges included");
        boxes.Count(b => b.Left + b.Width == Width).Should().BeGreaterThan(0);
        boxes.Count(b => b.Mirrored).Should().BeInRange(1850, 2150, "each crop is mirrored with probability one half");
    }

    [Fact]
    public void The_first_try_that_fits_is_placed_by_the_offset_draws()
    {
        var uniforms = new double[DecodedCrops.DrawsPerImage];
        Array.Fill(uniforms, 0.5);

        // On 400 × 300: try 0, share 1 at ratio 3/4, is 300 × 400 and does not fit; try 1, share
        // 0.08 at ratio 1, is 98 × 98; try 2 (share 0.54, ratio 1) would fit too but comes later.
        (uniforms[0], uniforms[1]) = (1, 0);
        (uniforms[2], uniforms[3]) = (0, 0.5);
        (uniforms[20], uniforms[21]) = (0.25, 0.999);

        DecodedCrops.Box(uniforms, 400, 300, 0.08, 1).Should().Be((50, 302, 98, 98), "top ⌊0.25·203⌋, left ⌊0.999·303⌋");
    }

    [Fact]
    public void A_fixed_scale_draws_boxes_of_that_area()
    {
        var crops = Crops(3, scaleMin: 0.25, scaleMax: 0.25);

        foreach (var (_, _, height, width, _) in Enumerable.Range(0, 500).Select(p => crops.For(p, 400, 400)))
        {
            ((double)height * width).Should().BeApproximately(40_000, 400);
        }
    }

    [Fact]
    public void Without_flip_no_crop_is_mirrored()
    {
        var crops = Crops(5, flip: false);

        Enumerable.Range(0, 500).Should().NotContain(p => crops.For(p, 64, 48).Mirrored);
    }

    [Theory]
    [InlineData(10, 200, 93, 0, 13, 10)] // tall: a 3:4 box as wide as the image, centred
    [InlineData(300, 10, 0, 143, 10, 13)] // wide: a 4:3 box as high as the image, centred
    public void An_image_no_box_fits_gets_the_centred_box_of_the_nearest_ratio(int width, int height, int top, int left, int boxHeight, int boxWidth)
    {
        var crops = Crops(1);

        foreach (var p in Enumerable.Range(0, 20))
        {
            var (t, l, h, w, _) = crops.For(p, width, height);
            (t, l, h, w).Should().Be((top, left, boxHeight, boxWidth));
        }
    }
}
