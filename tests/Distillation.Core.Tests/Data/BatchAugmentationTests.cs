using Distillation.Data;
using TorchSharp;
using static Distillation.Tests.TestSupport.EncodedImages;
using static TorchSharp.torch;

namespace Distillation.Tests.Data;

public sealed class BatchAugmentationTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();

    public void Dispose() => scope.Dispose();

    /// <summary>
    /// Every (top, left, flipped) for which output image <paramref name="i"/> is the H×W window of
    /// the padded image at (top, left), mirrored when flipped.
    /// </summary>
    private static List<(int Top, int Left, bool Flipped)> Windows(Tensor output, Tensor padded, int i, int p)
    {
        var (h, w) = (output.shape[2], output.shape[3]);
        var found = new List<(int, int, bool)>();
        for (var top = 0; top <= 2 * p; top++)
        {
            for (var left = 0; left <= 2 * p; left++)
            {
                var window = padded[i].narrow(1, top, h).narrow(2, left, w);
                foreach (var flipped in new[] { false, true })
                {
                    var expected = flipped ? window.flip(2) : window;
                    if (Same(output[i], expected))
                    {
                        found.Add((top, left, flipped));
                    }
                }
            }
        }

        return found;
    }

    [Fact]
    public void Output_has_the_shape_dtype_and_device_of_the_input_and_is_contiguous()
    {
        using var generator = new Generator(1);
        var augmentation = new BatchAugmentation();

        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        {
            var images = randn([5, 3, 32, 32], dtype);
            var output = augmentation.Apply(images, generator);

            output.shape.Should().Equal(5, 3, 32, 32);
            output.dtype.Should().Be(dtype);
            output.device.ToString().Should().Be(images.device.ToString());
            output.is_contiguous().Should().BeTrue();
        }
    }

    [Fact]
    public void A_non_contiguous_batch_is_augmented_like_its_contiguous_copy()
    {
        var images = randn([6, 3, 8, 8]).transpose(2, 3);
        var augmentation = new BatchAugmentation();
        using var first = new Generator(4);
        using var second = new Generator(4);

        var output = augmentation.Apply(images, first);

        images.is_contiguous().Should().BeFalse();
        Same(output, augmentation.Apply(images.contiguous(), second)).Should().BeTrue();
        output.is_contiguous().Should().BeTrue();
    }

    [Fact]
    public void Without_padding_or_flip_the_output_equals_the_input()
    {
        using var generator = new Generator(1);
        var images = randn([4, 3, 8, 8]);

        var output = new BatchAugmentation(new AugmentationOptions { Padding = 0, HorizontalFlip = false }).Apply(images, generator);

        Same(output, images).Should().BeTrue();
        output.Handle.Should().NotBe(images.Handle, "the output is a tensor of its own");
    }

    [Fact]
    public void Each_crop_is_a_shifted_window_of_the_zero_padded_image()
    {
        const int p = 2;
        using var generator = new Generator(3);
        var images = Encoded(64, 2, 5, 6);
        var padded = Padded(images, p, [0f, 0f]);

        var output = new BatchAugmentation(new AugmentationOptions { Padding = p, HorizontalFlip = false }).Apply(images, generator);

        var windows = Enumerable.Range(0, 64).Select(i => Windows(output, padded, i, p)).ToArray();
        windows.Should().AllSatisfy(w => w.Should().ContainSingle("each output is exactly one window of its own padded image"));
        var chosen = windows.Select(w => w[0]).ToArray();
        chosen.Should().AllSatisfy(x => x.Flipped.Should().BeFalse());

        // Every offset in [0, 2p] occurs: each image draws its own (64 draws of 5 values each).
        chosen.Select(x => x.Top).Distinct().Order().Should().Equal(0, 1, 2, 3, 4);
        chosen.Select(x => x.Left).Distinct().Order().Should().Equal(0, 1, 2, 3, 4);
        output.eq(0).any().item<bool>().Should().BeTrue("windows that reach into the padding hold zeros");
    }

    [Fact]
    public void About_half_of_a_large_batch_is_flipped_and_a_flipped_image_is_the_mirrored_input()
    {
        using var generator = new Generator(5);
        var images = randn([2000, 3, 4, 4]);

        var output = new BatchAugmentation(new AugmentationOptions { Padding = 0 }).Apply(images, generator);

        var same = output.eq(images).all(1).all(1).all(1);
        var mirrored = output.eq(images.flip(3)).all(1).all(1).all(1);
        same.logical_xor(mirrored).all().item<bool>().Should().BeTrue("every image is either kept or mirrored, not altered otherwise");
        var flipped = mirrored.sum().item<long>();

        // Binomial(2000, 0.5): mean 1000, standard deviation ≈ 22; ±100 is over 4 deviations.
        flipped.Should().BeInRange(900, 1100);
    }

    [Fact]
    public void Crop_and_flip_together_give_the_mirror_of_a_window()
    {
        const int p = 3;
        using var generator = new Generator(7);
        var images = Encoded(128, 3, 6, 6);
        var padded = Padded(images, p, [0f, 0f, 0f]);

        var output = new BatchAugmentation(new AugmentationOptions { Padding = p }).Apply(images, generator);

        var chosen = Enumerable.Range(0, 128).Select(i => Windows(output, padded, i, p).Should().ContainSingle().Subject).ToArray();
        chosen.Count(x => x.Flipped).Should().BeInRange(40, 88, "Binomial(128, 0.5) has mean 64 and standard deviation ≈ 5.7");
    }

    [Fact]
    public void Black_padding_fills_each_channel_with_minus_mean_over_std()
    {
        const int p = 4;
        using var generator = new Generator(9);
        var normalization = ImageNormalization.ImageNet;
        var black = normalization.Mean.Zip(normalization.Std, (m, s) => -m / s).ToArray();
        var images = Encoded(32, 3, 8, 8);
        var padded = Padded(images, p, black);

        var output = new BatchAugmentation(new AugmentationOptions { Padding = p, HorizontalFlip = false, PadWithBlack = true }, normalization)
            .Apply(images, generator);

        Enumerable.Range(0, 32).Should().AllSatisfy(i => Windows(output, padded, i, p).Should().ContainSingle());
        output.eq(0).any().item<bool>().Should().BeFalse("nothing is padded with 0");

        // Red black is −0.485 / 0.229 ≈ −2.1179; some window reaches into the padding.
        output[.., 0].eq(black[0]).any().item<bool>().Should().BeTrue();
        black[0].Should().BeApproximately(-2.1179f, 1e-4f);
    }

    [Fact]
    public void The_same_seed_gives_the_same_batch_and_another_seed_another()
    {
        var images = randn([64, 3, 16, 16]);
        var augmentation = new BatchAugmentation();
        Tensor Run(long seed)
        {
            using var generator = new Generator((ulong)seed);
            return augmentation.Apply(images, generator);
        }

        Same(Run(42), Run(42)).Should().BeTrue();
        Same(Run(42), Run(43)).Should().BeFalse();
    }

    [Fact]
    public void The_work_does_not_grow_with_the_batch_so_there_is_no_per_image_loop()
    {
        var augmentation = new BatchAugmentation();
        long TensorsCreated(int batch)
        {
            var images = randn([batch, 3, 8, 8]);
            using var generator = new Generator(1);
            var statistics = DisposeScopeManager.Statistics.TensorStatistics;
            var before = statistics.CreatedInScopeCount + statistics.CreatedOutsideScopeCount;
            augmentation.Apply(images, generator);
            return statistics.CreatedInScopeCount + statistics.CreatedOutsideScopeCount - before;
        }

        // Every tensor operation makes a tensor; a loop over images would make more for more images.
        var small = TensorsCreated(2);
        small.Should().BeInRange(1, 40);
        TensorsCreated(500).Should().Be(small);
    }

    [Fact]
    public void Black_padding_needs_one_normalization_value_per_channel()
    {
        using var generator = new Generator(1);
        var augmentation = new BatchAugmentation(new AugmentationOptions { PadWithBlack = true }, ImageNormalization.ImageNet);

        var act = () => augmentation.Apply(randn([2, 1, 8, 8]), generator);

        act.Should().Throw<ArgumentException>().WithParameterName("images");
    }

    [Fact]
    public void Only_four_dimensional_floating_point_batches_are_accepted()
    {
        using var generator = new Generator(1);
        var augmentation = new BatchAugmentation();

        augmentation.Invoking(a => a.Apply(randn([3, 8, 8]), generator)).Should().Throw<ArgumentException>().WithParameterName("images");
        augmentation.Invoking(a => a.Apply(zeros([2, 3, 8, 8], ScalarType.Byte), generator)).Should().Throw<ArgumentException>().WithParameterName("images");
    }

    [Fact]
    public void Validate_rejects_negative_padding()
    {
        var options = new AugmentationOptions { Padding = -1 };

        options.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(AugmentationOptions.Padding));
        FluentActions.Invoking(() => new BatchAugmentation(options)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(AugmentationOptions.Padding));
    }

    [Fact]
    public void Defaults_are_the_standard_cifar_augmentation()
    {
        var options = new AugmentationOptions();

        options.Padding.Should().Be(4);
        options.HorizontalFlip.Should().BeTrue();
        options.PadWithBlack.Should().BeFalse();
    }

    [Fact]
    public void An_empty_batch_comes_back_as_an_empty_copy()
    {
        using var generator = new Generator(1);
        var images = zeros([0, 3, 8, 8]);

        var output = new BatchAugmentation().Apply(images, generator);

        output.shape.Should().Equal(0, 3, 8, 8);
        output.Handle.Should().NotBe(images.Handle);
    }

    [Fact]
    public void The_flips_are_the_generators_draws_below_one_half_in_image_order()
    {
        // Without padding the flips are the only draws: rand([B, 1]) < 0.5 from the generator's start.
        var images = Encoded(16, 1, 2, 3);
        using var generator = new Generator(21);
        using var reference = new Generator(21);
        var expected = rand([16, 1], generator: reference).lt(0.5).squeeze(1);

        var output = new BatchAugmentation(new AugmentationOptions { Padding = 0 }).Apply(images, generator);

        var mirrored = output.eq(images.flip(3)).all(1).all(1).all(1);
        mirrored.eq(expected).all().item<bool>().Should().BeTrue();
    }

    [Fact]
    public void Without_padding_black_needs_no_normalization_of_the_same_channels()
    {
        using var generator = new Generator(1);
        var augmentation = new BatchAugmentation(new AugmentationOptions { Padding = 0, PadWithBlack = true }, ImageNormalization.ImageNet);

        augmentation.Invoking(a => a.Apply(randn([2, 1, 8, 8]), generator)).Should().NotThrow("nothing is padded, so black is never needed");
    }

    [Fact]
    public void Black_is_the_imagenet_black_when_no_normalization_is_given()
    {
        const int p = 2;
        using var generator = new Generator(9);
        var images = Encoded(32, 3, 4, 4);
        var imageNet = ImageNormalization.ImageNet;
        var black = imageNet.Mean.Zip(imageNet.Std, (m, s) => -m / s).ToArray();

        var augmentation = new BatchAugmentation(new AugmentationOptions { Padding = p, HorizontalFlip = false, PadWithBlack = true });
        var output = augmentation.Apply(images, generator);

        augmentation.Normalization.Should().Be(imageNet);
        Enumerable.Range(0, 32).Should().AllSatisfy(i => Windows(output, Padded(images, p, black), i, p).Should().ContainSingle());
    }

    [Fact]
    public void Null_images_or_generator_are_rejected_by_name()
    {
        using var generator = new Generator(1);
        var augmentation = new BatchAugmentation();

        augmentation.Invoking(a => a.Apply(null!, generator)).Should().Throw<ArgumentNullException>().WithParameterName("images");
        augmentation.Invoking(a => a.Apply(zeros(1, 3, 2, 2), null!)).Should().Throw<ArgumentNullException>().WithParameterName("generator");
    }

    [Fact]
    public void Black_comes_from_the_normalization_given()
    {
        const int p = 1;
        using var generator = new Generator(2);
        var cifar = ImageNormalization.Cifar10;
        var black = cifar.Mean.Zip(cifar.Std, (m, s) => -m / s).ToArray();
        var images = Encoded(16, 3, 3, 3);

        var augmentation = new BatchAugmentation(new AugmentationOptions { Padding = p, HorizontalFlip = false, PadWithBlack = true }, cifar);
        var output = augmentation.Apply(images, generator);

        augmentation.Normalization.Should().Be(cifar);
        Enumerable.Range(0, 16).Should().AllSatisfy(i => Windows(output, Padded(images, p, black), i, p).Should().ContainSingle());
    }

    [Fact]
    public void Rejections_say_what_was_expected_and_what_came()
    {
        using var generator = new Generator(1);

        new AugmentationOptions { Padding = -3 }.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().WithMessage("Padding must be from 0 to 1024, was -3.");
        new BatchAugmentation().Invoking(a => a.Apply(zeros([2, 3, 8], ScalarType.Float32), generator))
            .Should().Throw<ArgumentException>().WithMessage("Images must be a floating-point tensor [B, C, H, W]; got Float32 [2, 3, 8]*");
        new BatchAugmentation(new AugmentationOptions { PadWithBlack = true }).Invoking(a => a.Apply(randn([2, 1, 8, 8]), generator))
            .Should().Throw<ArgumentException>().WithMessage("The images have 1 channels; the normalization that defines black has 3*");
    }
}
