using Distillation.Data;
using Distillation.Tests.TestSupport;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Datasets.Tests.ImageFolders;

public sealed class StreamingImageFolderTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    private string Root => folder.Path;

    private static ImageFolderOptions Options(int prefetch = 2) => new() { ImageSize = 12, PrefetchBatches = prefetch };

    /// <summary>37 noise images of varied sizes (so every one is resized) in 3 classes, PNG and BMP.</summary>
    private void WriteFolder(int count = 37)
    {
        for (var i = 0; i < count; i++)
        {
            var (w, h) = (10 + (i % 7 * 5), 9 + (i % 5 * 6));
            var rgb = ImageFiles.Noise(w, h, seed: i);
            var bytes = i % 4 == 3 ? ImageFiles.Bmp24(w, h, rgb) : ImageFiles.Encode(w, h, rgb, SKEncodedImageFormat.Png);
            ImageFiles.Write(Path.Combine(Root, $"class{i % 3}", $"{i:D3}{(i % 4 == 3 ? ".bmp" : ".png")}"), bytes);
        }
    }

    private static void ShouldEqual(Batch streamed, Batch resident, int index)
    {
        streamed.Images.dtype.Should().Be(ScalarType.Float32);
        streamed.Images.shape.Should().Equal(resident.Images.shape);
        streamed.Images.eq(resident.Images).all().item<bool>().Should().BeTrue($"batch {index}'s images are bit-identical");
        streamed.Labels.data<long>().ToArray().Should().Equal(resident.Labels.data<long>().ToArray(), $"batch {index}'s labels");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Streamed_batches_equal_the_resident_ones_for_the_same_generator_seed(bool shuffled)
    {
        WriteFolder();
        using var resident = ImageFolderDataset.Load(Root, Options());
        using var streaming = StreamingImageFolder.Open(Root, Options());
        using var residentGenerator = new Generator(5);
        using var streamingGenerator = new Generator(5);

        using var residentPlan = resident.PlanBatches(8, shuffled ? residentGenerator : null);
        using var streamingPlan = streaming.PlanBatches(8, shuffled ? streamingGenerator : null);

        streaming.Count.Should().Be(37);
        streaming.ClassNames.Should().Equal(resident.ClassNames);
        streamingPlan.BatchCount.Should().Be(5);
        for (var i = 0; i < streamingPlan.BatchCount; i++)
        {
            using var scope = NewDisposeScope();
            ShouldEqual(streamingPlan.GetBatch(i), residentPlan.GetBatch(i), i);
        }
    }

    [Fact]
    public void Batches_can_be_read_in_any_order_and_more_than_once()
    {
        WriteFolder();
        using var resident = ImageFolderDataset.Load(Root, Options());
        using var streaming = StreamingImageFolder.Open(Root, Options(prefetch: 3));
        using var residentGenerator = new Generator(9);
        using var streamingGenerator = new Generator(9);
        using var residentPlan = resident.PlanBatches(5, residentGenerator);
        using var streamingPlan = streaming.PlanBatches(5, streamingGenerator);

        foreach (var i in new[] { 6, 0, 7, 6, 2, 3, 1 })
        {
            using var scope = NewDisposeScope();
            ShouldEqual(streamingPlan.GetBatch(i), residentPlan.GetBatch(i), i);
        }
    }

    [Fact]
    public void Without_prefetch_every_batch_is_decoded_on_demand()
    {
        WriteFolder(count: 10);
        using var resident = ImageFolderDataset.Load(Root, Options());
        using var streaming = StreamingImageFolder.Open(Root, Options(prefetch: 0));
        using var residentPlan = resident.PlanBatches(4);
        using var streamingPlan = streaming.PlanBatches(4);

        for (var i = 0; i < 3; i++)
        {
            using var scope = NewDisposeScope();
            ShouldEqual(streamingPlan.GetBatch(i), residentPlan.GetBatch(i), i);
        }
    }

    [Fact]
    public void Splits_stream_the_same_files_as_the_resident_splits()
    {
        WriteFolder();
        var options = Options();
        options.TestFraction = 0.25;
        options.SplitSeed = 3;
        var (train, test) = ImageFolderDataset.LoadSplits(Root, options);
        using var disposeTrain = train;
        using var disposeTest = test;
        var (streamTrain, streamTest) = StreamingImageFolder.OpenSplits(Root, options);
        using var disposeStreamTrain = streamTrain;
        using var disposeStreamTest = streamTest;

        streamTrain.Count.Should().Be(train.Count);
        streamTest.Count.Should().Be(test.Count);
        using var residentPlan = test.PlanBatches(64);
        using var streamingPlan = streamTest.PlanBatches(64);
        using var scope = NewDisposeScope();
        ShouldEqual(streamingPlan.GetBatch(0), residentPlan.GetBatch(0), 0);
    }

    [Fact]
    public void A_disposed_source_stops_its_plans_and_refuses_new_ones()
    {
        WriteFolder(count: 40);
        var streaming = StreamingImageFolder.Open(Root, Options(prefetch: 4));
        var plan = streaming.PlanBatches(4);
        using (NewDisposeScope())
        {
            plan.GetBatch(0);
        }

        streaming.Dispose();

        FluentActions.Invoking(() => plan.GetBatch(1)).Should().Throw<ObjectDisposedException>();
        FluentActions.Invoking(() => streaming.PlanBatches(4)).Should().Throw<ObjectDisposedException>();
        plan.Dispose();
    }

    [Fact]
    public void An_unreadable_file_is_named_when_its_batch_is_read()
    {
        WriteFolder(count: 12);
        var bad = Path.Combine(Root, "class0", "999.png");
        File.WriteAllBytes(bad, [1, 2, 3, 4]);
        using var streaming = StreamingImageFolder.Open(Root, Options());
        using var plan = streaming.PlanBatches(4);

        // class0 holds files 000…009 and then 999: the 5th image of the folder, so batch 1 (prefetched).
        using var scope = NewDisposeScope();
        plan.GetBatch(0);
        FluentActions.Invoking(() => plan.GetBatch(1)).Should().Throw<InvalidDataException>().WithMessage($"*{bad}*");
        plan.GetBatch(2).Size.Should().Be(4, "the other batches still read");
    }

    [Fact]
    public void Skipping_unreadable_files_is_refused_when_streaming()
    {
        WriteFolder(count: 3);
        var options = Options();
        options.SkipUnreadable = true;

        FluentActions.Invoking(() => StreamingImageFolder.Open(Root, options)).Should().Throw<ArgumentException>().WithMessage("*SkipUnreadable*");
    }

    [Fact]
    public void Invalid_options_are_refused_when_opening_before_anything_is_listed()
    {
        WriteFolder(count: 3);
        var options = Options();
        options.ImageSize = 0;

        FluentActions.Invoking(() => StreamingImageFolder.Open(Root, options)).Should().Throw<ArgumentException>().WithParameterName(nameof(ImageFolderOptions.ImageSize));
        FluentActions.Invoking(() => StreamingImageFolder.OpenSplits(Root, options)).Should().Throw<ArgumentException>().WithParameterName(nameof(ImageFolderOptions.ImageSize));
    }

    [Fact]
    public void The_refusal_to_skip_unreadable_files_names_the_way_out()
    {
        WriteFolder(count: 3);
        var options = Options();
        options.SkipUnreadable = true;

        FluentActions.Invoking(() => StreamingImageFolder.OpenSplits(Root, options)).Should().Throw<ArgumentException>()
            .WithMessage("SkipUnreadable is not available when streaming*Load the folder once with ImageFolderDataset*remove the file.*")
            .And.ParamName.Should().Be("options");
    }

    [Fact]
    public void The_source_says_what_it_reads()
    {
        WriteFolder(count: 6);
        var options = Options();
        options.Normalization = ImageNormalization.Cifar10;
        using var streaming = StreamingImageFolder.Open(Root, options);

        streaming.Root.Should().Be(Path.GetFullPath(Root).TrimEnd(Path.DirectorySeparatorChar));
        streaming.ImageSize.Should().Be(12);
        streaming.Normalization.Should().BeSameAs(ImageNormalization.Cifar10);
    }

    [Fact]
    public void Prefetch_keeps_the_next_batches_decoding_and_drops_those_behind_or_beyond_its_depth()
    {
        WriteFolder(count: 40);
        using var streaming = StreamingImageFolder.Open(Root, Options(prefetch: 2));
        using var plan = (StreamingBatchPlan)streaming.PlanBatches(4);
        plan.BatchCount.Should().Be(10);

        plan.BatchesAhead.Should().Equal([0, 1], "a new plan starts decoding its first batches");
        plan.TasksTracked.Should().Be(2);

        // Each read: the batch asked for, then the batches ahead, how many batches were decoded on
        // demand, and how many decodings were started ahead in all (none twice for one batch ahead).
        (int Read, int[] Ahead, int OnDemand, int StartedAhead)[] steps =
        [
            (0, [1, 2], 0, 3),
            (5, [6, 7], 1, 5),    // out of sequence: decoded on the spot; 1 and 2 are behind it and dropped
            (6, [7, 8], 1, 6),    // prefetched
            (3, [4, 5], 2, 8),    // backwards: 7 and 8 are beyond the new depth and dropped
            (4, [5, 6], 2, 9),
            (4, [5, 6], 3, 9),    // again: decoded on the spot, and 5 and 6 keep their decodings
            (9, [], 4, 9),        // the last batch has nothing after it
            (8, [9], 5, 10),
            (7, [8, 9], 6, 11),   // 9 keeps its decoding
            (9, [], 6, 11),       // prefetched
        ];
        plan.BatchesDecodedAhead.Should().Be(2);
        foreach (var (read, ahead, onDemand, startedAhead) in steps)
        {
            using (NewDisposeScope())
            {
                plan.GetBatch(read).Size.Should().Be(4);
            }

            plan.BatchesAhead.Should().Equal(ahead, $"after batch {read}");
            plan.BatchesDecodedOnDemand.Should().Be(onDemand, $"after batch {read}");
            plan.BatchesDecodedAhead.Should().Be(startedAhead, $"after batch {read}");
        }
    }

    [Fact]
    public void A_plan_drops_its_finished_tasks_as_it_reads()
    {
        WriteFolder(count: 40);
        using var streaming = StreamingImageFolder.Open(Root, Options(prefetch: 2));
        using var plan = (StreamingBatchPlan)streaming.PlanBatches(4);

        for (var i = 0; i < plan.BatchCount; i++)
        {
            using var scope = NewDisposeScope();
            plan.GetBatch(i);
        }

        plan.BatchesDecodedOnDemand.Should().Be(0, "every batch was decoded ahead");
        plan.TasksTracked.Should().BeLessThanOrEqualTo(3, "the tasks of the batches read are finished and forgotten, not kept for the whole pass (10 batches)");
    }

    [Fact]
    public void A_disposed_plan_stops_and_waits_for_its_decoding_and_refuses_reads()
    {
        // Large images, so that an image is still decoding when the plan is disposed.
        for (var i = 0; i < 4; i++)
        {
            ImageFiles.Write(Path.Combine(Root, $"class{i % 2}", $"{i}.png"), ImageFiles.Encode(1500, 1500, ImageFiles.Noise(1500, 1500, seed: i), SKEncodedImageFormat.Png));
        }

        using var streaming = StreamingImageFolder.Open(Root, Options(prefetch: 1));
        var plan = (StreamingBatchPlan)streaming.PlanBatches(2);
        streaming.OpenPlanCount.Should().Be(1);
        SpinWait.SpinUntil(() => streaming.DecodesInFlight > 0, TimeSpan.FromSeconds(10)).Should().BeTrue("the first batch starts decoding ahead");

        plan.Dispose();

        streaming.DecodesInFlight.Should().Be(0, "Dispose waits for the decoding it stops");
        plan.BatchesAhead.Should().BeEmpty();
        plan.TasksTracked.Should().Be(0);
        streaming.OpenPlanCount.Should().Be(0, "the source forgets a disposed plan");
        FluentActions.Invoking(() => plan.GetBatch(0)).Should().Throw<ObjectDisposedException>().Which.ObjectName.Should().Be(typeof(StreamingBatchPlan).FullName);
        plan.Dispose();
    }

    [Fact]
    public void Disposing_the_source_disposes_its_plans_and_may_be_repeated()
    {
        WriteFolder(count: 12);
        var streaming = StreamingImageFolder.Open(Root, Options(prefetch: 2));
        var plan = (StreamingBatchPlan)streaming.PlanBatches(4);

        streaming.Dispose();

        plan.BatchesAhead.Should().BeEmpty();
        plan.TasksTracked.Should().Be(0);
        streaming.DecodesInFlight.Should().Be(0);
        streaming.OpenPlanCount.Should().Be(0);
        FluentActions.Invoking(() => streaming.PlanBatches(4)).Should().Throw<ObjectDisposedException>().Which.ObjectName.Should().Be(typeof(StreamingImageFolder).FullName);
        FluentActions.Invoking(() => streaming.ToBatch(new byte[3 * 12 * 12], [0], CPU)).Should().Throw<ObjectDisposedException>()
            .Which.ObjectName.Should().Be(typeof(StreamingImageFolder).FullName, "a batch decoded while the source was disposed is not normalized with its released tensors");
        streaming.Dispose();
        plan.Dispose();
    }

    [Fact]
    public void Of_two_unreadable_files_in_a_batch_the_first_in_batch_order_is_named()
    {
        // Two truncated 4096² images, slow to fail, so that two decoders may both be under way at once;
        // whichever fails first, the batch's first unreadable file is the one named.
        var whole = ImageFiles.Png(4096, 4096, colorType: 0, bitDepth: 8, ImageFiles.Noise(4096, 4096, seed: 3)[..(4096 * 4096)], 4096);
        ImageFiles.Write(Path.Combine(Root, "a", "0.png"), whole[..(whole.Length * 9 / 10)]);
        var second = Path.Combine(Root, "a", "1.png");
        ImageFiles.Write(second, whole[..(whole.Length * 9 / 10)]);
        ImageFiles.Write(Path.Combine(Root, "b", "0.png"), ImageFiles.Encode(8, 8, ImageFiles.Noise(8, 8, seed: 1), SKEncodedImageFormat.Png));
        var options = Options();
        options.MaxDegreeOfParallelism = Math.Min(2, Environment.ProcessorCount);
        using var streaming = StreamingImageFolder.Open(Root, options);

        // The batch reads a/1.png first: it is named although a/0.png comes first in the folder.
        FluentActions.Invoking(() => streaming.DecodeImages([1, 0, 2], CancellationToken.None))
            .Should().Throw<InvalidDataException>().WithMessage($"Image {second} *");
        streaming.DecodesInFlight.Should().Be(0);
    }

    [Fact]
    public void Decoding_stops_when_cancelled()
    {
        WriteFolder(count: 6);
        using var streaming = StreamingImageFolder.Open(Root, Options());
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        FluentActions.Invoking(() => streaming.DecodeImages([0, 1, 2, 3], cancelled.Token)).Should().Throw<OperationCanceledException>();
        streaming.DecodesInFlight.Should().Be(0);
    }

    private static AugmentationOptions ResizedCrop(bool flip = true) => new() { Padding = 0, RandomResizedCrop = true, HorizontalFlip = flip };

    private static byte[] StateOf(Generator generator)
    {
        using var state = generator.get_state();
        return state.data<byte>().ToArray();
    }

    [Fact]
    public void A_training_pass_with_a_random_resized_crop_is_cropped_from_the_files_while_decoding()
    {
        WriteFolder();
        using var streaming = StreamingImageFolder.Open(Root, Options());
        using var shuffle = new Generator(5);
        using var draws = new Generator(6);

        using var plan = ((IBatchSource)streaming).PlanAugmentedBatches(8, shuffle, ResizedCrop(), draws);

        plan.Should().NotBeNull();
        plan!.AugmentedBySource.Should().BeTrue();

        // The pass's seed is one draw of the augmentation generator, taken when the pass is planned.
        using var replay = new Generator(6);
        using var seed = randint(long.MaxValue, [1], dtype: ScalarType.Int64, generator: replay);
        StateOf(draws).Should().Equal(StateOf(replay), "planning takes exactly one draw");
        var crops = new DecodedCrops(unchecked((ulong)seed.item<long>()), ResizedCrop());

        // Every image is its file cropped as drawn for its position in the pass, then normalized: whichever thread decoded it.
        var files = ImageFolderIndex.Scan(Root, ImageFolderOrder.ClassThenFileName).Files;
        var (mean, std) = (ImageNormalization.ImageNet.Mean, ImageNormalization.ImageNet.Std);
        var mirrored = 0;
        for (var b = 0; b < plan.BatchCount; b++)
        {
            using var scope = NewDisposeScope();
            var images = plan.GetBatch(b).Images;
            var indices = plan.GetIndices(b).data<long>().ToArray();
            for (var k = 0; k < indices.Length; k++)
            {
                var position = (b * 8) + k;
                var chw = new byte[ImageDecoder.BytesPerImage(12)];
                ImageDecoder.DecodeResizedCrop(files[(int)indices[k]], 12, crops, position, chw);
                var expected = chw.Select((value, i) => (float)(((value / 255.0) - mean[i / 144]) / std[i / 144])).ToArray();
                images[k].flatten().data<float>().ToArray().Should().BeEquivalentTo(expected, o => o.Using<float>(c => c.Subject.Should().BeApproximately(c.Expectation, 1e-5f)).WhenTypeIs<float>().WithStrictOrdering(), $"image {k} of batch {b}");
                mirrored += crops.For(position, 1, 1).Mirrored ? 1 : 0;
            }
        }

        mirrored.Should().BeInRange(1, 36, "some crops are mirrored and some are not");
    }

    [Fact]
    public void Each_pass_draws_its_own_crops_and_the_same_generator_states_redraw_them()
    {
        WriteFolder(count: 12);
        using var streaming = StreamingImageFolder.Open(Root, Options());
        float[] Pass(Generator draws)
        {
            using var plan = ((IBatchSource)streaming).PlanAugmentedBatches(12, shuffle: null, ResizedCrop(), draws)!;
            using var scope = NewDisposeScope();
            return plan.GetBatch(0).Images.data<float>().ToArray();
        }

        using var draws = new Generator(3);
        var first = Pass(draws);
        var second = Pass(draws);
        using var again = new Generator(3);

        second.Should().NotEqual(first, "the next pass draws a new seed");
        Pass(again).Should().Equal(first, "the same generator state draws the same crops");
    }

    [Theory]
    [InlineData(false, true)] // the option off: the trainer crops, as from a resident load
    [InlineData(true, false)] // pad-and-crop: made on the batch, never while decoding
    public void Otherwise_the_source_leaves_the_augmentation_to_the_trainer_and_draws_nothing(bool cropWhileDecoding, bool randomResizedCrop)
    {
        WriteFolder(count: 6);
        var options = Options();
        options.CropWhileDecoding = cropWhileDecoding;
        using var streaming = StreamingImageFolder.Open(Root, options);
        using var draws = new Generator(6);
        var before = StateOf(draws);
        var augmentation = randomResizedCrop ? ResizedCrop() : new AugmentationOptions();

        ((IBatchSource)streaming).PlanAugmentedBatches(4, null, augmentation, draws).Should().BeNull();
        StateOf(draws).Should().Equal(before);
        using var plain = streaming.PlanBatches(4);
        plain.AugmentedBySource.Should().BeFalse();
    }
}
