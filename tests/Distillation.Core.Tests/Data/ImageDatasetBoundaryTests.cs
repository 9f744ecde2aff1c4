using Distillation.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Data;

/// <summary>
/// The edges of <see cref="ImageDataset"/> and <see cref="BatchPlan"/>: counts at and past the
/// dataset's size, batch and index ranges, the checks that keep a wrong tensor from being read
/// as a dataset, and use after disposal.
/// </summary>
public sealed class ImageDatasetBoundaryTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();

    public void Dispose() => scope.Dispose();

    private static string[] Names(int classes) => Enumerable.Range(0, classes).Select(c => $"c{c}").ToArray();

    /// <summary>n images of 3×2×2 where every pixel of image i is i (mod 256); label i % classes.</summary>
    private static ImageDataset Numbered(int n, int classes = 10, ImageNormalization? normalization = null)
    {
        var images = arange(n, ScalarType.Int64).remainder(256).to_type(ScalarType.Byte).reshape(n, 1, 1, 1).expand(n, 3, 2, 2).contiguous();
        var labels = arange(n, ScalarType.Int64).remainder(classes);
        return new ImageDataset(images, labels, Names(classes), normalization);
    }

    private static long[] Ids(ImageDataset data) => data.Images[.., 0, 0, 0].to_type(ScalarType.Int64).data<long>().ToArray();

    private static long[] Range(long start, long count) => Enumerable.Range((int)start, (int)count).Select(i => (long)i).ToArray();

    // ----- Take, Sample, SplitValidation, WithNormalization -----

    [Fact]
    public void Take_of_more_images_than_there_are_keeps_all_of_them_in_order()
    {
        using var data = Numbered(5);
        using var all = data.Take(9);
        using var exact = data.Take(5);

        Ids(all).Should().Equal(Range(0, 5));
        Ids(exact).Should().Equal(Range(0, 5));
        all.ClassNames.Should().Equal(data.ClassNames);
    }

    [Fact]
    public void Take_and_Sample_need_a_positive_count()
    {
        using var data = Numbered(5);

        data.Invoking(d => d.Take(0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("count");
        data.Invoking(d => d.Sample(0, seed: 1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("count");
        using var one = data.Take(1);
        using var sampledOne = data.Sample(1, seed: 1);
        one.Count.Should().Be(1);
        sampledOne.Count.Should().Be(1);
    }

    [Fact]
    public void Sample_of_more_images_than_there_are_is_a_seeded_shuffle_of_all_of_them_with_labels_kept()
    {
        using var data = Numbered(30, classes: 7);
        using var all = data.Sample(100, seed: 2);
        using var again = data.Sample(100, seed: 2);

        var ids = Ids(all);
        ids.Should().BeEquivalentTo(Range(0, 30));
        ids.Should().NotEqual(Range(0, 30), "the draw is a permutation, not the stored order");
        Ids(again).Should().Equal(ids);
        all.Labels.data<long>().ToArray().Should().Equal(ids.Select(i => i % 7), "labels stay with their images");
        all.Normalization.Should().Be(data.Normalization);
    }

    [Fact]
    public void Sample_draws_the_first_entries_of_the_seeds_permutation()
    {
        using var data = Numbered(40, classes: 40);
        using var generator = new Generator(9);
        var permutation = randperm(40, generator: generator).data<long>().ToArray();

        using var sample = data.Sample(6, seed: 9);

        Ids(sample).Should().Equal(permutation.Take(6));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(19)]
    public void A_validation_split_may_take_one_image_or_all_but_one(int validationCount)
    {
        using var data = Numbered(20);

        var (train, validation) = data.SplitValidation(validationCount, seed: 1);
        using var disposeTrain = train;
        using var disposeValidation = validation;

        validation.Count.Should().Be(validationCount);
        train.Count.Should().Be(20 - validationCount);
        Ids(train).Concat(Ids(validation)).Should().BeEquivalentTo(Range(0, 20));
    }

    [Fact]
    public void A_validation_split_is_the_first_entries_of_the_seeds_permutation()
    {
        using var data = Numbered(30, classes: 30);
        using var generator = new Generator(4);
        var permutation = randperm(30, generator: generator).data<long>().ToArray();

        var (train, validation) = data.SplitValidation(8, seed: 4);
        using var disposeTrain = train;
        using var disposeValidation = validation;

        Ids(validation).Should().Equal(permutation.Take(8).Order());
        Ids(train).Should().Equal(permutation.Skip(8).Order());
        train.ClassNames.Should().Equal(data.ClassNames);
        validation.Normalization.Should().Be(data.Normalization);
    }

    [Fact]
    public void WithNormalization_copies_the_data_under_the_new_normalization()
    {
        using var data = Numbered(4, normalization: ImageNormalization.ImageNet);
        using var unit = data.WithNormalization(ImageNormalization.UnitRange);
        data.Images[0, 0, 0, 0] = tensor((byte)200);

        unit.Normalization.Should().Be(ImageNormalization.UnitRange);
        using var plan = unit.PlanBatches(4);
        var batch = plan.GetBatch(0);
        batch.Images[3, 2, 1, 1].item<float>().Should().BeApproximately(3 / 255f, 1e-7f);
        batch.Images[0, 0, 0, 0].item<float>().Should().Be(0f, "the copy does not see later changes to the original");
        data.Invoking(d => d.WithNormalization(null!)).Should().Throw<ArgumentNullException>();
    }

    // ----- batches and indices -----

    [Theory]
    [InlineData(8, 4, 2)]
    [InlineData(9, 4, 3)]
    [InlineData(3, 5, 1)]
    [InlineData(1, 1, 1)]
    public void A_pass_has_ceil_of_count_over_batch_size_batches(int count, int batchSize, int batches)
    {
        using var data = Numbered(count);
        using var plan = data.PlanBatches(batchSize);

        plan.BatchCount.Should().Be(batches);
        plan.BatchSize.Should().Be(batchSize);
        plan.ImageCount.Should().Be(count);
        Enumerable.Range(0, batches).Sum(i => plan.GetBatch(i).Size).Should().Be(count);
    }

    [Fact]
    public void Batch_size_must_be_positive()
    {
        using var data = Numbered(4);

        data.Invoking(d => d.PlanBatches(0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("batchSize");
    }

    [Fact]
    public void Batch_and_index_requests_outside_the_pass_are_rejected()
    {
        using var data = Numbered(10);
        using var plan = data.PlanBatches(4);

        plan.Invoking(p => p.GetBatch(-1)).Should().Throw<ArgumentOutOfRangeException>();
        plan.Invoking(p => p.GetBatch(3)).Should().Throw<ArgumentOutOfRangeException>();
        plan.Invoking(p => p.GetIndices(-1)).Should().Throw<ArgumentOutOfRangeException>();
        plan.Invoking(p => p.GetIndices(3)).Should().Throw<ArgumentOutOfRangeException>();
        plan.GetBatch(2).Size.Should().Be(2);
    }

    [Fact]
    public void Unshuffled_indices_are_the_stored_positions_with_a_partial_last_batch()
    {
        using var data = Numbered(10);
        using var plan = data.PlanBatches(4);

        plan.GetIndices(0).data<long>().ToArray().Should().Equal(0, 1, 2, 3);
        plan.GetIndices(1).data<long>().ToArray().Should().Equal(4, 5, 6, 7);
        var last = plan.GetIndices(2);
        last.dtype.Should().Be(ScalarType.Int64);
        last.data<long>().ToArray().Should().Equal(8, 9);
    }

    [Fact]
    public void Shuffled_indices_name_the_images_of_each_batch()
    {
        using var data = Numbered(23, classes: 23);
        using var generator = new Generator(12);
        using var plan = data.PlanBatches(5, generator);

        var all = new List<long>();
        for (var i = 0; i < plan.BatchCount; i++)
        {
            var indices = plan.GetIndices(i).data<long>().ToArray();
            indices.Should().Equal(plan.GetBatch(i).Labels.data<long>().ToArray(), "image k has label k here");
            all.AddRange(indices);
        }

        all.Should().BeEquivalentTo(Range(0, 23));
        all.Should().NotEqual(Range(0, 23));
    }

    [Fact]
    public void Batches_on_a_named_device_are_normalized_like_those_on_the_default_one()
    {
        using var data = Numbered(6, normalization: ImageNormalization.Cifar10);
        using var plan = data.PlanBatches(6);

        var byDefault = plan.GetBatch(0);
        var onCpu = plan.GetBatch(0, CPU);

        onCpu.Images.eq(byDefault.Images).all().item<bool>().Should().BeTrue();
        onCpu.Labels.eq(byDefault.Labels).all().item<bool>().Should().BeTrue();
        // Image 5, blue channel: (5/255 − 0.4465) / 0.2616.
        onCpu.Images[5, 2, 0, 1].item<float>().Should().BeApproximately((float)((5 / 255.0 - 0.4465) / 0.2616), 1e-5f);
    }

    [Fact]
    public void An_empty_dataset_is_valid_and_has_no_batches()
    {
        using var data = new ImageDataset(zeros([0, 3, 2, 2], ScalarType.Byte), zeros(0, ScalarType.Int64), Names(2));
        using var plan = data.PlanBatches(4);

        data.Count.Should().Be(0);
        plan.BatchCount.Should().Be(0);
    }

    // ----- construction -----

    [Fact]
    public void Images_that_are_not_four_dimensional_are_rejected_naming_the_shape()
    {
        var act = () => new ImageDataset(zeros([2, 3, 4], ScalarType.Byte), zeros(2, ScalarType.Int64), Names(2));

        act.Should().Throw<ArgumentException>().WithParameterName("images").WithMessage("*[2, 3, 4]*");
    }

    [Fact]
    public void Labels_of_another_type_length_or_rank_are_rejected()
    {
        var images = zeros([3, 3, 2, 2], ScalarType.Byte);

        FluentActions.Invoking(() => new ImageDataset(images, zeros(3, ScalarType.Int32), Names(2)))
            .Should().Throw<ArgumentException>().WithParameterName("labels").WithMessage("*Int32*");
        FluentActions.Invoking(() => new ImageDataset(images, zeros(2, ScalarType.Int64), Names(2)))
            .Should().Throw<ArgumentException>().WithParameterName("labels").WithMessage("*[3]*[2]*");
        FluentActions.Invoking(() => new ImageDataset(images, zeros([3, 1], ScalarType.Int64), Names(2)))
            .Should().Throw<ArgumentException>().WithParameterName("labels").WithMessage("*[3, 1]*");
    }

    [Fact]
    public void A_negative_label_is_rejected()
    {
        var act = () => new ImageDataset(zeros([2, 3, 2, 2], ScalarType.Byte), tensor(new long[] { -1, 1 }), Names(2));

        act.Should().Throw<ArgumentException>().WithParameterName("labels").WithMessage("*[-1, 1]*");
    }

    [Fact]
    public void The_largest_label_may_be_the_last_class()
    {
        using var data = new ImageDataset(zeros([2, 3, 2, 2], ScalarType.Byte), tensor(new long[] { 0, 1 }), Names(2));

        data.Count.Should().Be(2);
    }

    [Fact]
    public void No_class_names_or_a_normalization_of_another_channel_count_are_rejected()
    {
        FluentActions.Invoking(() => new ImageDataset(zeros([1, 3, 2, 2], ScalarType.Byte), zeros(1, ScalarType.Int64), []))
            .Should().Throw<ArgumentException>().WithParameterName("classNames");
        FluentActions.Invoking(() => new ImageDataset(zeros([1, 1, 2, 2], ScalarType.Byte), zeros(1, ScalarType.Int64), Names(1)))
            .Should().Throw<ArgumentException>().WithParameterName("normalization").WithMessage("*3 channels*1*");
    }

    // ----- disposal -----

    [Fact]
    public void A_disposed_dataset_refuses_every_use_and_may_be_disposed_again()
    {
        var data = Numbered(6);
        data.Dispose();

        data.Invoking(d => d.Take(1)).Should().Throw<ObjectDisposedException>();
        data.Invoking(d => d.Sample(1, 0)).Should().Throw<ObjectDisposedException>();
        data.Invoking(d => d.SplitValidation(1, 0)).Should().Throw<ObjectDisposedException>();
        data.Invoking(d => d.WithNormalization(ImageNormalization.UnitRange)).Should().Throw<ObjectDisposedException>();
        data.Invoking(d => d.PlanBatches(2)).Should().Throw<ObjectDisposedException>();
        data.Invoking(d => d.Dispose()).Should().NotThrow();
    }

    [Fact]
    public void Disposing_releases_the_tensors_and_the_cached_normalization_constants()
    {
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (NewDisposeScope())
        {
            var data = Numbered(4);
            using (var plan = data.PlanBatches(4))
            {
                plan.GetBatch(0);
            }

            data.Dispose();
            data.Images.IsInvalid.Should().BeTrue();
            data.Labels.IsInvalid.Should().BeTrue();
        }

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(before, "the dataset disposed its tensors and the constants it cached for the CPU");
    }

    [Fact]
    public void Null_tensors_or_class_names_are_rejected_by_name()
    {
        var images = zeros([1, 3, 2, 2], ScalarType.Byte);
        var labels = zeros(1, ScalarType.Int64);

        FluentActions.Invoking(() => new ImageDataset(null!, labels, Names(1))).Should().Throw<ArgumentNullException>().WithParameterName("images");
        FluentActions.Invoking(() => new ImageDataset(images, null!, Names(1))).Should().Throw<ArgumentNullException>().WithParameterName("labels");
        FluentActions.Invoking(() => new ImageDataset(images, labels, null!)).Should().Throw<ArgumentNullException>().WithParameterName("classNames");
    }

    [Fact]
    public void No_class_names_is_said_plainly()
    {
        FluentActions.Invoking(() => new ImageDataset(zeros([1, 3, 2, 2], ScalarType.Byte), zeros(1, ScalarType.Int64), []))
            .Should().Throw<ArgumentException>().WithMessage("At least one class name is needed*");
    }
}
