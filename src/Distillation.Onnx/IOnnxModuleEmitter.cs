using TorchSharp;

namespace Distillation.Onnx;

/// <summary>
/// Writes the ONNX nodes of one kind of module. Register one in <see cref="OnnxExportOptions.Emitters"/>
/// for a module type you cannot change (a third-party layer); for your own modules, implementing
/// <see cref="IOnnxExportable"/> is simpler.
/// </summary>
public interface IOnnxModuleEmitter
{
    /// <summary>Adds the nodes computing <paramref name="layer"/>'s eval-mode forward pass.</summary>
    /// <param name="context">Adds nodes, initializers and child modules to the graph.</param>
    /// <param name="layer">The module to export; its type is the one the emitter was registered for, or derives from it.</param>
    /// <param name="input">The module's input.</param>
    /// <returns>The module's output, a value created through <paramref name="context"/>.</returns>
    /// <exception cref="OnnxExportException">The module's configuration cannot be expressed; create it with <see cref="OnnxEmitContext.Unsupported"/>.</exception>
    OnnxValue Emit(OnnxEmitContext context, torch.nn.Module layer, OnnxValue input);
}

/// <summary>A module that writes its own ONNX nodes: implement it on your own module type.</summary>
public interface IOnnxExportable
{
    /// <summary>Adds the nodes computing this module's eval-mode forward pass.</summary>
    /// <param name="context">Adds nodes, initializers and child modules to the graph.</param>
    /// <param name="input">The module's input.</param>
    /// <returns>The module's output, a value created through <paramref name="context"/>.</returns>
    /// <exception cref="OnnxExportException">The module's configuration cannot be expressed; create it with <see cref="OnnxEmitContext.Unsupported"/>.</exception>
    OnnxValue EmitOnnx(OnnxEmitContext context, OnnxValue input);
}
