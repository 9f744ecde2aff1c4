using BenchmarkDotNet.Attributes;
using Distillation.Data;
using Distillation.Losses;
using static TorchSharp.torch;

namespace Distillation.Benchmarks.Micro;

/// <summary>The notebook's KL distillation loss (T = 10, CE + KD) on a batch of logits, forward and backward.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "BenchmarkDotNet frees the fields in [GlobalCleanup].")]
public class KLDivergenceLossBenchmarks
{
    private readonly DistillationObjective loss = DistillationObjective.Notebook();
    private Tensor student = null!;
    private Tensor teacher = null!;
    private Tensor labels = null!;

    /// <summary>Images per batch.</summary>
    [Params(128)]
    public int BatchSize { get; set; }

    /// <summary>Random logits and labels, with the thread count of the throughput runs.</summary>
    [GlobalSetup]
    public void Setup()
    {
        set_num_threads(MicroSettings.Threads);
        manual_seed(1);
        student = randn(BatchSize, 10).requires_grad_(true).DetachFromDisposeScope();
        teacher = randn(BatchSize, 10).DetachFromDisposeScope();
        labels = randint(0, 10, [BatchSize], dtype: ScalarType.Int64).DetachFromDisposeScope();
    }

    /// <summary>The loss alone.</summary>
    [Benchmark]
    public void Forward()
    {
        using var scope = NewDisposeScope();
        loss.Compute(new DistillationContext(student, labels, teacher));
    }

    /// <summary>The loss and its gradient with respect to the student's logits.</summary>
    [Benchmark]
    public void ForwardBackward()
    {
        using var scope = NewDisposeScope();
        loss.Compute(new DistillationContext(student, labels, teacher)).Total.backward();
        student.grad?.zero_();
    }

    /// <summary>Frees the tensors.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        student.Dispose();
        teacher.Dispose();
        labels.Dispose();
    }
}

/// <summary>
/// The data path of one training batch: slicing through a permutation and normalization. (Augmentation
/// was timed here too while the bench could see the library's internals; it is timed inside the
/// training steps of the throughput mode now.)
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "BenchmarkDotNet frees the fields in [GlobalCleanup].")]
public class DataPathBenchmarks
{
    private ImageDataset data = null!;
    private BatchPlan plan = null!;
    private Generator shuffle = null!;
    private int next;

    /// <summary>Images per batch.</summary>
    [Params(128)]
    public int BatchSize { get; set; }

    /// <summary>4,096 random images, a shuffled plan, and one normalized batch to augment.</summary>
    [GlobalSetup]
    public void Setup()
    {
        set_num_threads(MicroSettings.Threads);
        shuffle = new Generator(1);
        var images = randint(0, 256, [4096, 3, 32, 32], dtype: ScalarType.Byte, generator: shuffle);
        var labels = randint(0, 10, [4096], dtype: ScalarType.Int64, generator: shuffle);
        data = new ImageDataset(images, labels, Cifar10Dataset.DefaultClassNames);
        plan = data.PlanBatches(BatchSize, shuffle);
    }

    /// <summary>index_select through the permutation, to float, scale and shift.</summary>
    [Benchmark]
    public void SliceAndNormalize()
    {
        using var scope = NewDisposeScope();
        plan.GetBatch(next);
        next = (next + 1) % plan.BatchCount;
    }

    /// <summary>Frees everything.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        plan.Dispose();
        data.Dispose();
        shuffle.Dispose();
    }
}

/// <summary>Settings the micro benchmarks read (they run in this process).</summary>
public static class MicroSettings
{
    /// <summary>The intra-op thread count.</summary>
    public static int Threads { get; set; } = 2;
}
