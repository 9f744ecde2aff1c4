namespace Distillation.Cifar10;

/// <summary>
/// A named training recipe (<c>--recipe</c>): the teacher's training, and the settings shared by the
/// cross-entropy control and the distilled student, which differ only in their loss. Flags given on
/// the command line override the student's values (<c>--epochs</c>, <c>--lr</c>, <c>--method</c>, …)
/// and the teacher's (<c>--teacher-epochs</c>, <c>--teacher-lr</c>).
/// </summary>
/// <remarks>
/// The values of <see cref="Strong"/> were chosen on a 5,000-image validation split; see
/// results/strong/ and README's "Beyond the notebook".
/// </remarks>
internal sealed record Recipe(
    string Name,
    int TeacherEpochs,
    double TeacherLearningRate,
    string TeacherOptimizer,
    int Epochs,
    double LearningRate,
    double WarmupFraction,
    string Optimizer,
    double WeightDecay,
    string Schedule,
    string Method,
    double Temperature,
    double HardWeight,
    double SoftWeight,
    string TeacherPrecision)
{
    /// <summary>
    /// Crop from 4-pixel padding and flip for every model; weight decay 5e-4 and a linear warm-up
    /// into cosine annealing (one cycle, stepped per epoch); the teacher trained once with AdamW; both
    /// students with SGD (momentum 0.9), from the same initialisation with the same batches; the
    /// distilled one with 0.5·CE + 0.5·KD at T = 2; the teacher in bfloat16 where this machine runs it faster (auto).
    /// </summary>
    public static Recipe Strong { get; } = new(
        Name: "strong",
        TeacherEpochs: 20,
        TeacherLearningRate: 2e-3,
        TeacherOptimizer: "adamw",
        Epochs: 30,
        LearningRate: 0.05,
        WarmupFraction: 0.1,
        Optimizer: "sgd",
        WeightDecay: 5e-4,
        Schedule: "cosine",
        Method: "kd",
        Temperature: 2,
        HardWeight: 0.5,
        SoftWeight: 0.5,
        TeacherPrecision: "auto");

    /// <summary>Warm-up epochs of a run of <paramref name="epochs"/>: <see cref="WarmupFraction"/> of them, rounded, leaving at least one to the schedule.</summary>
    public int WarmupFor(int epochs) => Math.Max(0, Math.Min(epochs - 1, (int)Math.Round(epochs * WarmupFraction, MidpointRounding.AwayFromZero)));

    /// <summary>The recipes by name.</summary>
    public static IReadOnlyList<Recipe> All { get; } = [Strong];

    /// <summary>The recipe called <paramref name="name"/> (any case), or null.</summary>
    public static Recipe? Find(string? name) => All.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase));
}
