using Distillation.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tests.Training;

public sealed class RandomStreamsTests : IDisposable
{
    private readonly DisposeScope scope = NewDisposeScope();

    public void Dispose() => scope.Dispose();

    /// <summary>The next <paramref name="count"/> draws of a generator (it advances).</summary>
    private static long[] Draws(Generator generator, int count = 8) =>
        randint(0, 1_000_000, [count], dtype: ScalarType.Int64, generator: generator).data<long>().ToArray();

    /// <summary>The first draws of both streams, opened and disposed.</summary>
    private static (long[] Shuffle, long[] Augmentation) FirstDraws(RandomStreams streams)
    {
        var (shuffle, augmentation) = streams.Open();
        using (shuffle)
        using (augmentation)
        {
            return (Draws(shuffle), Draws(augmentation));
        }
    }

    [Fact]
    public void The_shuffle_stream_starts_where_a_generator_of_the_seed_starts()
    {
        using var reference = new Generator(42);

        FirstDraws(RandomStreams.FromSeed(42)).Shuffle.Should().Equal(Draws(reference));
    }

    [Fact]
    public void The_augmentation_stream_is_seeded_with_the_fixed_offset_and_differs_from_the_shuffle_stream()
    {
        // 42 XOR 0x5DEECE66D, written out so that another combination of seed and offset (OR, AND, +) fails.
        using var reference = new Generator(0x5DEECE647UL);

        var (shuffle, augmentation) = FirstDraws(RandomStreams.FromSeed(42));

        augmentation.Should().Equal(Draws(reference));
        augmentation.Should().NotEqual(shuffle);
    }

    [Fact]
    public void Advance_records_where_the_generators_stopped_so_the_next_open_continues_there()
    {
        var streams = RandomStreams.FromSeed(7);
        using var shuffleReference = new Generator(7);
        Draws(shuffleReference);
        var continuedShuffle = Draws(shuffleReference);

        var (shuffle, augmentation) = streams.Open();
        using (shuffle)
        using (augmentation)
        {
            Draws(shuffle);
            Draws(augmentation);
            Draws(augmentation);
            streams.Advance(shuffle, augmentation);
        }

        var (nextShuffle, nextAugmentation) = FirstDraws(streams);
        nextShuffle.Should().Equal(continuedShuffle, "the shuffle stream continues after its first eight draws");

        using var augmentationReference = new Generator(7UL ^ 0x5DEECE66DUL);
        Draws(augmentationReference);
        Draws(augmentationReference);
        nextAugmentation.Should().Equal(Draws(augmentationReference), "the augmentation stream continues after its own sixteen draws");
    }

    [Fact]
    public void Opening_without_advancing_replays_the_same_draws()
    {
        var streams = RandomStreams.FromSeed(3);

        var first = FirstDraws(streams);
        var second = FirstDraws(streams);

        second.Shuffle.Should().Equal(first.Shuffle);
        second.Augmentation.Should().Equal(first.Augmentation);
    }

    [Fact]
    public void A_copy_is_independent_of_the_original()
    {
        var original = RandomStreams.FromSeed(11);
        var copy = original.Copy();
        var before = FirstDraws(copy);

        var (shuffle, augmentation) = original.Open();
        using (shuffle)
        using (augmentation)
        {
            Draws(shuffle);
            Draws(augmentation);
            original.Advance(shuffle, augmentation);
        }

        var after = FirstDraws(copy);
        after.Shuffle.Should().Equal(before.Shuffle);
        after.Augmentation.Should().Equal(before.Augmentation);
        FirstDraws(original).Shuffle.Should().NotEqual(before.Shuffle, "the original moved on");
    }

    [Fact]
    public void Export_then_import_moves_another_instance_to_the_same_positions()
    {
        var source = RandomStreams.FromSeed(5);
        var (shuffle, augmentation) = source.Open();
        using (shuffle)
        using (augmentation)
        {
            Draws(shuffle);
            source.Advance(shuffle, augmentation);
        }

        var (savedShuffle, savedAugmentation) = source.Export();
        var target = RandomStreams.FromSeed(999);
        target.Import(savedShuffle, savedAugmentation);

        var expected = FirstDraws(source);
        var actual = FirstDraws(target);
        actual.Shuffle.Should().Equal(expected.Shuffle);
        actual.Augmentation.Should().Equal(expected.Augmentation);
        savedShuffle.Should().NotBe(savedAugmentation);
    }

    [Fact]
    public void Import_of_a_position_that_is_not_base64_throws_FormatException()
    {
        var streams = RandomStreams.FromSeed(1);
        var (_, augmentation) = streams.Export();

        streams.Invoking(s => s.Import("not base64!", augmentation)).Should().Throw<FormatException>();
    }

    [Fact]
    public void The_global_generator_position_round_trips()
    {
        var saved = RandomStreams.ExportGlobal();
        var expected = rand(6).data<float>().ToArray();

        rand(3);
        RandomStreams.ImportGlobal(saved);

        rand(6).data<float>().ToArray().Should().Equal(expected);
    }
}
