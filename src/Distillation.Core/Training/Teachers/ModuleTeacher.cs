using Distillation.Losses;
using Distillation.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// A TorchSharp module as a live teacher: each batch runs through it in eval mode without
/// gradients, and forward hooks capture the outputs of the module paths a loss asks for. Its
/// fingerprint is the SHA-256 of its state dict, so a teacher trained further is a new teacher.
/// </summary>
/// <typeparam name="TModule">The module's type.</typeparam>
internal sealed class ModuleTeacher<TModule> : ITeacher
    where TModule : nn.Module<Tensor, Tensor>
{
    private readonly bool ownsModule;
    private FeatureCapture? capture;
    private bool prepared;

    /// <summary>Wraps <paramref name="module"/>.</summary>
    /// <param name="module">The teacher's network.</param>
    /// <param name="ownsModule">True to dispose the module with this teacher.</param>
    /// <exception cref="ArgumentNullException"><paramref name="module"/> is null.</exception>
    public ModuleTeacher(TModule module, bool ownsModule = false)
    {
        ArgumentNullException.ThrowIfNull(module);
        Module = module;
        this.ownsModule = ownsModule;
    }

    /// <summary>The teacher's network.</summary>
    public TModule Module { get; }

    /// <summary>The SHA-256 of the module's state dict (names, dtypes, shapes, values), as lowercase hex.</summary>
    public string Fingerprint => ModuleFingerprint.Of(Module);

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">A feature path is not a module of the network; the message lists the paths it has.</exception>
    /// <exception cref="InvalidOperationException">The teacher is already prepared for another run.</exception>
    public TeacherPreparation Prepare(TeacherRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (prepared)
        {
            throw new InvalidOperationException($"The teacher {Module.GetName()} is already prepared for another run; one run at a time uses a live teacher.");
        }

        var hooks = new FeatureCapture(Module, request.FeaturePaths);
        var wasTraining = Module.training;
        Module.to(request.Device);
        Module.eval();
        capture = hooks;
        prepared = true;
        return new TeacherPreparation(() =>
        {
            hooks.Dispose();
            capture = null;
            Module.train(wasTraining);
            prepared = false;
        }, outputsCached: false);
    }

    /// <inheritdoc/>
    public TeacherOutput Forward(TeacherBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var noGrad = no_grad();
        var logits = Module.call(batch.Images);
        if (capture is not { Outputs.Count: > 0 } hooks)
        {
            return new TeacherOutput(logits, DistillationContext.NoFeatures);
        }

        var features = hooks.Outputs.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        hooks.Clear();
        return new TeacherOutput(logits, features);
    }

    /// <inheritdoc/>
    public object? GetService(Type serviceType)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceType.IsInstanceOfType(this) ? this : serviceType.IsInstanceOfType(Module) ? Module : null;
    }

    /// <summary>Disposes the module when this teacher owns it.</summary>
    public void Dispose()
    {
        capture?.Dispose();
        if (ownsModule)
        {
            Module.Dispose();
        }
    }
}
