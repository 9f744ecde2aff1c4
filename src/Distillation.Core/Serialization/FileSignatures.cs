namespace Distillation.Serialization;

/// <summary>
/// The signatures that open the library's own binary files, kept here, below the code that writes
/// them, so a reader of one kind can name another kind it is handed by mistake without importing
/// its writer.
/// </summary>
internal static class FileSignatures
{
    /// <summary>Opens a training checkpoint (written by the trainer's checkpoints, as a length-prefixed string).</summary>
    public const string Checkpoint = "Distillation.Checkpoint";
}
