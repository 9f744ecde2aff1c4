using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// Flip test-time augmentation for the labels: each batch runs through the inner teacher as given
/// and mirrored left to right, and the logits are the mean of the two log-probabilities (as
/// <see cref="Teacher.Ensemble"/> combines its members), so the student learns from the teacher's
/// TTA prediction at the cost of a second pass. The inner teacher must run on the images: a teacher
/// whose outputs are looked up by index (precomputed logits, a cache inside this decorator) would
/// give the same row twice, and is refused. Logits only.
/// </summary>
internal sealed class FlipAveragingTeacher(ITeacher inner) : DelegatingTeacher(inner)
{
    /// <summary>The inner teacher's fingerprint, marked: the outputs are its flip averages.</summary>
    public override string Fingerprint => Inner.Fingerprint + "+flip average";

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The loss reads features.</exception>
    /// <exception cref="InvalidOperationException">The inner teacher looks its outputs up instead of running on the images.</exception>
    public override TeacherPreparation Prepare(TeacherRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.ThrowIfFeaturesRequested("with flip averaging");
        var prepared = Inner.Prepare(request);
        if (prepared.OutputsCached)
        {
            prepared.Dispose();
            throw new InvalidOperationException(
                "Flip averaging needs a teacher that runs on the images, and this one looks its outputs up by image index (precomputed logits or a cache): apply UseFlipAveraging to the live teacher, inside any cache.");
        }

        return prepared;
    }

    /// <summary>The mean of the log-softmax of the inner teacher's logits for the batch and for its mirror, float32.</summary>
    public override TeacherOutput Forward(TeacherBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        var plain = nn.functional.log_softmax(Inner.Forward(batch).Logits.to(ScalarType.Float32), 1);
        var mirrored = nn.functional.log_softmax(Inner.Forward(batch with { Images = batch.Images.flip(3), Views = null }).Logits.to(ScalarType.Float32), 1);
        return new TeacherOutput(plain.add(mirrored).div_(2).MoveToOuterDisposeScope(), Losses.DistillationContext.NoFeatures);
    }
}
