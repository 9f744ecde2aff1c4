using Distillation.Evaluation;
using Distillation.Training;

namespace Distillation.Cifar10.Tests;

/// <summary>Results and evaluations made up for the tests: no training, no data set.</summary>
internal static class Synthetic
{
    public static readonly string[] Classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    public static SampleSettings Settings(IReadOnlyList<long>? seeds = null) => new()
    {
        DataRoot = "data",
        Download = false,
        Epochs = 3,
        BatchSize = 128,
        LearningRate = 0.001,
        Temperature = 10,
        HardWeight = 1,
        SoftWeight = 1,
        Seed = 42,
        Device = "cpu",
        OutputDirectory = "out",
        Verbose = false,
        DistillFrom = DistillFrom.Baseline,
        Seeds = seeds,
        Method = "kd",
        Augment = false,
        Optimizer = "adam",
        Schedule = "constant",
        WarmupEpochs = 0,
        WeightDecay = 0,
    };

    /// <summary>A run with one epoch per loss; accuracy per epoch when given.</summary>
    public static RunSummary Run(string name, TrainingPhase phase, double[] losses, double finalAccuracy, double[]? accuracies = null) => new(
        name,
        phase.ToString(),
        phase == TrainingPhase.Distillation ? "kd" : "cross-entropy",
        phase == TrainingPhase.Teacher ? 1_186_986 : 267_738,
        12.5,
        losses[^1],
        finalAccuracy,
        losses.Select((l, i) => new EpochSummary(i + 1, l, new Dictionary<string, double> { ["ce"] = l }, 0.001, 500, 5, accuracies?[i])).ToArray());

    /// <summary>The notebook: teacher, student, distilled student (losses on very different scales, as with T = 10).</summary>
    public static SampleResults Notebook(bool perEpochAccuracy = false) => new(
        DateTimeOffset.UnixEpoch,
        "cpu",
        1,
        "data",
        2000,
        500,
        Settings(),
        [
            Run("Teacher", TrainingPhase.Teacher, [1.9, 1.2, 0.4], 0.62, perEpochAccuracy ? [0.4, 0.55, 0.62] : null),
            Run("Student", TrainingPhase.StudentAlone, [2.0, 1.5, 1.1], 0.55, perEpochAccuracy ? [0.35, 0.5, 0.55] : null),
            Run("Distilled student", TrainingPhase.Distillation, [9.5, 8.0, 7.1], 0.58, perEpochAccuracy ? [0.5, 0.56, 0.58] : null),
        ],
        null);

    /// <summary>A --seeds comparison over the given seeds, with a teacher loaded from a file (no epochs).</summary>
    public static SampleResults Seeds(params long[] seeds)
    {
        var runs = seeds.Select((s, i) => new SeedRuns(
            s,
            Run("Student baseline", TrainingPhase.StudentAlone, [2.0, 1.4 + i * 0.05], 0.5 + i * 0.01),
            Run("(a) KD from baseline", TrainingPhase.Distillation, [8.0, 7.0 + i * 0.2], 0.55 + i * 0.01),
            Run("(b) CE continued", TrainingPhase.StudentAlone, [1.0, 0.7], 0.52),
            Run("(c) KD from scratch", TrainingPhase.Distillation, [11.0, 9.0], 0.53))).ToArray();
        var teacher = new RunSummary("Teacher", "Teacher", "loaded from teacher.weights", 1_186_986, 0, null, 0.7, []);
        return new SampleResults(DateTimeOffset.UnixEpoch, "cpu", 1, "data", 1000, 300, Settings(seeds), [teacher], Comparison.Of(runs));
    }

    /// <summary>
    /// An evaluation whose class c is right on <paramref name="correct"/>[c] of 50 images, the rest
    /// predicted as the next class.
    /// </summary>
    public static ModelEvaluation Evaluation(string kind, long? seed, TrainingPhase phase, params int[] correct)
    {
        var rows = new long[Classes.Length][];
        for (var t = 0; t < rows.Length; t++)
        {
            rows[t] = new long[Classes.Length];
            var right = correct.Length > t ? correct[t] : 25;
            rows[t][t] = right;
            rows[t][(t + 1) % Classes.Length] = 50 - right;
        }

        var confusion = new ConfusionMatrix(rows);
        var evaluation = new DetailedEvaluation(Classes, confusion, confusion.Correct, 5, TimeSpan.FromSeconds(1));
        var footprint = new ModelFootprint(phase == TrainingPhase.Teacher ? 1_186_986 : 267_738, 267_738, 1_071_000);
        var speed = new SpeedMeasurement(128, 1500, 1000.0 / 1500, 2.5);
        return new ModelEvaluation(kind, seed, phase, new EvaluationReport(ModelEvaluation.NameOf(kind, seed), footprint, evaluation, speed));
    }

    public static IReadOnlyList<ModelEvaluation> NotebookEvaluations() =>
    [
        Evaluation("Teacher", null, TrainingPhase.Teacher, 40, 45, 30, 20, 35, 30, 42, 40, 44, 43),
        Evaluation("Student", null, TrainingPhase.StudentAlone, 35, 40, 20, 15, 30, 25, 40, 35, 40, 40),
        Evaluation("Distilled student", null, TrainingPhase.Distillation, 50, 45, 25, 10, 35, 30, 45, 40, 42, 0),
    ];
}
