using Distillation.Losses;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Cifar10;

/// <summary>The notebook: the student alone, then the distilled student.</summary>
internal sealed partial class SampleRunner
{
    /// <summary>The notebook: the student alone, then distilled from the baseline (or from scratch).</summary>
    private void RunNotebook(Trainer<ITeacher, nn.Module<Tensor, Tensor>> trainer, DistillationObjective loss, Splits data, RunSummary teacherRun, CancellationToken cancellationToken)
    {
        var runs = new List<RunSummary> { teacherRun };
        var baseline = Train("Student", "Training the student alone (cross-entropy)", TrainingPhase.StudentAlone, t => t.TrainStudent(data.Train, data.Evaluation, console, cancellationToken), trainer, data, null, cancellationToken);
        runs.Add(baseline);

        if (settings.DistillFrom == DistillFrom.Baseline)
        {
            // The notebook distills the student it has just trained; the trainer continues from its weights.
            runs.Add(Train("Distilled student", $"Distilling the trained student from the teacher ({loss.Name})", TrainingPhase.Distillation,
                t => t.Distill(data.Train, data.Evaluation, loss, console, cancellationToken), trainer, data, null, cancellationToken));
        }
        else
        {
            using var fresh = FreshStudent(settings.Seed);
            runs.Add(Train("Distilled student", $"Distilling a fresh student from the teacher ({loss.Name})", TrainingPhase.Distillation,
                t => t.Distill(data.Train, data.Evaluation, loss, console, cancellationToken), trainer.WithStudent(fresh), data, null, cancellationToken));
        }

        ConsoleTables.PrintTable(Term.Out, "Results", runs);
        PrintPeakMemory();
        Write(new SampleResults(DateTimeOffset.UtcNow, trainer.Device.ToString(), get_num_threads(), data.Folder, data.Train.Count, data.Test.Count, settings, runs, null));
    }
}
