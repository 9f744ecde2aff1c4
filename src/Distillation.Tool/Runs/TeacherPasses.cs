using System.Diagnostics;
using Distillation.Data;
using Distillation.Evaluation;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Tool.Runs;

/// <summary>Runs a teacher (a module, an ONNX model) over the batches of a set in stored order.</summary>
internal static class TeacherPasses
{
    /// <summary>
    /// The teacher's float32 logits [rows, classes] on the CPU, and the labels, for batches
    /// [<paramref name="firstBatch"/>, <paramref name="endBatch"/>) of the set's stored-order plan.
    /// The same batch gives the same logits whichever range it is run in.
    /// </summary>
    public static (Tensor Logits, Tensor Labels) Run(ITeacher teacher, IBatchSource data, Device device, int batchSize, int firstBatch, int endBatch,
        Action<int>? batchDone, CancellationToken cancellationToken)
    {
        var request = new TeacherRequest(data, device) { RequestedBy = "distill", BatchSize = batchSize, ForEvaluation = true, CancellationToken = cancellationToken };
        using var preparation = teacher.Prepare(request);
        using var plan = data.PlanBatches(batchSize);
        var logits = new List<Tensor>();
        var labels = new List<Tensor>();
        try
        {
            for (var b = firstBatch; b < endBatch; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var batch = plan.GetBatch(b, device);
                var output = teacher.Forward(new TeacherBatch(batch.Images, plan.GetIndices(b)));
                logits.Add(output.Logits.to(ScalarType.Float32).cpu().DetachFromDisposeScope());
                labels.Add(batch.Labels.cpu().DetachFromDisposeScope());
                batchDone?.Invoke(b);
            }

            return (cat(logits, 0), cat(labels, 0));
        }
        finally
        {
            logits.ForEach(t => t.Dispose());
            labels.ForEach(t => t.Dispose());
        }
    }

    /// <summary>Top-1 and top-5 accuracy, per class and the confusion matrix, from logits and labels (as <see cref="Evaluator"/> gives them for a module).</summary>
    public static DetailedEvaluation Evaluate(Tensor logits, Tensor labels, IReadOnlyList<string> classNames, TimeSpan elapsed)
    {
        using var scope = NewDisposeScope();
        var classes = classNames.Count;
        var predicted = logits.argmax(1).data<long>().ToArray();
        var truth = labels.data<long>().ToArray();
        var counts = new long[classes][];
        for (var c = 0; c < classes; c++)
        {
            counts[c] = new long[classes];
        }

        for (var i = 0; i < truth.Length; i++)
        {
            counts[truth[i]][predicted[i]]++;
        }

        var topK = Math.Min(5, classes);
        var top = logits.topk(topK, 1).indexes;
        var top5Correct = top.eq(labels.unsqueeze(1)).any(1).sum().item<long>();
        return new DetailedEvaluation(classNames, new ConfusionMatrix(counts), top5Correct, topK, elapsed);
    }

    public static Stopwatch Clock() => Stopwatch.StartNew();
}
