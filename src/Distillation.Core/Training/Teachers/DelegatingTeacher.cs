namespace Distillation.Training;

/// <summary>
/// A teacher that passes every call to an inner teacher: the base of decorators such as the
/// bfloat16 copy and the output cache, which override what they change.
/// </summary>
public abstract class DelegatingTeacher : ITeacher
{
    private bool disposed;

    /// <summary>Wraps <paramref name="inner"/>, which this teacher then owns.</summary>
    /// <param name="inner">The teacher to delegate to.</param>
    /// <exception cref="ArgumentNullException"><paramref name="inner"/> is null.</exception>
    protected DelegatingTeacher(ITeacher inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        Inner = inner;
    }

    /// <summary>The teacher this one decorates.</summary>
    protected ITeacher Inner { get; }

    /// <inheritdoc/>
    public virtual string Fingerprint => Inner.Fingerprint;

    /// <inheritdoc/>
    public virtual TeacherPreparation Prepare(TeacherRequest request) => Inner.Prepare(request);

    /// <inheritdoc/>
    public virtual TeacherOutput Forward(TeacherBatch batch) => Inner.Forward(batch);

    /// <inheritdoc/>
    public virtual object? GetService(Type serviceType)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceType.IsInstanceOfType(this) ? this : Inner.GetService(serviceType);
    }

    /// <summary>Disposes the inner teacher.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Disposes the inner teacher when <paramref name="disposing"/>.</summary>
    /// <param name="disposing">True from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing && !disposed)
        {
            disposed = true;
            Inner.Dispose();
        }
    }
}
