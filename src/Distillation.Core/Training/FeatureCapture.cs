using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// Records the outputs of named submodules of any model during its forward pass, through forward
/// hooks registered by module path (<c>features</c>, <c>features.3</c>, <c>layer2.1.conv</c>, …) as
/// torchdistill does, so feature-based losses work on models that were not written for them.
/// Hooks fire when the model is invoked with <c>call()</c>; dispose the capture to remove them.
/// </summary>
internal sealed class FeatureCapture : IDisposable
{
    private readonly Dictionary<string, Tensor> outputs = new(StringComparer.Ordinal);
    private readonly List<Action> removeHooks = [];

    /// <summary>Registers a forward hook on each module path.</summary>
    /// <param name="model">The model whose submodules are observed.</param>
    /// <param name="modulePaths">Dotted module paths as <c>named_modules()</c> names them.</param>
    /// <exception cref="ArgumentException">
    /// A path does not exist (the message lists the available ones), or names a module that does not
    /// map a tensor to a tensor. Every path is checked before any hook is registered, so a failed
    /// capture leaves the model without hooks.
    /// </exception>
    public FeatureCapture(nn.Module model, IEnumerable<string> modulePaths)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(modulePaths);
        var modules = model.named_modules().Where(m => m.Item1.Length > 0).ToDictionary(m => m.Item1, m => m.Item2, StringComparer.Ordinal);

        // Check every path before hooking any: a constructor that throws is never disposed, so a
        // hook registered before the faulty path would stay on the model for good.
        var hooked = new List<(string Path, nn.Module<Tensor, Tensor> Module)>();
        foreach (var path in modulePaths.Distinct(StringComparer.Ordinal))
        {
            if (!modules.TryGetValue(path, out var module))
            {
                throw new ArgumentException(
                    $"The model {model.GetName()} has no module '{path}'. Available paths: {string.Join(", ", modules.Keys)}.", nameof(modulePaths));
            }

            if (module is not nn.Module<Tensor, Tensor> tensorModule)
            {
                throw new ArgumentException($"Module '{path}' of {model.GetName()} is a {module.GetType().Name}, which does not map one tensor to one tensor.", nameof(modulePaths));
            }

            hooked.Add((path, tensorModule));
        }

        foreach (var (path, tensorModule) in hooked)
        {
            var hook = tensorModule.register_forward_hook((_, _, output) =>
            {
                // TorchSharp's Sequential disposes its intermediate outputs; keep a handle of our own
                // (an alias: same storage, still in the autograd graph), owned by the step's dispose scope.
                outputs[path] = output.alias();
                return output;
            });
            removeHooks.Add(hook.remove);
            Paths.Add(path);
        }
    }

    /// <summary>The observed module paths.</summary>
    public IList<string> Paths { get; } = [];

    /// <summary>The outputs recorded since the last <see cref="Clear"/>, by module path.</summary>
    public IReadOnlyDictionary<string, Tensor> Outputs => outputs;

    /// <summary>Forgets the recorded outputs (they belong to the step's dispose scope).</summary>
    public void Clear() => outputs.Clear();

    /// <summary>Removes the hooks.</summary>
    public void Dispose()
    {
        foreach (var remove in removeHooks)
        {
            remove();
        }

        removeHooks.Clear();
        outputs.Clear();
    }
}
