using Distillation.Data;
using Distillation.Losses;
using Distillation.Models;
using Distillation.Training;

namespace Distillation.Benchmarks;

/// <summary>
/// Distillation from cached teacher outputs, through the trainer's own cache when the library has
/// one; otherwise the case is reported as not measured.
/// </summary>
internal sealed class CachedTeacherOutputs
{
    private CachedTeacherOutputs(bool available, string reason, Action? runEpoch)
    {
        Available = available;
        Reason = reason;
        this.runEpoch = runEpoch;
    }

    private readonly Action? runEpoch;

    public bool Available { get; }

    public string Reason { get; }

    public void RunEpoch() => (runEpoch ?? throw new InvalidOperationException(Reason))();

    public static CachedTeacherOutputs Prepare(Trainer<TeacherNet, StudentNet> trainer, ImageDataset train, IDistillationLoss loss)
    {
        _ = trainer;
        _ = train;
        _ = loss;
        return new CachedTeacherOutputs(false, "this branch's TrainerOptions has no cached-teacher-output option yet", null);
    }
}
