namespace Distillation.Onnx;

/// <summary>
/// A module cannot be exported to ONNX: its type has no emitter, or its configuration has no ONNX
/// equivalent. Thrown before anything is written; the message names the module's path and type.
/// </summary>
public sealed class OnnxExportException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="modulePath">The module's path in the exported tree (<c>features.3</c>); empty for the root module.</param>
    /// <param name="moduleType">The module's type.</param>
    /// <param name="reason">Why it cannot be exported.</param>
    public OnnxExportException(string modulePath, Type moduleType, string reason)
        : base($"Cannot export module '{(string.IsNullOrEmpty(modulePath) ? "(root)" : modulePath)}' ({moduleType?.FullName}) to ONNX: {reason}")
    {
        ArgumentNullException.ThrowIfNull(modulePath);
        ArgumentNullException.ThrowIfNull(moduleType);
        ModulePath = modulePath;
        ModuleType = moduleType;
    }

    /// <summary>The module's path in the exported tree, as in its parameter names (<c>features.3</c>); empty for the root module.</summary>
    public string ModulePath { get; }

    /// <summary>The module's type.</summary>
    public Type ModuleType { get; }
}
