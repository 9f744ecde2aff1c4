using Distillation.Losses;
using Distillation.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Distillation.Cifar10;

/// <summary>--recipe: the teacher once, then per seed the cross-entropy control and the distilled student.</summary>
internal sealed partial class SampleRunner
{
    /// <summary>
    /// A recipe: the teacher (trained or loaded once), then per seed the control (cross-entropy
    /// alone) and the distilled student, both fresh from the seed's initialisation and fed the
    /// same augmented batches, so that they differ only in their loss.
    /// </summary>
    private void RunRecipe(Trainer<ITeacher, nn.Module<Tensor, Tensor>> trainer, ILogger<Trainer<ITeacher, nn.Module<Tensor, Tensor>>> trainerLogger, IReadOnlyList<long> seeds, DistillationObjective loss, Splits data, RunSummary? teacherRun, CancellationToken cancellationToken)
    {
        var perSeed = new List<RecipeSeedRuns>();
        foreach (var seed in seeds)
        {
            Term.Out.Line($"\n=== Seed {seed}");
            Trainer<ITeacher, nn.Module<Tensor, Tensor>> TrainerFor(nn.Module<Tensor, Tensor> student, string run, SampleSettings runSettings) =>
                new(trainer.Teacher, student, TrainerOptionsFor(runSettings, seed, trainer.Options.Device, $"seed-{seed}/{run}"), trainerLogger);

            using var controlStudent = settings.RecipeControl ? FreshStudent(seed) : null;
            var control = controlStudent is not null
                ? Train(RecipeComparison.ControlName, "Control: the student with cross-entropy alone", TrainingPhase.StudentAlone,
                    t => t.TrainStudent(data.Train, data.Evaluation, console, cancellationToken), TrainerFor(controlStudent, "control", settings.ForControl()), data, seed, cancellationToken)
                : null;

            using var distilledStudent = settings.RecipeDistilled ? FreshStudent(seed) : null;
            var distilled = distilledStudent is null ? null : Train(RecipeComparison.DistilledName, $"Distilled: the same student and batches, with {loss.Name} (teacher in {settings.TeacherPrecision}{(settings.TeacherFlipAverage ? ", flip-averaged" : "")})", TrainingPhase.Distillation,
                t => t.Distill(data.Train, data.Evaluation, loss, console, cancellationToken), TrainerFor(distilledStudent, "distilled", settings), data, seed, cancellationToken);

            perSeed.Add(new RecipeSeedRuns(seed, control, distilled));
            ConsoleTables.PrintTable(Term.Out, $"Seed {seed}", new[] { control, distilled }.OfType<RunSummary>().ToArray(), data.FinalName);

            // Written after every seed, so an interrupted recipe keeps the seeds it finished.
            Write(new SampleResults(DateTimeOffset.UtcNow, trainer.Device.ToString(), get_num_threads(), data.Folder, data.Train.Count, data.Final.Count, settings, teacherRun is null ? [] : [teacherRun], null)
            {
                Recipe = RecipeComparison.Of(perSeed, data.FinalName),
            });
        }

        ConsoleTables.PrintRecipe(Term.Out, teacherRun, RecipeComparison.Of(perSeed, data.FinalName));
        PrintPeakMemory();
    }
}
