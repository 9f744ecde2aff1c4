using Distillation.Losses;
using Distillation.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Distillation.Cifar10;

/// <summary>--seeds: distillation against its control over several seeds.</summary>
internal sealed partial class SampleRunner
{
    /// <summary>
    /// Per seed: the baseline; (a) distillation continuing from it; (b) the control, cross-entropy
    /// continuing from it for as many epochs; (c) distillation of a fresh student.
    /// </summary>
    private void CompareOverSeeds(Trainer<ITeacher, nn.Module<Tensor, Tensor>> trainer, ILogger<Trainer<ITeacher, nn.Module<Tensor, Tensor>>> trainerLogger, IReadOnlyList<long> seeds, DistillationObjective loss, Splits data, RunSummary teacherRun, CancellationToken cancellationToken)
    {
        var perSeed = new List<SeedRuns>();
        foreach (var seed in seeds)
        {
            Term.Out.Line($"\n=== Seed {seed}");
            TrainerOptions OptionsFor(string run) => TrainerOptionsFor(settings, seed, trainer.Options.Device, $"seed-{seed}/{run}");

            // The baseline and (c) start the seed's shuffling stream afresh, so they see the same batches;
            // (a) and (b) continue copies of the baseline's stream, as the notebook's global generator
            // would: the same batches as each other, and not a replay of the baseline's epochs.
            using var baselineStudent = FreshStudent(seed);
            var baselineTrainer = new Trainer<ITeacher, nn.Module<Tensor, Tensor>>(trainer.Teacher, baselineStudent, OptionsFor("baseline"), trainerLogger);
            var baseline = Train("Student baseline", "Student alone (cross-entropy)", TrainingPhase.StudentAlone,
                t => t.TrainStudent(data.Train, data.Evaluation, console, cancellationToken), baselineTrainer, data, seed, cancellationToken);

            using var continuedWithKd = CopyOf(baselineStudent);
            var a = Train("(a) KD from baseline", $"(a) distilling the trained baseline ({loss.Name})", TrainingPhase.Distillation,
                t => t.Distill(data.Train, data.Evaluation, loss, console, cancellationToken), baselineTrainer.WithStudent(continuedWithKd, OptionsFor("a")), data, seed, cancellationToken);

            using var continuedWithCe = CopyOf(baselineStudent);
            var b = Train("(b) CE continued", "(b) control: the trained baseline continued with cross-entropy", TrainingPhase.StudentAlone,
                t => t.TrainStudent(data.Train, data.Evaluation, console, cancellationToken), baselineTrainer.WithStudent(continuedWithCe, OptionsFor("b")), data, seed, cancellationToken);

            using var scratch = FreshStudent(seed);
            var c = Train("(c) KD from scratch", $"(c) distilling a fresh student ({loss.Name})", TrainingPhase.Distillation,
                t => t.Distill(data.Train, data.Evaluation, loss, console, cancellationToken), new Trainer<ITeacher, nn.Module<Tensor, Tensor>>(trainer.Teacher, scratch, OptionsFor("c"), trainerLogger), data, seed, cancellationToken);

            perSeed.Add(new SeedRuns(seed, baseline, a, b, c));
            ConsoleTables.PrintTable(Term.Out, $"Seed {seed}", [baseline, a, b, c]);

            // Written after every seed, so an interrupted comparison keeps the seeds it finished.
            Write(new SampleResults(DateTimeOffset.UtcNow, trainer.Device.ToString(), get_num_threads(), data.Folder, data.Train.Count, data.Test.Count, settings, [teacherRun], Comparison.Of(perSeed)));
        }

        ConsoleTables.PrintComparison(Term.Out, teacherRun, Comparison.Of(perSeed));
        PrintPeakMemory();
    }
}
