using Distillation.Data;
using Distillation.Tests.TestSupport;
using Microsoft.Extensions.Logging;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Datasets.Tests.ImageFolders;

public sealed class ImageFolderDatasetTests : IDisposable
{
    private readonly TempFolder folder = new();
    private readonly DisposeScope scope = NewDisposeScope();

    public void Dispose()
    {
        scope.Dispose();
        folder.Dispose();
    }

    private string Root => folder.Path;

    private static ImageFolderOptions Size(int size) => new() { ImageSize = size, Normalization = ImageNormalization.UnitRange };

    private void SolidPng(string relative, byte r, byte g, byte b, int size = 4) =>
        ImageFiles.Write(Path.Combine(Root, relative), ImageFiles.Encode(size, size, ImageFiles.Solid(size, size, r, g, b), SKEncodedImageFormat.Png));

    private static byte[] Rgb(ImageDataset data, int image, int y = 0, int x = 0) =>
        [data.Images[image, 0, y, x].item<byte>(), data.Images[image, 1, y, x].item<byte>(), data.Images[image, 2, y, x].item<byte>()];

    [Fact]
    public void Classes_are_the_sub_folders_in_ordinal_order_and_images_go_class_by_class_then_by_name()
    {
        SolidPng("b/2.png", 1, 0, 0);
        SolidPng("b/1.PNG", 2, 0, 0);
        SolidPng("a/9.png", 3, 0, 0);
        SolidPng("C/x.png", 4, 0, 0);
        SolidPng("a/deeper/0.png", 5, 0, 0);
        SolidPng(".cache/0.png", 6, 0, 0);
        File.WriteAllText(Path.Combine(Root, "a", "notes.txt"), "not an image");

        using var data = ImageFolderDataset.Load(Root, Size(4));

        data.ClassNames.Should().Equal("C", "a", "b");
        data.Labels.data<long>().ToArray().Should().Equal(0, 1, 1, 2, 2);
        Enumerable.Range(0, data.Count).Select(i => Rgb(data, i)[0]).Should().Equal(new byte[] { 4, 3, 5, 2, 1 }, "a/9.png sorts before a/deeper/0.png; b/1.PNG before b/2.png");
        data.Images.shape.Should().Equal(5, 3, 4, 4);
    }

    [Fact]
    public void File_name_order_reads_across_classes_by_name()
    {
        SolidPng("a/00002.png", 2, 0, 0);
        SolidPng("b/00000.png", 0, 0, 0);
        SolidPng("b/00001.png", 1, 0, 0);
        SolidPng("c/00003.png", 3, 0, 0);

        var options = Size(4);
        options.Order = ImageFolderOrder.FileName;
        using var data = ImageFolderDataset.Load(Root, options);

        Enumerable.Range(0, data.Count).Select(i => Rgb(data, i)[0]).Should().Equal(new byte[] { 0, 1, 2, 3 });
        data.Labels.data<long>().ToArray().Should().Equal(1, 1, 0, 2);
    }

    public static TheoryData<string> LosslessKinds => ["rgb8", "gray8", "palette", "rgba-transparent", "rgb16", "gray-alpha", "bmp24", "webp-lossless"];

    [Theory]
    [MemberData(nameof(LosslessKinds))]
    public void Every_lossless_kind_of_file_becomes_its_exact_RGB(string kind)
    {
        const int W = 4;
        const int H = 3;
        byte[] expected = kind.StartsWith("gray", StringComparison.Ordinal) ? [77, 77, 77] : [200, 100, 50];
        var bytes = kind switch
        {
            "rgb8" => ImageFiles.Png(W, H, colorType: 2, bitDepth: 8, ImageFiles.Solid(W, H, 200, 100, 50), W * 3),
            "gray8" => ImageFiles.Png(W, H, colorType: 0, bitDepth: 8, Enumerable.Repeat((byte)77, W * H).ToArray(), W),
            "palette" => ImageFiles.Png(W, H, colorType: 3, bitDepth: 8, Enumerable.Repeat((byte)1, W * H).ToArray(), W, palette: [0, 0, 0, 200, 100, 50]),
            // Alpha 0 everywhere: the stored colour is kept (PIL's convert("RGB") drops alpha), not composited to black or white.
            "rgba-transparent" => ImageFiles.Png(W, H, colorType: 6, bitDepth: 8, Enumerable.Range(0, W * H).SelectMany(_ => new byte[] { 200, 100, 50, 0 }).ToArray(), W * 4),
            // 16-bit samples v·257 reduce to v.
            "rgb16" => ImageFiles.Png(W, H, colorType: 2, bitDepth: 16, Enumerable.Range(0, W * H).SelectMany(_ => new byte[] { 200, 200, 100, 100, 50, 50 }).ToArray(), W * 6),
            "gray-alpha" => ImageFiles.Png(W, H, colorType: 4, bitDepth: 8, Enumerable.Range(0, W * H).SelectMany(_ => new byte[] { 77, 128 }).ToArray(), W * 2),
            "bmp24" => ImageFiles.Bmp24(W, H, ImageFiles.Solid(W, H, 200, 100, 50)),
            "webp-lossless" => ImageFiles.Encode(W, H, ImageFiles.Solid(W, H, 200, 100, 50), SKEncodedImageFormat.Webp, quality: 100),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        var extension = kind switch { "bmp24" => ".bmp", "webp-lossless" => ".webp", _ => ".png" };
        ImageFiles.Write(Path.Combine(Root, "only", "image" + extension), bytes);

        var options = Size(3);
        options.Resize = ImageResizeMode.ShorterSideThenCenterCrop;
        using var data = ImageFolderDataset.Load(Root, options);

        // 4×3 → the central 3×3, no resampling: every pixel exact.
        data.Images.shape.Should().Equal(1, 3, 3, 3);
        for (var y = 0; y < 3; y++)
        {
            for (var x = 0; x < 3; x++)
            {
                Rgb(data, 0, y, x).Should().Equal(expected, $"pixel ({y}, {x}) of a {kind} file");
            }
        }
    }

    [Fact]
    public void Transparent_pixels_keep_their_stored_colour_through_resizing()
    {
        // 8×8 RGBA, alpha 0 everywhere but one pixel: shrinking to 4² must not darken towards a premultiplied black.
        var rgba = Enumerable.Range(0, 64).SelectMany(i => new byte[] { 200, 100, 50, (byte)(i == 0 ? 255 : 0) }).ToArray();
        ImageFiles.Write(Path.Combine(Root, "x", "alpha.png"), ImageFiles.Png(8, 8, colorType: 6, bitDepth: 8, rgba, 32));

        using var data = ImageFolderDataset.Load(Root, Size(4));

        for (var y = 0; y < 4; y++)
        {
            for (var x = 0; x < 4; x++)
            {
                Rgb(data, 0, y, x).Select(v => (int)v).Should().SatisfyRespectively(r => r.Should().BeCloseTo(200, 1), g => g.Should().BeCloseTo(100, 1), b => b.Should().BeCloseTo(50, 1));
            }
        }
    }

    [Fact]
    public void A_jpeg_decodes_to_its_colour_within_the_compression_error()
    {
        ImageFiles.Write(Path.Combine(Root, "x", "a.JPG"), ImageFiles.Encode(16, 16, ImageFiles.Solid(16, 16, 200, 100, 50), SKEncodedImageFormat.Jpeg, quality: 95));
        ImageFiles.Write(Path.Combine(Root, "x", "b.jpeg"), ImageFiles.Encode(16, 16, ImageFiles.Solid(16, 16, 30, 160, 220), SKEncodedImageFormat.Jpeg, quality: 95));

        using var data = ImageFolderDataset.Load(Root, Size(16));

        Rgb(data, 0, 8, 8).Select(v => (int)v).Should().SatisfyRespectively(r => r.Should().BeCloseTo(200, 4), g => g.Should().BeCloseTo(100, 4), b => b.Should().BeCloseTo(50, 4));
        Rgb(data, 1, 8, 8).Select(v => (int)v).Should().SatisfyRespectively(r => r.Should().BeCloseTo(30, 4), g => g.Should().BeCloseTo(160, 4), b => b.Should().BeCloseTo(220, 4));
    }

    [Fact]
    public void A_cmyk_jpeg_becomes_RGB()
    {
        // Fixture made once with ImageMagick: `convert -size 16x16 xc:'rgb(200,100,50)' -colorspace CMYK -quality 95 cmyk.jpg`.
        var fixture = Path.Combine(AppContext.BaseDirectory, "ImageFolders", "Fixtures", "cmyk.jpg");
        ImageFiles.Write(Path.Combine(Root, "x", "cmyk.jpg"), File.ReadAllBytes(fixture));

        using var data = ImageFolderDataset.Load(Root, Size(16));

        Rgb(data, 0, 8, 8).Select(v => (int)v).Should().SatisfyRespectively(r => r.Should().BeCloseTo(200, 6), g => g.Should().BeCloseTo(100, 6), b => b.Should().BeCloseTo(50, 6));
    }

    [Fact]
    public void Shorter_side_then_centre_crop_keeps_the_middle_and_stretch_keeps_everything()
    {
        // 96×32: red, green and blue thirds.
        var rgb = new byte[96 * 32 * 3];
        for (var y = 0; y < 32; y++)
        {
            for (var x = 0; x < 96; x++)
            {
                rgb[(((y * 96) + x) * 3) + (x / 32)] = 255;
            }
        }

        ImageFiles.Write(Path.Combine(Root, "x", "thirds.png"), ImageFiles.Encode(96, 32, rgb, SKEncodedImageFormat.Png));

        using var cropped = ImageFolderDataset.Load(Root, Size(16));
        var stretchOptions = Size(24);
        stretchOptions.Resize = ImageResizeMode.Stretch;
        using var stretched = ImageFolderDataset.Load(Root, stretchOptions);

        foreach (var (y, x) in new[] { (0, 0), (8, 8), (15, 15), (0, 15) })
        {
            Rgb(cropped, 0, y, x).Should().Equal(new byte[] { 0, 255, 0 }, "the central square is the green third");
        }

        Rgb(stretched, 0, 12, 3).Should().Equal(new byte[] { 255, 0, 0 });
        Rgb(stretched, 0, 12, 12).Should().Equal(new byte[] { 0, 255, 0 });
        Rgb(stretched, 0, 12, 20).Should().Equal(new byte[] { 0, 0, 255 });
    }

    [Fact]
    public void Shrinking_averages_the_source_instead_of_picking_pixels()
    {
        // Uniform noise, 256² → 8²: an antialiased filter gives each output pixel the mean of a 32×32 block (≈ 127.5 ± 3);
        // a filter that samples a few source pixels per output pixel would give values spread over 0–255.
        ImageFiles.Write(Path.Combine(Root, "x", "noise.png"), ImageFiles.Encode(256, 256, ImageFiles.Noise(256, 256, seed: 1), SKEncodedImageFormat.Png));

        using var data = ImageFolderDataset.Load(Root, Size(8));

        var values = data.Images.to_type(ScalarType.Float32);
        values.std().item<float>().Should().BeLessThan(12f);
        values.mean().item<float>().Should().BeApproximately(127.5f, 4f);
    }

    [Fact]
    public void Enlarging_a_small_image_is_smooth()
    {
        // 2×2 black/white checker enlarged to 16²: cubic interpolation gives intermediate greys between the corners.
        ImageFiles.Write(Path.Combine(Root, "x", "checker.png"), ImageFiles.Png(2, 2, colorType: 0, bitDepth: 8, [0, 255, 255, 0], 2));

        using var data = ImageFolderDataset.Load(Root, Size(16));

        Rgb(data, 0, 1, 1)[0].Should().BeLessThan(40);
        Rgb(data, 0, 1, 14)[0].Should().BeGreaterThan(215);
        Rgb(data, 0, 8, 8)[0].Should().BeInRange(80, 175, "the centre lies between the four cells");
    }

    [Fact]
    public void A_file_that_cannot_be_decoded_is_named()
    {
        SolidPng("a/good.png", 1, 2, 3);
        var bad = Path.Combine(Root, "a", "broken.jpg");
        File.WriteAllBytes(bad, [0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3, 4, 5]);

        var act = () => ImageFolderDataset.Load(Root, Size(4));

        act.Should().Throw<InvalidDataException>().WithMessage($"*{bad}*");
    }

    [Fact]
    public void A_truncated_file_is_an_error_not_an_image_with_blank_rows()
    {
        var whole = ImageFiles.Encode(64, 64, ImageFiles.Noise(64, 64, seed: 2), SKEncodedImageFormat.Png);
        var cut = Path.Combine(Root, "a", "cut.png");
        ImageFiles.Write(cut, whole[..(whole.Length / 2)]);

        var act = () => ImageFolderDataset.Load(Root, Size(8));

        act.Should().Throw<InvalidDataException>().WithMessage($"*{cut}*");
    }

    [Fact]
    public void Unreadable_files_are_left_out_with_a_warning_when_asked()
    {
        SolidPng("a/0.png", 10, 0, 0);
        File.WriteAllBytes(Path.Combine(Root, "a", "1.png"), [1, 2, 3]);
        SolidPng("b/0.png", 20, 0, 0);
        File.WriteAllText(Path.Combine(Root, "b", "1.webp"), "text");
        SolidPng("b/2.png", 30, 0, 0);
        var logger = new ListLogger();
        var options = Size(4);
        options.SkipUnreadable = true;

        using var data = ImageFolderDataset.Load(Root, options, logger: logger);

        data.Count.Should().Be(3);
        data.Labels.data<long>().ToArray().Should().Equal(0, 1, 1);
        Enumerable.Range(0, 3).Select(i => Rgb(data, i)[0]).Should().Equal(new byte[] { 10, 20, 30 });
        logger.Entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Message).Should()
            .Contain(m => m.Contains(Path.Combine(Root, "a", "1.png"))).And
            .Contain(m => m.Contains(Path.Combine(Root, "b", "1.webp"))).And
            .Contain(m => m.Contains("2 of 5"));
    }

    [Fact]
    public void A_folder_over_the_memory_budget_fails_before_decoding_with_the_size_and_the_ways_out()
    {
        SolidPng("a/0.png", 1, 1, 1);
        File.WriteAllBytes(Path.Combine(Root, "a", "1.png"), [1, 2, 3]);
        var options = Size(64);
        options.MemoryBudgetBytes = 20_000;

        var act = () => ImageFolderDataset.Load(Root, options);

        // 2 · 3 · 64² + 2 · 8 = 24,592 bytes: the budget error comes first, though a file is unreadable.
        var error = act.Should().Throw<MemoryBudgetExceededException>().Which;
        error.RequiredBytes.Should().Be(24_592);
        error.BudgetBytes.Should().Be(20_000);
        error.Message.Should().Contain("24,592").And.Contain("smaller image size").And.Contain("StreamingImageFolder");
        ImageFolderDataset.ResidentBytes(50_000, 32).Should().Be(154_000_000);
    }

    [Fact]
    public void Missing_and_empty_folders_are_named()
    {
        var missing = Path.Combine(Root, "nope");
        Directory.CreateDirectory(Path.Combine(Root, "a"));
        SolidPng("b/0.png", 1, 1, 1);

        FluentActions.Invoking(() => ImageFolderDataset.Load(missing)).Should().Throw<DatasetNotFoundException>().WithMessage($"*{missing}*");
        FluentActions.Invoking(() => ImageFolderDataset.Load(Root)).Should().Throw<DatasetFormatException>().WithMessage($"*{Path.Combine(Root, "a")}*no image*");
    }

    [Fact]
    public void Train_and_test_folders_are_used_as_given_with_the_training_classes()
    {
        SolidPng("train/cat/0.png", 1, 0, 0);
        SolidPng("train/dog/0.png", 2, 0, 0);
        SolidPng("test/dog/0.png", 3, 0, 0);

        var (train, test) = ImageFolderDataset.LoadSplits(Root, Size(4));
        using var disposeTrain = train;
        using var disposeTest = test;

        train.ClassNames.Should().Equal("cat", "dog");
        test.ClassNames.Should().Equal("cat", "dog");
        test.Labels.data<long>().ToArray().Should().Equal(1);
        Rgb(test, 0)[0].Should().Be(3);

        SolidPng("test/bird/0.png", 4, 0, 0);
        FluentActions.Invoking(() => ImageFolderDataset.LoadSplits(Root, Size(4))).Should().Throw<DatasetFormatException>().WithMessage("*bird*");
    }

    [Fact]
    public void A_folder_without_a_split_is_split_per_class_from_the_seed()
    {
        for (var i = 0; i < 10; i++)
        {
            SolidPng($"a/{i:D2}.png", (byte)i, 0, 0);
        }

        for (var i = 0; i < 20; i++)
        {
            SolidPng($"b/{i:D2}.png", (byte)(100 + i), 0, 0);
        }

        static byte[] Ids(ImageDataset d) => d.Images[.., 0, 0, 0].data<byte>().ToArray();
        (byte[] Train, byte[] Test, long[] TestLabels) Split(long seed)
        {
            var options = Size(4);
            options.TestFraction = 0.2;
            options.SplitSeed = seed;
            var (train, test) = ImageFolderDataset.LoadSplits(Root, options);
            using (train)
            using (test)
            {
                return (Ids(train), Ids(test), test.Labels.data<long>().ToArray());
            }
        }

        var first = Split(seed: 1);

        first.TestLabels.Should().Equal([0, 0, 1, 1, 1, 1], "2 of 10 and 4 of 20: each class keeps its share, in folder order");
        first.Train.Concat(first.Test).Order().Should().Equal(Enumerable.Range(0, 10).Select(i => (byte)i).Concat(Enumerable.Range(100, 20).Select(i => (byte)i)), "every image lands in exactly one set");
        first.Train.Should().BeInAscendingOrder();
        first.Test.Should().BeInAscendingOrder();
        Split(seed: 1).Test.Should().Equal(first.Test);
        Split(seed: 2).Test.Should().NotEqual(first.Test);
    }

    [Fact]
    public void Progress_counts_up_to_the_total()
    {
        for (var i = 0; i < 7; i++)
        {
            SolidPng($"a/{i}.png", (byte)i, 0, 0);
        }

        var reports = new List<ImageFolderProgress>();
        var progress = new SynchronousProgress<ImageFolderProgress>(p =>
        {
            lock (reports)
            {
                reports.Add(p);
            }
        });

        using var data = ImageFolderDataset.Load(Root, Size(4), progress);

        reports.Should().HaveCount(7);
        reports.Max(r => r.Decoded).Should().Be(7);
        reports.Should().OnlyContain(r => r.Total == 7);
    }

    private static SynchronousProgress<ImageFolderProgress> Collect(List<ImageFolderProgress> reports) => new(p =>
    {
        lock (reports)
        {
            reports.Add(p);
        }
    });

    private void Broken(string relative) => ImageFiles.Write(Path.Combine(Root, relative), [1, 2, 3]);

    [Fact]
    public void Resident_bytes_that_overflow_a_long_throw_instead_of_wrapping()
    {
        ImageFolderDataset.ResidentBytes(2, 4).Should().Be((2 * 3 * 16) + (2 * 8));
        FluentActions.Invoking(() => ImageFolderDataset.ResidentBytes(long.MaxValue / 8, 64)).Should().Throw<OverflowException>();
    }

    [Fact]
    public void A_folder_is_split_only_when_it_holds_both_train_and_test()
    {
        FluentActions.Invoking(() => ImageFolderDataset.HasSplitFolders("   ")).Should().Throw<ArgumentException>();
        FluentActions.Invoking(() => ImageFolderDataset.HasSplitFolders(string.Empty)).Should().Throw<ArgumentException>();

        ImageFolderDataset.HasSplitFolders(Root).Should().BeFalse();
        Directory.CreateDirectory(Path.Combine(Root, "train"));
        ImageFolderDataset.HasSplitFolders(Root).Should().BeFalse("train/ alone is not a split");
        Directory.CreateDirectory(Path.Combine(Root, "test"));
        ImageFolderDataset.HasSplitFolders(Root).Should().BeTrue();
        Directory.Delete(Path.Combine(Root, "train"));
        ImageFolderDataset.HasSplitFolders(Root).Should().BeFalse("test/ alone is not a split");
    }

    [Fact]
    public void Invalid_options_are_refused_before_the_folder_is_read()
    {
        var missing = Path.Combine(Root, "nope");
        var badSize = Size(4);
        badSize.ImageSize = 0;
        var badFraction = Size(4);
        badFraction.TestFraction = 1.5;

        FluentActions.Invoking(() => ImageFolderDataset.Load(missing, badSize)).Should().Throw<ArgumentException>().WithMessage("*ImageSize*");
        FluentActions.Invoking(() => ImageFolderDataset.LoadSplits(missing, badFraction)).Should().Throw<ArgumentException>().WithMessage("*TestFraction*");
    }

    [Fact]
    public void Two_sets_that_each_fit_the_budget_but_not_together_fail_before_decoding()
    {
        // Each 4² image takes 3·16 + 8 = 56 bytes: train 3·56 = 168 and test 56 fit 200 alone, 224 together do not.
        SolidPng("train/a/0.png", 1, 0, 0);
        SolidPng("train/b/0.png", 2, 0, 0);
        Broken("train/b/1.png");
        SolidPng("test/a/0.png", 3, 0, 0);
        var options = Size(4);
        options.MemoryBudgetBytes = 200;

        var act = () => ImageFolderDataset.LoadSplits(Root, options);

        var error = act.Should().Throw<MemoryBudgetExceededException>("the unreadable training file is never decoded").Which;
        error.RequiredBytes.Should().Be(224);
        error.Message.Should().Contain($"The 4 images of {Root} ");
    }

    [Fact]
    public void Progress_of_two_sets_counts_both_on_one_scale()
    {
        SolidPng("train/a/0.png", 1, 0, 0);
        SolidPng("train/a/1.png", 2, 0, 0);
        SolidPng("train/b/0.png", 3, 0, 0);
        SolidPng("test/a/0.png", 4, 0, 0);
        SolidPng("test/b/0.png", 5, 0, 0);
        var reports = new List<ImageFolderProgress>();
        var options = Size(4);
        options.MaxDegreeOfParallelism = 1;

        var (train, test) = ImageFolderDataset.LoadSplits(Root, options, Collect(reports));
        using var disposeTrain = train;
        using var disposeTest = test;

        reports.Should().Equal(new ImageFolderProgress(1, 5), new ImageFolderProgress(2, 5), new ImageFolderProgress(3, 5), new ImageFolderProgress(4, 5), new ImageFolderProgress(5, 5));
    }

    [Fact]
    public void A_test_set_that_cannot_be_decoded_fails_naming_the_file_and_releases_the_training_set()
    {
        SolidPng("train/a/0.png", 1, 0, 0);
        SolidPng("train/b/0.png", 2, 0, 0);
        SolidPng("test/a/0.png", 3, 0, 0);
        var bad = Path.Combine(Root, "test", "b", "0.png");
        Broken(Path.Combine("test", "b", "0.png"));
        var options = Size(4);

        // One decoder, on this thread: every tensor of the load is counted here.
        options.MaxDegreeOfParallelism = 1;
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        using (NewDisposeScope())
        {
            // The scope takes the temporaries of building the training set (its label range check).
            var act = () => ImageFolderDataset.LoadSplits(Root, options);
            act.Should().Throw<InvalidDataException>().WithMessage($"*{bad}*");
        }

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(live, "the decoded training set and the test set's pixels are disposed");
    }

    [Fact]
    public void Decoding_stops_at_the_first_unreadable_file()
    {
        SolidPng("a/0.png", 1, 0, 0);
        Broken("a/1.png");
        Broken("a/2.png");
        SolidPng("a/3.png", 1, 0, 0);
        SolidPng("a/4.png", 1, 0, 0);
        var reports = new List<ImageFolderProgress>();
        var options = Size(4);
        options.MaxDegreeOfParallelism = 1;

        var act = () => ImageFolderDataset.Load(Root, options, Collect(reports));

        act.Should().Throw<InvalidDataException>().WithMessage($"*{Path.Combine(Root, "a", "1.png")}*");
        reports.Should().Equal([new ImageFolderProgress(1, 5), new ImageFolderProgress(2, 5)], "the files after the first failure are not decoded");
    }

    [Fact]
    public void Cancelling_while_decoding_stops_between_images_and_releases_the_pixels()
    {
        for (var i = 0; i < 5; i++)
        {
            SolidPng($"a/{i}.png", (byte)i, 0, 0);
        }

        using var cancellation = new CancellationTokenSource();
        var reports = new List<ImageFolderProgress>();
        var progress = new SynchronousProgress<ImageFolderProgress>(p =>
        {
            reports.Add(p);
            cancellation.Cancel();
        });
        var options = Size(4);
        options.MaxDegreeOfParallelism = 1;
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        var act = () => ImageFolderDataset.Load(Root, options, progress, cancellationToken: cancellation.Token);

        act.Should().Throw<OperationCanceledException>();
        reports.Should().Equal([new ImageFolderProgress(1, 5)], "no image is decoded after the cancellation");
        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(live, "the pixels are disposed");
    }

    [Fact]
    public void The_last_progress_report_is_the_total_when_it_is_not_a_multiple_of_the_step()
    {
        // 201 images: a report every 2 (1 %), and the last at 201.
        var png = ImageFiles.Encode(4, 4, ImageFiles.Solid(4, 4, 1, 2, 3), SKEncodedImageFormat.Png);
        for (var i = 0; i < 201; i++)
        {
            ImageFiles.Write(Path.Combine(Root, "a", $"{i:D3}.png"), png);
        }

        var reports = new List<ImageFolderProgress>();

        using var data = ImageFolderDataset.Load(Root, Size(4), Collect(reports));

        reports.Should().OnlyContain(r => r.Total == 201);
        reports.Select(r => r.Decoded).Order().Should().Equal(Enumerable.Range(1, 100).Select(i => 2 * i).Append(201));
    }

    [Fact]
    public void Of_two_unreadable_files_decoded_at_once_the_error_names_the_first_in_folder_order()
    {
        // Two truncated 4096² images, slow to fail: with two decoders both are under way before either stops the loop.
        var whole = ImageFiles.Png(4096, 4096, colorType: 0, bitDepth: 8, ImageFiles.Noise(4096, 4096, seed: 3)[..(4096 * 4096)], 4096);
        var first = Path.Combine(Root, "a", "0.png");
        ImageFiles.Write(first, whole[..(whole.Length * 9 / 10)]);
        ImageFiles.Write(Path.Combine(Root, "a", "1.png"), whole[..(whole.Length * 9 / 10)]);
        var options = Size(4);
        options.MaxDegreeOfParallelism = Math.Min(2, Environment.ProcessorCount);

        var act = () => ImageFolderDataset.Load(Root, options);

        act.Should().Throw<InvalidDataException>().WithMessage($"Image {first} *");
    }

    [Fact]
    public void Skipped_files_are_reported_in_folder_order()
    {
        Broken("a/0.png");
        SolidPng("a/1.png", 1, 0, 0);
        Broken("a/2.png");
        Broken("b/0.png");
        SolidPng("b/1.png", 2, 0, 0);
        var logger = new ListLogger();
        var options = Size(4);
        options.SkipUnreadable = true;

        using var data = ImageFolderDataset.Load(Root, options, logger: logger);

        data.Count.Should().Be(2);
        logger.Entries.Select(e => e.Message).Should().Equal(
            $"Image {Path.Combine(Root, "a", "0.png")} could not be decoded and is left out.",
            $"Image {Path.Combine(Root, "a", "2.png")} could not be decoded and is left out.",
            $"Image {Path.Combine(Root, "b", "0.png")} could not be decoded and is left out.",
            $"3 of 5 images of {Root} could not be decoded and were left out.");
    }

    [Fact]
    public void A_folder_of_which_no_image_decodes_is_an_error_even_when_skipping()
    {
        Broken("a/0.png");
        Broken("a/1.png");
        Broken("b/0.png");
        var options = Size(4);
        options.SkipUnreadable = true;
        options.MaxDegreeOfParallelism = 1;
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        var act = () => ImageFolderDataset.Load(Root, options);

        act.Should().Throw<InvalidDataException>().WithMessage($"None of the 3 images of {Root} could be decoded; the first is {Path.Combine(Root, "a", "0.png")}.");
        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(live, "the pixels are disposed");
    }

    [Theory]
    [InlineData(5L << 20, "5 MiB (5,242,880 bytes)")]
    [InlineData(1_310_720L, "1.25 MiB (1,310,720 bytes)")]
    [InlineData((1L << 30) - 1, "1024 MiB (1,073,741,823 bytes)")]
    [InlineData(1L << 30, "1 GiB (1,073,741,824 bytes)")]
    [InlineData(3L << 29, "1.5 GiB (1,610,612,736 bytes)")]
    public void Byte_counts_read_in_MiB_below_a_GiB_and_in_GiB_from_it(long bytes, string expected) =>
        ImageFolderDataset.FormatBytes(bytes).Should().Be(expected);
}
