namespace Distillation.Training;

/// <summary>
/// A frozen teacher as distillation sees it: something that gives logits (and, where it can, the
/// outputs of named submodules) for a batch of images. A live TorchSharp module, a bfloat16 copy of
/// one, a cache of its outputs, logits computed elsewhere, an ONNX model and an ensemble of any of
/// these are all teachers; decorators (<see cref="DelegatingTeacher"/>) compose them, as
/// <see cref="Teacher.From"/><c>.UseBFloat16().UseCache()</c> does. Each kind owns
/// its rules: <see cref="Prepare"/> refuses, with one line, what the kind cannot do.
/// </summary>
/// <remarks>
/// One preparation at a time: the trainer calls <see cref="Prepare"/> before the first batch,
/// <see cref="Forward"/> per batch, and disposes the preparation when the call ends, whether it
/// returns or throws. A teacher disposes what it owns; a decorator owns its inner teacher.
/// </remarks>
public interface ITeacher : IDisposable
{
    /// <summary>
    /// A digest that differs whenever the teacher's outputs may differ (its weights, its file, its
    /// number format): the key of the output cache and the teacher's part of a checkpoint's identity.
    /// </summary>
    string Fingerprint { get; }

    /// <summary>
    /// Gets ready for one run that needs what <paramref name="request"/> says, or refuses it.
    /// Refusals come before any work: a teacher that cannot give features, follow augmented images,
    /// or cover the data throws before anything is converted, loaded or computed.
    /// </summary>
    /// <param name="request">The data, device, feature paths and use of the run.</param>
    /// <returns>The preparation; dispose it when the run ends to release what it holds.</returns>
    /// <exception cref="ArgumentException">The run needs something this teacher cannot give (features, a class count, a row count); the message says what.</exception>
    /// <exception cref="InvalidOperationException">The run's settings do not fit this teacher (for example augmentation with logits of the un-augmented images).</exception>
    /// <exception cref="NotSupportedException">The use is not supported (for example evaluating logits that belong to the training set).</exception>
    TeacherPreparation Prepare(TeacherRequest request);

    /// <summary>
    /// The teacher's outputs for one batch, computed without gradients. The tensors join the
    /// caller's dispose scope.
    /// </summary>
    /// <param name="batch">The images the student sees and their positions in the prepared data.</param>
    /// <returns>Float32 logits [batch, classes] and the requested features by module path.</returns>
    TeacherOutput Forward(TeacherBatch batch);

    /// <summary>
    /// An object of <paramref name="serviceType"/> that this teacher or one it decorates holds, such
    /// as the TorchSharp module of a live teacher; null when there is none. Decorators ask their
    /// inner teacher, as Microsoft.Extensions.AI's chat clients do.
    /// </summary>
    /// <param name="serviceType">The type asked for.</param>
    /// <returns>The object, or null.</returns>
    object? GetService(Type serviceType);
}
