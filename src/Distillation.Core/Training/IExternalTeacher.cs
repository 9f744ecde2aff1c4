namespace Distillation.Training;

/// <summary>
/// A teacher that is not a tree of TorchSharp modules, such as an ONNX model run by ONNX Runtime
/// or logits computed elsewhere. It supplies logits only (there are no submodules whose features a
/// loss could hook), and its identity is <see cref="Fingerprint"/> rather than a digest of
/// parameters it does not have: the trainer keys the teacher-output cache and the checkpoints'
/// teacher identity with it, so two different external teachers never share either.
/// </summary>
public interface IExternalTeacher
{
    /// <summary>
    /// A digest that differs whenever the teacher's outputs may differ, for example the SHA-256 of
    /// the model or logits file, as lowercase hex.
    /// </summary>
    string Fingerprint { get; }
}
