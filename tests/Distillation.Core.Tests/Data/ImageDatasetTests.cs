using Distillation.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Data;

public sealed class ImageDatasetTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();

    public void Dispose() => scope.Dispose();

    /// <summary>n images of 3×2×2 where every pixel of image i is i (mod 256); label i % classes.</summary>
    private static ImageDataset Numbered(int n, int classes = 10, ImageNormalization? normalization = null)
    {
        var images = arange(n, ScalarType.Int64).remainder(256).to_type(ScalarType.Byte).reshape(n, 1, 1, 1).expand(n, 3, 2, 2).contiguous();
        var labels = arange(n, ScalarType.Int64).remainder(classes);
        return new ImageDataset(images, labels, Enumerable.Range(0, classes).Select(c => $"c{c}").ToArray(), normalization);
    }

    [Fact]
    public void Batches_are_normalized_as_ToTensor_then_Normalize()
    {
        using var data = Numbered(3, normalization: ImageNormalization.ImageNet);
        using var plan = data.PlanBatches(3);

        var batch = plan.GetBatch(0);

        // Image 2, green channel: (2/255 − 0.456) / 0.224 = −2.0006303.
        batch.Images.dtype.Should().Be(ScalarType.Float32);
        batch.Images[2, 1, 0, 0].item<float>().Should().BeApproximately((float)((2 / 255.0 - 0.456) / 0.224), 1e-5f);
        batch.Images[0, 0, 1, 1].item<float>().Should().BeApproximately((float)(-0.485 / 0.229), 1e-5f);
    }

    [Fact]
    public void Last_partial_batch_is_kept()
    {
        using var data = Numbered(10);
        using var plan = data.PlanBatches(4);

        plan.BatchCount.Should().Be(3);
        Enumerable.Range(0, 3).Select(i => plan.GetBatch(i).Size).Should().Equal(4, 4, 2);
    }

    [Fact]
    public void Unshuffled_plan_keeps_the_stored_order()
    {
        using var data = Numbered(5);
        using var plan = data.PlanBatches(2);

        plan.GetBatch(2).Labels.data<long>().ToArray().Should().Equal(4);
        plan.GetBatch(0).Labels.data<long>().ToArray().Should().Equal(0, 1);
    }

    [Fact]
    public void Shuffled_plan_visits_every_image_once_and_is_reproducible_from_the_seed()
    {
        using var data = Numbered(50, classes: 50);

        long[] Order(Generator generator)
        {
            using var plan = data.PlanBatches(8, generator);
            return Enumerable.Range(0, plan.BatchCount).SelectMany(i => plan.GetBatch(i).Labels.data<long>().ToArray()).ToArray();
        }

        using var first = new Generator(7);
        using var second = new Generator(7);
        var epoch1 = Order(first);
        var epoch2 = Order(first);

        epoch1.Should().BeEquivalentTo(Enumerable.Range(0, 50).Select(i => (long)i));
        epoch1.Should().NotEqual(Enumerable.Range(0, 50).Select(i => (long)i), "a permutation of 50 is not the identity");
        epoch2.Should().NotEqual(epoch1, "each epoch draws a new permutation");
        Order(second).Should().Equal(epoch1, "the same seed gives the same order");
    }

    [Fact]
    public void Images_and_labels_stay_paired_when_shuffled()
    {
        using var data = Numbered(30, classes: 30, normalization: ImageNormalization.UnitRange);
        using var generator = new Generator(1);
        using var plan = data.PlanBatches(7, generator);

        var batch = plan.GetBatch(1);

        var pixelIndex = (batch.Images[.., 0, 0, 0] * 255).round().to_type(ScalarType.Int64);
        pixelIndex.data<long>().ToArray().Should().Equal(batch.Labels.data<long>().ToArray());
    }

    [Fact]
    public void A_plan_drawn_through_the_source_interface_shuffles_as_a_bare_randperm_of_the_same_generator_state()
    {
        using var data = Numbered(40, classes: 40);
        using var planGenerator = new Generator(11);
        using var referenceGenerator = new Generator(11);
        static BatchPlan Plan(IBatchSource source, Generator generator) => source.PlanBatches(16, generator);

        using var plan = Plan(data, planGenerator);
        var expected = randperm(40, generator: referenceGenerator).data<long>().ToArray();

        var visited = Enumerable.Range(0, plan.BatchCount).SelectMany(i => plan.GetIndices(i).data<long>().ToArray()).ToArray();
        visited.Should().Equal(expected, "every source draws one randperm(Count) from the generator, so sources agree");
        plan.GetBatch(2).Labels.data<long>().ToArray().Should().Equal(expected.Skip(32));
    }

    [Fact]
    public void A_disposed_plan_refuses_batches()
    {
        using var data = Numbered(10);
        var plan = data.PlanBatches(4);
        plan.Dispose();

        var act = () => plan.GetBatch(0);

        act.Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public void Take_keeps_the_first_images()
    {
        using var data = Numbered(20);
        using var subset = data.Take(6);

        subset.Count.Should().Be(6);
        subset.Labels.data<long>().ToArray().Should().Equal(0, 1, 2, 3, 4, 5);
    }

    [Fact]
    public void Sample_draws_a_seeded_subset_without_repeats()
    {
        using var data = Numbered(100, classes: 100);
        using var a = data.Sample(20, seed: 5);
        using var b = data.Sample(20, seed: 5);
        using var c = data.Sample(20, seed: 6);

        var labels = a.Labels.data<long>().ToArray();
        labels.Should().OnlyHaveUniqueItems().And.HaveCount(20);
        b.Labels.data<long>().ToArray().Should().Equal(labels);
        c.Labels.data<long>().ToArray().Should().NotEqual(labels);
    }

    [Fact]
    public void A_validation_split_is_disjoint_covers_the_set_keeps_order_and_follows_the_seed()
    {
        using var data = Numbered(200);

        var (train, validation) = data.SplitValidation(50, seed: 3);
        using var disposeTrain = train;
        using var disposeValidation = validation;

        long[] Ids(ImageDataset d) => d.Images[.., 0, 0, 0].to_type(ScalarType.Int64).data<long>().ToArray();
        var trainIds = Ids(train);
        var validationIds = Ids(validation);
        validation.Count.Should().Be(50);
        train.Count.Should().Be(150);
        trainIds.Concat(validationIds).Should().BeEquivalentTo(Enumerable.Range(0, 200).Select(i => (long)i), "every image lands in exactly one set");
        trainIds.Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
        validationIds.Should().BeInAscendingOrder();
        validation.Labels.data<long>().ToArray().Should().Equal(validationIds.Select(i => i % 10), "labels stay with their images");
        validationIds.Should().NotEqual(Enumerable.Range(0, 50).Select(i => (long)i), "the split is drawn, not the first images");

        var (again, againValidation) = data.SplitValidation(50, seed: 3);
        using var disposeAgain = again;
        using var disposeAgainValidation = againValidation;
        Ids(againValidation).Should().Equal(validationIds);
        var (otherTrain, otherValidation) = data.SplitValidation(50, seed: 4);
        using var disposeOtherTrain = otherTrain;
        using var disposeOtherValidation = otherValidation;
        Ids(otherValidation).Should().NotEqual(validationIds);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(200)]
    public void A_validation_split_must_leave_both_sets_non_empty(int count)
    {
        using var data = Numbered(200);

        var act = () => data.SplitValidation(count, seed: 3);

        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Labels_outside_the_class_range_are_rejected()
    {
        var images = zeros([2, 3, 2, 2], ScalarType.Byte);
        var labels = tensor(new long[] { 0, 10 });

        var act = () => new ImageDataset(images, labels, Enumerable.Range(0, 10).Select(c => $"c{c}").ToArray());

        act.Should().Throw<ArgumentException>().WithParameterName("labels").WithMessage("*[0, 9]*[0, 10]*");
    }

    [Fact]
    public void Float_images_are_rejected()
    {
        var act = () => new ImageDataset(zeros(2, 3, 2, 2), zeros(2, ScalarType.Int64), ["a"]);

        act.Should().Throw<ArgumentException>().WithParameterName("images");
    }

    [Fact]
    public void Normalization_needs_positive_std()
    {
        var act = () => new ImageNormalization([0.5f, 0.5f, 0.5f], [0.2f, 0f, 0.2f]);

        act.Should().Throw<ArgumentException>().WithMessage("*channel 1*");
    }

    [Fact]
    public void Cifar10_statistics_are_a_named_alternative()
    {
        ImageNormalization.Cifar10.Mean.Should().Equal(0.4914f, 0.4822f, 0.4465f);
        ImageNormalization.Cifar10.Std.Should().Equal(0.2470f, 0.2435f, 0.2616f);
        ImageNormalization.ImageNet.Should().NotBe(ImageNormalization.Cifar10);
    }
}
