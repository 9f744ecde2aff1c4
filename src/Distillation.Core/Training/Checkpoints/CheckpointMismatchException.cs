namespace Distillation.Training;

/// <summary>A checkpoint to resume from belongs to another run (other phase, loss, epochs, batch size, seed or training set).</summary>
public sealed class CheckpointMismatchException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public CheckpointMismatchException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What does not match.</param>
    public CheckpointMismatchException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What does not match.</param>
    /// <param name="innerException">The cause.</param>
    public CheckpointMismatchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
