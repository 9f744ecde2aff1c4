using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Distillation.Tests.Training.Teachers;

public sealed class TeacherOutputCacheTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();
    private readonly TempFolder folder = new();

    public void Dispose()
    {
        set_num_threads(threadsBefore);
        folder.Dispose();
    }

    private static TrainerOptions Options(TeacherOutputOptions teacherOutputs, bool augment = false) => new()
    {
        Epochs = 3,
        BatchSize = 32,
        Optimizer = new OptimizationOptions { LearningRate = 0.01 },
        Seed = 7,
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        Augmentation = augment ? new AugmentationOptions { Padding = 1 } : null,
        TeacherOutputs = teacherOutputs,
    };

    private static (TrainingResult Result, float[] Weights) Distill(TeacherOutputOptions teacherOutputs, Func<IDistillationLoss> loss, ImageDataset train, ILogger<Trainer<TinyNet, TinyNet>>? logger = null, bool augment = false)
    {
        manual_seed(100);
        var teacher = new TinyNet(16);
        manual_seed(3);
        var trainer = new Trainer<TinyNet, TinyNet>(teacher, new TinyNet(4), Options(teacherOutputs, augment), logger);
        manual_seed(4);
        var result = trainer.Distill(train, loss: loss());
        return (result, trainer.Student.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray());
    }

    public static TheoryData<string> Losses => ["kd", "kd+cosine+hint"];

    private static Func<IDistillationLoss> LossFor(string name) => name switch
    {
        "kd" => () => new KLDivergenceLoss(),
        _ => () => new DistillationObjective((new LabelCrossEntropyLoss(), 1.0), (new KLDivergenceLoss(4), 1.0), (new CosineFeatureLoss("layers.3", "layers.3"), 0.5), (new HintLoss(4, 16, "layers.0", "layers.0"), 0.5)),
    };

    [Theory]
    [MemberData(nameof(Losses))]
    public void Cached_teacher_outputs_give_the_losses_and_weights_of_a_live_teacher(string loss)
    {
        using var train = Quadrants.Create(150, seed: 1);

        var live = Distill(new TeacherOutputOptions { Cache = false, Precision = TeacherPrecision.Float32 }, LossFor(loss), train);
        var cached = Distill(new TeacherOutputOptions(), LossFor(loss), train);

        live.Result.TeacherOutputsCached.Should().BeFalse();
        cached.Result.TeacherOutputsCached.Should().BeTrue();
        cached.Result.History.Select(r => r.MeanLoss).Should().Equal(live.Result.History.Select(r => r.MeanLoss));
        foreach (var part in live.Result.History[^1].LossParts.Keys)
        {
            cached.Result.History.Select(r => r.LossParts[part]).Should().Equal(live.Result.History.Select(r => r.LossParts[part]), part);
        }

        cached.Weights.Should().Equal(live.Weights);
    }

    [Fact]
    public void With_augmentation_the_teacher_runs_live()
    {
        using var train = Quadrants.Create(64, seed: 1);

        var (result, _) = Distill(new TeacherOutputOptions(), LossFor("kd"), train, augment: true);

        result.TeacherOutputsCached.Should().BeFalse("augmented inputs differ every epoch");
    }

    [Fact]
    public void A_cache_over_the_limit_is_not_built_and_says_so()
    {
        using var train = Quadrants.Create(64, seed: 1);
        var logger = new ListLogger<Trainer<TinyNet, TinyNet>>();

        var (result, _) = Distill(new TeacherOutputOptions { MaxBytes = 1000 }, LossFor("kd"), train, logger);

        result.TeacherOutputsCached.Should().BeFalse();
        logger.Inner.Entries.Select(e => e.Message).Should().Contain(m => m.Contains("exceed the limit of 1000", StringComparison.Ordinal));
    }

    [Fact]
    public void Cancellation_while_the_cache_is_built_stops_at_the_next_batch_and_writes_no_cache_file()
    {
        using var train = Quadrants.Create(150, seed: 1);
        manual_seed(100);
        using var teacher = new TinyNet(16);
        using var cancellation = new CancellationTokenSource();
        var cacheBatches = 0;
        var callsAfterCancel = 0;

        // The cache is built in batches of 10 (the evaluation batch size; training batches are 32): a signal arrives in the second.
        var hook = teacher.register_forward_hook((_, input, output) =>
        {
            if (cancellation.IsCancellationRequested)
            {
                callsAfterCancel++;
            }
            else if (input.shape[0] == 10 && ++cacheBatches == 2)
            {
                cancellation.Cancel();
            }

            return output;
        });
        manual_seed(3);
        var options = Options(new TeacherOutputOptions { Directory = folder.Path, Precision = TeacherPrecision.Float32 });
        options.EvaluationBatchSize = 10;
        var trainer = new Trainer<TinyNet, TinyNet>(teacher, new TinyNet(4), options);

        var act = () => trainer.Distill(train, loss: new KLDivergenceLoss(), cancellationToken: cancellation.Token);

        act.Should().Throw<OperationCanceledException>();
        hook.remove();
        cacheBatches.Should().Be(2);
        callsAfterCancel.Should().Be(0, "the other 13 batches of the cache are not computed");
        Directory.GetFiles(folder.Path).Should().BeEmpty("no cache file, whole or partial, is written");
    }

    [Fact]
    public void The_cache_on_disk_is_reused_and_a_damaged_file_is_rebuilt()
    {
        using var train = Quadrants.Create(150, seed: 1);
        var options = new TeacherOutputOptions { Directory = folder.Path };
        var live = Distill(new TeacherOutputOptions { Cache = false, Precision = TeacherPrecision.Float32 }, LossFor("kd+cosine+hint"), train);

        var first = Distill(options, LossFor("kd+cosine+hint"), train);
        var file = Directory.GetFiles(folder.Path).Should().ContainSingle().Subject;
        var logger = new ListLogger<Trainer<TinyNet, TinyNet>>();
        var second = Distill(options, LossFor("kd+cosine+hint"), train, logger);

        logger.Inner.Entries.Select(e => e.Message).Should().Contain(m => m.Contains("loaded from", StringComparison.Ordinal));
        second.Weights.Should().Equal(live.Weights);
        first.Weights.Should().Equal(live.Weights);

        File.WriteAllBytes(file, File.ReadAllBytes(file)[..100]);
        var rebuilt = Distill(options, LossFor("kd+cosine+hint"), train);
        rebuilt.Weights.Should().Equal(live.Weights);
        new FileInfo(file).Length.Should().BeGreaterThan(100, "the damaged file was written anew");

        using var other = Quadrants.Create(150, seed: 2);
        Distill(options, LossFor("kd+cosine+hint"), other);
        Directory.GetFiles(folder.Path).Should().HaveCount(2, "another training set has a cache file of its own");
    }
}
