using Distillation.Data;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Models.Tests.Docs;

/// <summary>Runs the examples of docs/losses.md on a few synthetic images.</summary>
public sealed class LossPageExamplesTests
{
    [Fact]
    public void The_weighted_objective_distills_and_reports_each_term_by_name()
    {
        using var scope = NewDisposeScope();
        using var train = ReadmeExampleTests.ColourSquares(count: 64, seed: 1);
        using var test = ReadmeExampleTests.ColourSquares(count: 32, seed: 2);
        manual_seed(1);
        using var teacher = new TeacherNet(3);
        using var student = new StudentNet(3);
        var trainer = new Trainer<TeacherNet, StudentNet>(teacher, student, new TrainerOptions { Epochs = 1, BatchSize = 32 });

        var run = LossPageExamples.Objectives(trainer, train, test);

        run.EpochsTrained.Should().Be(1);
        var parts = run.History[0].LossParts;
        parts.Keys.Should().BeEquivalentTo(["ce", "cosine", "kd"]);
        run.History[0].MeanLoss.Should().BeApproximately(0.75 * parts["ce"] + 0.25 * parts["cosine"] + parts["kd"], 1e-4);
    }

    [Fact]
    public void DIST_with_a_weight_ramped_to_zero_trains_its_last_epoch_on_cross_entropy_alone()
    {
        using var scope = NewDisposeScope();
        using var train = ReadmeExampleTests.ColourSquares(count: 64, seed: 4);
        using var test = ReadmeExampleTests.ColourSquares(count: 32, seed: 5);
        manual_seed(3);
        using var teacher = new TeacherNet(3);
        using var student = new StudentNet(3);
        var trainer = new Trainer<TeacherNet, StudentNet>(teacher, student, new TrainerOptions { Epochs = 2, BatchSize = 32 });

        var (run, formulas) = LossPageExamples.DistWithSchedule(trainer, train, test);

        // Two epochs, a ramp over ⌈0.25 · 2⌉ = 1: weight 1 in epoch 1, 0 in epoch 2.
        formulas.Should().Be("1·ce + 1(to 0 over the last 0.25)·dist(β=1, γ=1, T=1) | 1·ce + 1(warm-up 5 epochs)·kd(T=4)");
        run.History.Should().HaveCount(2);
        var (first, last) = (run.History[0], run.History[1]);
        first.LossParts.Keys.Should().BeEquivalentTo(["ce", "dist"]);
        first.LossParts["dist"].Should().BeGreaterThan(0);
        first.MeanLoss.Should().BeApproximately(first.LossParts["ce"] + first.LossParts["dist"], 1e-4);
        last.LossParts["dist"].Should().BeGreaterThan(0, "the part is still reported, unweighted");
        last.MeanLoss.Should().BeApproximately(last.LossParts["ce"], 1e-4);
    }

    [Fact]
    public void The_notebook_loss_called_by_hand_is_the_sum_of_its_parts_and_back_propagates()
    {
        using var scope = NewDisposeScope();
        using var data = ReadmeExampleTests.ColourSquares(count: 8, seed: 3);
        manual_seed(2);
        using var teacher = new TeacherNet(3);
        using var student = new StudentNet(3);
        using var plan = data.PlanBatches(8);
        var batch = plan.GetBatch(0);

        var (total, crossEntropy, kd) = LossPageExamples.ByHand(student, teacher, batch.Images, batch.Labels);

        total.Should().BeApproximately(crossEntropy + kd, 1e-4);
        kd.Should().BeGreaterThan(0);
        student.parameters().Select(p => p.grad).Should().NotContainNulls();
    }
}
