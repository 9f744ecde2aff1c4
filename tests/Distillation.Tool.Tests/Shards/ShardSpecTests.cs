using Distillation.Tool.Cli;
using Distillation.Tool.Shards;

namespace Distillation.Tool.Tests.Shards;

public sealed class ShardSpecTests
{
    [Theory]
    [InlineData(10, 3)]
    [InlineData(4, 4)]
    [InlineData(1000, 7)]
    public void The_shards_cover_every_batch_once_in_order(int batches, int count)
    {
        var covered = Enumerable.Range(0, count).SelectMany(i =>
        {
            var (first, end) = new ShardSpec(i, count).Batches(batches);
            return Enumerable.Range(first, end - first);
        });
        covered.Should().Equal(Enumerable.Range(0, batches));
    }

    [Theory]
    [InlineData("3/3", "shard 3 does not exist")]
    [InlineData("1-3", "takes i/N")]
    [InlineData("-1/3", "takes i/N")]
    [InlineData("0/0", "must be ≥ 1")]
    public void A_malformed_shard_is_bad_input(string text, string message)
    {
        var act = () => ShardSpec.From(text, null, "--shard", "--shards", _ => null);
        act.Should().Throw<UsageException>().WithMessage($"*{message}*");
    }

    [Fact]
    public void The_kubernetes_index_comes_before_slurms()
    {
        var spec = ShardSpec.From(null, 4, "--shard", "--shards", name => name == ShardSpec.KubernetesIndexVariable ? "1" : "3");
        spec.Should().Be(new ShardSpec(1, 4));
    }
}
