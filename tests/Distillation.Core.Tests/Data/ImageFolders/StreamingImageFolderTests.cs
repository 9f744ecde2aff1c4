using Distillation.Data;
using Distillation.Tests.TestSupport;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Data;

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
}
