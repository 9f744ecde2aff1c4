using Distillation.Training;

namespace Distillation.Cifar10;

/// <summary>
/// --teacher-snapshots: the library's <see cref="SnapshotCallback"/> for the teacher's training
/// only. Outside a recipe one set of trainer options serves every phase, and the students'
/// epochs are not snapshots anyone asked for.
/// </summary>
internal sealed class TeacherSnapshots(string directory, int everyEpochs) : ITrainingCallback
{
    private readonly SnapshotCallback snapshots = new(directory, everyEpochs);

    /// <summary>The files written so far, oldest first.</summary>
    public IReadOnlyList<string> Files => snapshots.Snapshots;

    public void OnEpochEnd(EpochEndContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Report.Phase == TrainingPhase.Teacher)
        {
            snapshots.OnEpochEnd(context);
        }
    }
}
