using Distillation.Data;
using Distillation.Losses;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Models.Tests.Docs;

// The examples of docs/losses.md, compiled here and run by LossPageExamplesTests (DocSnippetTests
// checks that the page holds each region verbatim, indentation removed).
internal static class LossPageExamples
{
    public static TrainingResult Objectives(Trainer<TeacherNet, StudentNet> trainer, IBatchSource train, IBatchSource test)
    {
        // docs:begin LossPageObjectives
        // 0.75·CE + 0.25·cosine + 1·KD(T = 4), on any two models with a "features" module.
        using var objective = new DistillationObjective(
            (new LabelCrossEntropyLoss(), 0.75),
            (new CosineFeatureLoss("features", "features"), 0.25),
            (new KLDivergenceLoss(temperature: 4), 1.0));
        TrainingResult run = trainer.Distill(train, test, objective);
        using var fitnets = new DistillationObjective((new LabelCrossEntropyLoss(), 1.0), (new HintLoss(16, 32), 1.0));
        using var dkd = new DistillationObjective((new LabelCrossEntropyLoss(), 1.0), (new DecoupledKDLoss(1, 8, 4, warmupEpochs: 20), 1.0));
        // Keras style: a list of losses and a list of weights, checked for matching lengths.
        using var standardized = new DistillationObjective(
            [new LabelCrossEntropyLoss(), new KLDivergenceLoss(2, standardizeLogits: true)], [1.0, 1.0]);
        // docs:end LossPageObjectives
        return run;
    }

    public static (TrainingResult Run, string Formula) DistWithSchedule(Trainer<TeacherNet, StudentNet> trainer, IBatchSource train, IBatchSource test)
    {
        // docs:begin LossPageSchedules
        // DIST at the paper's defaults, its weight ramped from 1 to 0 over the last quarter of training.
        using var dist = new DistillationObjective(
            (new LabelCrossEntropyLoss(), 1.0),
            (new DistLoss(beta: 1, gamma: 1, temperature: 1), WeightSchedule.RampTo(1.0, finalWeight: 0.0, rampFraction: 0.25)));
        Console.WriteLine(dist.Description); // 1·ce + 1(to 0 over the last 0.25)·dist(β=1, γ=1, T=1)
        TrainingResult run = trainer.Distill(train, test, dist);
        // KD warmed up over the first 5 epochs (DKD's warm-up, for any term); a plain double stays constant.
        using var warmedUp = new DistillationObjective(
            (new LabelCrossEntropyLoss(), 1.0),
            (new KLDivergenceLoss(temperature: 4), WeightSchedule.WarmUp(1.0, warmupEpochs: 5)));
        // docs:end LossPageSchedules
        return (run, dist.Description + " | " + warmedUp.Description);
    }

    public static (double Total, double CrossEntropy, double KD) ByHand(StudentNet student, TeacherNet teacher, Tensor images, Tensor labels)
    {
        // docs:begin LossPageByHand
        using var loss = DistillationObjective.Notebook();
        // DistillationContext(studentLogits, labels, teacherLogits) — in the constructor's order;
        // features, epoch and step are init properties.
        var context = new DistillationContext(student.call(images), labels, teacher.call(images)) { Epoch = 1, Epochs = 10 };
        LossResult result = loss.Compute(context);
        result.Total.backward();
        Console.WriteLine($"{loss.Description}: ce {result["ce"].item<float>()}, kd {result["kd"].item<float>()}");
        // docs:end LossPageByHand
        return (result.Total.item<float>(), result["ce"].item<float>(), result["kd"].item<float>());
    }
}
