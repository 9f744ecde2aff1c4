using System.Globalization;
using Distillation.Tool.Cli;

namespace Distillation.Tool.Shards;

/// <summary>
/// Which of N contiguous slices of the data a process computes: shard <see cref="Index"/> (from 0)
/// of <see cref="Count"/>. The slices are whole batches, so a batch's logits do not depend on how
/// the work was split, and the merged shards equal an unsharded run byte for byte.
/// </summary>
internal sealed record ShardSpec(int Index, int Count)
{
    /// <summary>Kubernetes Indexed Jobs set this to the pod's completion index, from 0.</summary>
    public const string KubernetesIndexVariable = "JOB_COMPLETION_INDEX";

    /// <summary>Slurm job arrays set this to the task's index (from 0 with <c>--array=0-(N-1)</c>).</summary>
    public const string SlurmIndexVariable = "SLURM_ARRAY_TASK_ID";

    /// <summary>The shard of <c>--shard i/N</c>, or of <c>--shards N</c> with the index from the job engine's variable; null for a whole run.</summary>
    /// <exception cref="UsageException">The values do not describe a shard.</exception>
    public static ShardSpec? From(string? shard, int? shards, string shardOrigin, string shardsOrigin, Func<string, string?> environment)
    {
        if (shard is not null && shards is not null)
        {
            throw new UsageException($"{shardOrigin} and {shardsOrigin} each choose the shard; use one.");
        }

        if (shard is not null)
        {
            var parts = shard.Split('/');
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var count))
            {
                throw new UsageException($"{shardOrigin} takes i/N (shard i, from 0, of N), was '{shard}'.");
            }

            return Checked(index, count, shardOrigin);
        }

        if (shards is not { } total)
        {
            return null;
        }

        foreach (var variable in new[] { KubernetesIndexVariable, SlurmIndexVariable })
        {
            if (environment(variable) is { Length: > 0 } text)
            {
                return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                    ? Checked(index, total, $"{shardsOrigin} {total} with {variable}={text}")
                    : throw new UsageException($"{variable}='{text}' is not a shard index (a whole number from 0).");
            }
        }

        throw new UsageException($"{shardsOrigin} {total} takes the shard index from {KubernetesIndexVariable} (Kubernetes Indexed Job) or {SlurmIndexVariable} (Slurm array); neither is set. Give --shard i/N instead.");
    }

    private static ShardSpec Checked(int index, int count, string origin) =>
        count < 1 ? throw new UsageException($"{origin}: the number of shards must be ≥ 1, was {count}.")
        : index >= count ? throw new UsageException($"{origin}: shard {index} does not exist; shards are numbered 0 to {count - 1}.")
        : new ShardSpec(index, count);

    /// <summary>The shard's batches [first, end) when the data has <paramref name="batches"/> batches.</summary>
    public (int First, int End) Batches(int batches) => ((int)((long)Index * batches / Count), (int)((long)(Index + 1) * batches / Count));

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");

    /// <summary>The file name of the shard in its folder.</summary>
    public string FileName => string.Create(CultureInfo.InvariantCulture, $"logits-shard-{Index:D5}-of-{Count:D5}.safetensors");
}
