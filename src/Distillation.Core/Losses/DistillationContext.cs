using static TorchSharp.torch;

namespace Distillation.Losses;

/// <summary>
/// Everything a loss may look at for one batch: the student's and the teacher's outputs, their
/// hooked intermediate features, the labels, and where in training the batch falls. One object,
/// so new terms need no new signature.
/// </summary>
public sealed class DistillationContext
{
    internal static readonly IReadOnlyDictionary<string, Tensor> NoFeatures = new Dictionary<string, Tensor>();

    /// <summary>Creates a context.</summary>
    /// <param name="studentLogits">The student's logits [B, classes], attached to the graph.</param>
    /// <param name="labels">The int64 labels [B].</param>
    /// <param name="teacherLogits">The teacher's logits [B, classes], computed without gradients; null in plain training.</param>
    public DistillationContext(Tensor studentLogits, Tensor labels, Tensor? teacherLogits = null)
    {
        ArgumentNullException.ThrowIfNull(studentLogits);
        ArgumentNullException.ThrowIfNull(labels);
        StudentLogits = studentLogits;
        Labels = labels;
        TeacherLogits = teacherLogits;
    }

    /// <summary>The student's logits [B, classes], attached to the graph.</summary>
    public Tensor StudentLogits { get; }

    /// <summary>The teacher's logits [B, classes], without gradients; null in plain training.</summary>
    public Tensor? TeacherLogits { get; }

    /// <summary>The int64 labels [B].</summary>
    public Tensor Labels { get; }

    /// <summary>
    /// For a mixed batch (<see cref="Data.AugmentationOptions.MixupAlpha"/>,
    /// <see cref="Data.AugmentationOptions.CutMixAlpha"/>): the int64 label [B] of the partner
    /// image mixed into each image; null when the batch is not mixed. A loss that reads labels
    /// weighs <see cref="Labels"/> by <see cref="MixWeight"/> and these by 1 − <see cref="MixWeight"/>.
    /// </summary>
    public Tensor? PartnerLabels { get; init; }

    /// <summary>λ of a mixed batch: the share of each image's own label; 1 when the batch is not mixed.</summary>
    public double MixWeight { get; init; } = 1;

    /// <summary>The student's hooked module outputs by module path (attached to the graph).</summary>
    public IReadOnlyDictionary<string, Tensor> StudentFeatures { get; init; } = NoFeatures;

    /// <summary>The teacher's hooked module outputs by module path (without gradients).</summary>
    public IReadOnlyDictionary<string, Tensor> TeacherFeatures { get; init; } = NoFeatures;

    /// <summary>The epoch this batch belongs to, from 1.</summary>
    public int Epoch { get; init; } = 1;

    /// <summary>Epochs in the run.</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>The step within the epoch, from 0.</summary>
    public int Step { get; init; }

    /// <summary>The teacher's logits, or an error saying the loss needs a teacher.</summary>
    /// <param name="lossName">The loss asking, for the message.</param>
    /// <returns>The teacher's logits.</returns>
    /// <exception cref="InvalidOperationException">There is no teacher output in this context.</exception>
    public Tensor RequireTeacherLogits(string lossName) =>
        TeacherLogits ?? throw new InvalidOperationException($"The {lossName} loss needs the teacher's logits, and this context has none (plain training?).");

    /// <summary>The student's output of module <paramref name="path"/>, or an error naming what was captured.</summary>
    /// <param name="path">The module path.</param>
    /// <param name="lossName">The loss asking, for the message.</param>
    /// <returns>The feature tensor.</returns>
    public Tensor RequireStudentFeature(string path, string lossName) => Require(StudentFeatures, path, lossName, "student");

    /// <summary>The teacher's output of module <paramref name="path"/>, or an error naming what was captured.</summary>
    /// <param name="path">The module path.</param>
    /// <param name="lossName">The loss asking, for the message.</param>
    /// <returns>The feature tensor.</returns>
    public Tensor RequireTeacherFeature(string path, string lossName) => Require(TeacherFeatures, path, lossName, "teacher");

    private static Tensor Require(IReadOnlyDictionary<string, Tensor> features, string path, string lossName, string model) =>
        features.TryGetValue(path, out var feature)
            ? feature
            : throw new InvalidOperationException(
                $"The {lossName} loss needs the {model}'s output of module '{path}', which was not captured (captured: {(features.Count == 0 ? "none" : string.Join(", ", features.Keys))}).");
}
