using System.Globalization;
using Distillation.Serialization;

namespace Distillation.Training;

/// <summary>
/// Saves the trained model's weights every few epochs and after the last (Keras's
/// <c>ModelCheckpoint</c> with a period): snapshots of one run, for example of a teacher, to
/// distil from later as an ensemble (<see cref="Teacher.Ensemble"/> over modules loaded with
/// <see cref="ModuleWeights.LoadWeights"/>). Each file is
/// <c>&lt;directory&gt;/&lt;run&gt;-epoch-&lt;NNN&gt;.weights</c> (the run: <c>teacher</c>, <c>student</c> or <c>distilled</c>), written atomically with
/// <see cref="ModuleWeights.SaveWeights"/>. Add it to <see cref="TrainerOptions.Callbacks"/>.
/// </summary>
public sealed class SnapshotCallback : ITrainingCallback
{
    private readonly List<string> paths = [];

    /// <summary>Creates the callback; the directory is created at the first snapshot.</summary>
    /// <param name="directory">Where the snapshots go.</param>
    /// <param name="everyEpochs">Save after every this many epochs (and after the last epoch in any case).</param>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="everyEpochs"/> is below 1.</exception>
    public SnapshotCallback(string directory, int everyEpochs = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        OptionChecks.IntegerIn(everyEpochs, nameof(everyEpochs), 1, int.MaxValue);
        Directory = directory;
        EveryEpochs = everyEpochs;
    }

    /// <summary>Where the snapshots go.</summary>
    public string Directory { get; }

    /// <summary>Epochs between snapshots.</summary>
    public int EveryEpochs { get; }

    /// <summary>The files this callback wrote, oldest first (a resumed run lists only its own).</summary>
    public IReadOnlyList<string> Snapshots => paths;

    /// <inheritdoc />
    public void OnEpochEnd(EpochEndContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var report = context.Report;
        if (report.Epoch % EveryEpochs != 0 && report.Epoch != report.Epochs)
        {
            return;
        }

        var path = Path.Combine(Directory, string.Create(CultureInfo.InvariantCulture, $"{PhaseName(report.Phase)}-epoch-{report.Epoch:D3}.weights"));
        context.Model.SaveWeights(path);
        paths.Add(path);
    }

    private static string PhaseName(TrainingPhase phase) => phase switch
    {
        TrainingPhase.Teacher => "teacher",
        TrainingPhase.StudentAlone => "student",
        _ => "distilled",
    };
}
