using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Models.Tests.Docs;

/// <summary>Runs the option examples of docs/training.md: each distills a few synthetic images.</summary>
public sealed class TrainingPageExamplesTests
{
    private static TrainingResult DistillWith(TrainerOptions options, int epochs)
    {
        using var scope = NewDisposeScope();
        using var train = ReadmeExampleTests.ColourSquares(count: 64, seed: 1);
        using var test = ReadmeExampleTests.ColourSquares(count: 32, seed: 2);
        options.Epochs = epochs;
        options.BatchSize = 16;
        manual_seed(1);
        using var teacher = new TeacherNet(3);
        using var student = new StudentNet(3);
        return new Trainer<TeacherNet, StudentNet>(teacher, student, options).Distill(train, test);
    }

    [Fact]
    public void The_snapshot_example_saves_three_teacher_snapshots_and_distils_from_their_ensemble()
    {
        using var scope = NewDisposeScope();
        using var train = ReadmeExampleTests.ColourSquares(count: 64, seed: 1);
        using var test = ReadmeExampleTests.ColourSquares(count: 32, seed: 2);
        var folder = Directory.CreateTempSubdirectory("snapshots-").FullName;
        try
        {
            manual_seed(1);
            var run = TrainingPageExamples.Snapshots(folder, train, test);

            Directory.GetFiles(Path.Combine(folder, "snapshots")).Select(Path.GetFileName).Order()
                .Should().Equal("teacher-epoch-002.weights", "teacher-epoch-004.weights", "teacher-epoch-006.weights");
            run.EpochsTrained.Should().Be(6);
            run.FinalAccuracy.Should().NotBeNull();
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void The_recipe_options_distill_with_sgd_cosine_and_augmentation()
    {
        var run = DistillWith(TrainingPageExamples.Recipe(), epochs: 3);   // two warm-up epochs, then cosine

        run.EpochsTrained.Should().Be(3);
        run.TeacherOutputsCached.Should().BeFalse("augmented batches run the teacher live");
    }

    [Fact]
    public void The_fast_teacher_example_trains_the_airbench_net_with_the_triangle_and_lookahead()
    {
        using var scope = NewDisposeScope();
        using var train = ReadmeExampleTests.ColourSquares(count: 64, seed: 1);
        using var validation = ReadmeExampleTests.ColourSquares(count: 32, seed: 2);
        manual_seed(1);

        var run = TrainingPageExamples.FastTeacher(train, validation);

        run.EpochsTrained.Should().Be(12);
        run.History[0].LearningRate.Should().BeApproximately(0.2 * 1.5, 1e-9, "the triangle starts at 0.2 of the base rate");
        run.FinalEvaluation.Should().NotBeNull();
    }

    [Fact]
    public void The_seams_train_and_the_callback_stops_a_run_that_is_good_enough()
    {
        // The colour task is learnt within an epoch or two, so the callback stops the run well before 20 epochs.
        var run = DistillWith(TrainingPageExamples.Seams(), epochs: 20);

        run.StoppedEarly.Should().BeTrue();
        run.EpochsTrained.Should().BeLessThan(20);
        run.History[^1].Accuracy.Should().BeGreaterThanOrEqualTo(0.9);
    }

    [Fact]
    public void The_cache_and_bfloat16_options_are_valid_settings()
    {
        var cache = TrainingPageExamples.Cache();
        cache.Validate();
        cache.TeacherOutputs.Directory.Should().Be("cache/teacher-outputs");

        var run = DistillWith(TrainingPageExamples.BFloat16(), epochs: 1);
        run.EpochsTrained.Should().Be(1);
    }

    [Fact]
    public void The_view_cache_example_distils_from_looked_up_views()
    {
        var options = TrainingPageExamples.ViewCache();
        options.Validate();
        options.TeacherOutputs.ViewCacheDirectory.Should().Be("cache/teacher-views");

        // Padding 1 (18 views) and a folder of its own keep the test short and leave the working directory clean.
        var folder = Directory.CreateTempSubdirectory("teacher-views-").FullName;
        try
        {
            options.Augmentation!.Padding = 1;
            options.TeacherOutputs.ViewCacheDirectory = folder;
            var run = DistillWith(options, epochs: 1);

            run.TeacherOutputsCached.Should().BeTrue();
            Directory.GetFiles(folder).Should().ContainSingle();
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void The_mixed_precision_example_trains_the_notebook_networks()
    {
        var run = DistillWith(TrainingPageExamples.MixedPrecision(), epochs: 2);

        run.EpochsTrained.Should().Be(2);
        run.History.Should().OnlyContain(r => double.IsFinite(r.MeanLoss));
    }
}
