using Distillation.Data;
using Distillation.Evaluation;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// How closely the student follows the teacher on the evaluation set (<see cref="TrainerOptions.TrackFidelity"/>).
/// The teacher's logits for every evaluation image are computed once, when the run starts (the
/// teacher is frozen); each evaluated epoch then compares the student's logits with them, batch by
/// batch, as the student's own evaluation passes. The sums stay on the device until read.
/// </summary>
internal sealed class FidelityTracker : IDisposable
{
    private readonly Tensor teacherLogits;
    private readonly Tensor sums;
    private readonly int images;

    private FidelityTracker(Tensor teacherLogits, double teacherAccuracy, Device device)
    {
        this.teacherLogits = teacherLogits;
        images = (int)teacherLogits.shape[0];
        TeacherAccuracy = teacherAccuracy;

        // Agreeing images, then the summed KL: one tensor, so one copy to the host per epoch.
        sums = zeros(2, ScalarType.Float64, device).DetachFromDisposeScope();
    }

    /// <summary>The teacher's top-1 accuracy on the evaluation set, with the student's test-time augmentation.</summary>
    public double TeacherAccuracy { get; }

    /// <summary>Runs the teacher once over <paramref name="evaluation"/> and keeps its logits.</summary>
    /// <param name="teacher">The run's teacher, before the training pipeline is prepared.</param>
    /// <param name="evaluation">The evaluation set the student is evaluated on.</param>
    /// <param name="device">The run's device.</param>
    /// <param name="batchSize">The evaluation batch size.</param>
    /// <param name="flip">Average each image's logits with its mirror's, as the student's evaluation does.</param>
    /// <param name="logger">The trainer's logger.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <exception cref="NotSupportedException">The teacher cannot run on the evaluation images (logits precomputed for the training set).</exception>
    public static FidelityTracker Measure(ITeacher teacher, IBatchSource evaluation, Device device, int batchSize, bool flip, ILogger logger, CancellationToken cancellationToken)
    {
        using var preparation = PrepareForEvaluation(teacher, new TeacherRequest(evaluation, device)
        {
            ForEvaluation = true,

            // Mirrored images are not the images the indices name: no cache may answer for them.
            Augmented = flip,
            RequestedBy = "TrainerOptions.TrackFidelity",
            BatchSize = batchSize,
            Logger = logger,
            CancellationToken = cancellationToken,
        });
        var logits = zeros(new long[] { evaluation.Count, evaluation.ClassNames.Count }, ScalarType.Float32, device).DetachFromDisposeScope();
        try
        {
            var result = Evaluator.EvaluateDetailed(
                (batch, indices) =>
                {
                    var output = teacher.Forward(new TeacherBatch(batch.Images, indices)).Logits.to(ScalarType.Float32);
                    if (flip)
                    {
                        using var mirrored = batch.Images.flip(3);
                        using var mirroredLogits = teacher.Forward(new TeacherBatch(mirrored, indices)).Logits.to(ScalarType.Float32);
                        output = output.add(mirroredLogits).div_(2);
                    }

                    logits.index_copy_(0, indices.to(device), output);
                    return output;
                },
                evaluation,
                device,
                batchSize,
                cancellationToken,
                "teacher");
            return new FidelityTracker(logits, result.Top1Accuracy, device);
        }
        catch
        {
            logits.Dispose();
            throw;
        }
    }

    private static TeacherPreparation PrepareForEvaluation(ITeacher teacher, TeacherRequest request)
    {
        try
        {
            return teacher.Prepare(request);
        }
        catch (NotSupportedException e)
        {
            // The teacher's own reason, said as the answer to the option that asked.
            throw new NotSupportedException($"TrainerOptions.TrackFidelity needs the teacher's logits on the evaluation images, which this teacher cannot give: {e.Message}", e);
        }
    }

    /// <summary>Starts an epoch's comparison.</summary>
    public void Reset() => sums.zero_();

    /// <summary>Compares a batch of the student's evaluation logits with the teacher's for the same images.</summary>
    /// <param name="studentLogits">The student's logits, <c>[batch, classes]</c>.</param>
    /// <param name="indices">The images' indices in the evaluation set.</param>
    public void Observe(Tensor studentLogits, Tensor indices)
    {
        using var scope = NewDisposeScope();
        var teacherBatch = teacherLogits.index_select(0, indices.to(teacherLogits.device));
        var student = studentLogits.to(ScalarType.Float32);
        var agreeing = student.argmax(1).eq(teacherBatch.argmax(1)).sum().to(ScalarType.Float64);
        var teacherLogProbabilities = teacherBatch.log_softmax(1);
        var divergence = teacherLogProbabilities.exp().mul(teacherLogProbabilities.sub(student.log_softmax(1))).sum().to(ScalarType.Float64);
        sums.add_(stack([agreeing, divergence]));
    }

    /// <summary>The epoch's top-1 agreement and mean KL(teacher ‖ student) over the evaluation set.</summary>
    public (double Agreement, double KLDivergence) Read()
    {
        using var scope = NewDisposeScope();
        var host = sums.cpu().data<double>().ToArray();
        return (host[0] / images, host[1] / images);
    }

    public void Dispose()
    {
        teacherLogits.Dispose();
        sums.Dispose();
    }
}
