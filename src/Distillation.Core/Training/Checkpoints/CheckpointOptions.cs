namespace Distillation.Training;

/// <summary>
/// Checkpointing of a training run: after every epoch the run's whole state is written atomically
/// to <c>{phase}-last.checkpoint</c> in <see cref="Directory"/>, and the best epoch's weights to
/// <c>{phase}-best.weights</c>; with <see cref="Resume"/>, a run picks up after the last
/// checkpointed epoch and ends with the same weights as an uninterrupted run (on the CPU with a
/// fixed thread count).
/// </summary>
public sealed class CheckpointOptions
{
    /// <summary>The folder of the checkpoint files; created when needed. Use one folder per run: the files are named by phase only. Required.</summary>
    public string Directory { get; set; } = "";

    /// <summary>
    /// Whether to keep the best epoch's weights (highest accuracy on the evaluation set, or lowest
    /// training loss without one) in <c>{phase}-best.weights</c>, loadable with
    /// <see cref="Distillation.Serialization.ModuleWeights.LoadWeights"/>. Default: true.
    /// </summary>
    public bool KeepBest { get; set; } = true;

    /// <summary>
    /// Whether to continue from <c>{phase}-last.checkpoint</c> when it exists; a checkpoint of another
    /// run (other phase, loss, epochs, batch size, seed or training-set size) is refused. When false,
    /// a run starts afresh and overwrites the files. Default: false.
    /// </summary>
    public bool Resume { get; set; }

    /// <summary>The last-epoch checkpoint of <paramref name="phase"/>.</summary>
    /// <param name="phase">The training phase.</param>
    /// <returns>The file's path.</returns>
    public string LastCheckpointPath(TrainingPhase phase) => Path.Combine(Directory, $"{PhaseName(phase)}-last.checkpoint");

    /// <summary>The best epoch's weights of <paramref name="phase"/>.</summary>
    /// <param name="phase">The training phase.</param>
    /// <returns>The file's path.</returns>
    public string BestWeightsPath(TrainingPhase phase) => Path.Combine(Directory, $"{PhaseName(phase)}-best.weights");

    /// <summary>
    /// The last epoch in <paramref name="phase"/>'s checkpoint, where a resumed run continues; null
    /// when there is none. Reads and verifies the file's header only.
    /// </summary>
    /// <param name="phase">The training phase.</param>
    /// <returns>The number of epochs the checkpoint holds, or null.</returns>
    /// <exception cref="InvalidDataException">The checkpoint is damaged, malformed, or predates checksums.</exception>
    public int? LastCheckpointedEpoch(TrainingPhase phase)
    {
        var path = LastCheckpointPath(phase);
        return File.Exists(path) ? RunCheckpoint.ReadHeader(path).Progress.CompletedEpochs : null;
    }

    /// <summary>
    /// Whether <paramref name="path"/> is a training checkpoint (it opens with the checkpoints'
    /// signature), for example to tell a user who passes one where weights are expected.
    /// </summary>
    /// <param name="path">An existing file.</param>
    /// <returns>True for a checkpoint.</returns>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static bool IsCheckpointFile(string path) => RunCheckpoint.HasSignature(path);

    /// <summary>Checks every value.</summary>
    /// <exception cref="ArgumentException">The folder is not set.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Directory))
        {
            throw new ArgumentException("The checkpoint folder must be set.", nameof(Directory));
        }
    }

    private static string PhaseName(TrainingPhase phase) => phase.ToString().ToLowerInvariant();
}
