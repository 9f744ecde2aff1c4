using System.Security.Cryptography;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// Several teachers as one: its logits are the mean of the members' log-probabilities
/// (log-softmax of each member's logits), whose softmax is the members' normalized geometric mean.
/// Each member is any <see cref="ITeacher"/> (a live module, an ONNX model, logits from a file,
/// snapshots of one run), prepared and run in turn. Logits only: members' features have no common
/// meaning. The ensemble owns its members and disposes them.
/// </summary>
internal sealed class EnsembleTeacher : ITeacher
{
    private readonly ITeacher[] members;

    /// <summary>Creates an ensemble.</summary>
    /// <param name="members">Two or more teachers.</param>
    /// <exception cref="ArgumentException">Fewer than two members, a null member, or one member given twice.</exception>
    public EnsembleTeacher(IEnumerable<ITeacher> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        this.members = members.ToArray();
        if (this.members.Length < 2)
        {
            throw new ArgumentException($"An ensemble needs at least two teachers; it was given {this.members.Length}.", nameof(members));
        }

        if (this.members.Any(m => m is null))
        {
            throw new ArgumentException("An ensemble's teachers must not be null.", nameof(members));
        }

        if (this.members.Distinct(ReferenceEqualityComparer.Instance).Count() != this.members.Length)
        {
            throw new ArgumentException("An ensemble was given the same teacher twice; a teacher is prepared once per run. Pass a second instance, or weight it by design.", nameof(members));
        }
    }

    /// <summary>The members, in order.</summary>
    public IReadOnlyList<ITeacher> Members => members;

    /// <summary>The SHA-256 of the members' fingerprints in order.</summary>
    public string Fingerprint
    {
        get
        {
            var joined = "ensemble|" + string.Join("|", members.Select(m => m.Fingerprint));
            return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(joined))).ToLowerInvariant();
        }
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The loss reads features, or a member refuses.</exception>
    public TeacherPreparation Prepare(TeacherRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.ThrowIfFeaturesRequested(nameof(EnsembleTeacher));

        var prepared = new List<TeacherPreparation>(members.Length);
        void ReleaseAll()
        {
            for (var i = prepared.Count - 1; i >= 0; i--)
            {
                prepared[i].Dispose();
            }
        }

        try
        {
            foreach (var member in members)
            {
                prepared.Add(member.Prepare(request));
            }
        }
        catch
        {
            ReleaseAll();
            throw;
        }

        return new TeacherPreparation(ReleaseAll, outputsCached: prepared.TrueForAll(p => p.OutputsCached));
    }

    /// <summary>The mean of the members' log-softmax outputs, float32.</summary>
    /// <exception cref="InvalidOperationException">Members disagree on the logits' shape; the message names both.</exception>
    public TeacherOutput Forward(TeacherBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        Tensor? sum = null;
        long[]? firstShape = null;
        for (var i = 0; i < members.Length; i++)
        {
            var logits = members[i].Forward(batch).Logits;
            if (firstShape is not null && !logits.shape.SequenceEqual(firstShape))
            {
                throw new InvalidOperationException(
                    $"Ensemble member {i} ({members[i].GetType().Name}) gives logits [{string.Join(", ", logits.shape)}], member 0 gives [{string.Join(", ", firstShape)}]; every member must give one row per image and one column per class.");
            }

            firstShape ??= logits.shape;
            var logProbabilities = nn.functional.log_softmax(logits.to(ScalarType.Float32), 1);
            sum = sum is null ? logProbabilities : sum.add_(logProbabilities);
        }

        return new TeacherOutput(sum!.div_(members.Length), Losses.DistillationContext.NoFeatures);
    }

    /// <summary>This ensemble when asked for it; null otherwise (its members are not one model).</summary>
    public object? GetService(Type serviceType)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Disposes every member.</summary>
    public void Dispose()
    {
        foreach (var member in members)
        {
            member.Dispose();
        }
    }
}
