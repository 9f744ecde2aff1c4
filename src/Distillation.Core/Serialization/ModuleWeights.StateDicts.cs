using System.Collections;
using Distillation.Devices;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Distillation.Serialization;

// PyTorch's state dicts: loads weights saved by PyTorch into any TorchSharp module by parameter and
// buffer name, with the semantics of PyTorch's load_state_dict, and exports a module's state dict as
// safetensors so it can go back to PyTorch. A load checks everything before it copies anything (when it
// throws, the module is unchanged); values are copied under no_grad into the module's existing tensors,
// converted to each tensor's dtype and device, so optimizers holding the parameters stay valid.
public static partial class ModuleWeights
{
    /// <summary>
    /// Loads a safetensors file (for example written in Python by
    /// <c>safetensors.torch.save_file(model.state_dict(), path)</c>) into the module.
    /// </summary>
    /// <param name="module">The module; its parameter and buffer names must match the file's tensor names.</param>
    /// <param name="path">The safetensors file.</param>
    /// <param name="strict">
    /// True (the default) to require that the file and the module have exactly the same keys;
    /// false to load the common keys and report the others in the result.
    /// </param>
    /// <returns>The keys loaded, missing and unexpected.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not valid safetensors (see <see cref="Safetensors.Read(string)"/>).</exception>
    /// <exception cref="IOException">Keys are missing or unexpected in a strict load, or a shape differs.</exception>
    public static StateDictLoadResult LoadSafetensors(this nn.Module module, string path, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var content = Safetensors.Read(path);
        return Apply(module, content.Tensors, strict, $"Safetensors file {Path.GetFullPath(path)}");
    }

    /// <summary>
    /// Writes the module's state dict (parameters and persistent buffers, by name) as a
    /// safetensors file, atomically: to a temporary file, then renamed over <paramref name="path"/>.
    /// PyTorch reads it with <c>safetensors.torch.load_file(path)</c>.
    /// </summary>
    /// <param name="module">The module.</param>
    /// <param name="path">The file; its folder is created if needed.</param>
    /// <param name="metadata">Optional string metadata, stored under <c>__metadata__</c>.</param>
    /// <exception cref="NotSupportedException">A tensor's dtype has no safetensors name this library writes.</exception>
    public static void SaveSafetensors(this nn.Module module, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        TorchRuntime.EnsureAvailable();
        Safetensors.Write(path, module.state_dict(), metadata);
    }

    /// <summary>
    /// Loads a state dict saved by PyTorch with <c>torch.save(model.state_dict(), path)</c>
    /// (a <c>.pth</c> or <c>.pt</c> zip file), read by TorchSharp.PyBridge.
    /// </summary>
    /// <remarks>
    /// The pickle is read by TorchSharp.PyBridge's restricted unpickler, which rebuilds tensors
    /// and never runs Python code; it is not validated as thoroughly as safetensors. Prefer
    /// safetensors for files from untrusted sources.
    /// </remarks>
    /// <param name="module">The module; its parameter and buffer names must match the state dict's keys.</param>
    /// <param name="path">The file written by <c>torch.save</c>.</param>
    /// <param name="strict">True (the default) to require exactly the same keys; false to load the common keys and report the others.</param>
    /// <returns>The keys loaded, missing and unexpected.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file cannot be read as a PyTorch state dict of tensors.</exception>
    /// <exception cref="IOException">Keys are missing or unexpected in a strict load, or a shape differs.</exception>
    public static StateDictLoadResult LoadPyTorchStateDict(this nn.Module module, string path, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        TorchRuntime.EnsureAvailable();
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"PyTorch file {full} does not exist.", full);
        }

        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            Hashtable raw;
            try
            {
                using var stream = File.OpenRead(full);
                raw = PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: false, skipTensorRead: false);
            }
            catch (Exception e) when (e is not (OutOfMemoryException or FileNotFoundException or UnauthorizedAccessException))
            {
                throw new InvalidDataException($"PyTorch file {full} cannot be read as a state dict saved by torch.save: {e.Message}", e);
            }

            foreach (DictionaryEntry entry in raw)
            {
                if (entry.Key is not string key || entry.Value is not Tensor tensor)
                {
                    DisposeValues(raw);
                    tensors.Clear();
                    throw new InvalidDataException($"PyTorch file {full}: entry \"{entry.Key}\" is a {entry.Value?.GetType().Name ?? "null"}, not a tensor; save model.state_dict(), not the model or a checkpoint dictionary.");
                }

                tensors.Add(key, tensor);
            }

            return Apply(module, tensors, strict, $"PyTorch file {full}");
        }
        finally
        {
            foreach (var tensor in tensors.Values)
            {
                tensor.Dispose();
            }
        }
    }

    /// <summary>
    /// Copies a state dict (names to tensors, on any device and in any dtype) into the module's
    /// parameters and buffers, like PyTorch's <c>load_state_dict</c>.
    /// </summary>
    /// <param name="module">The module.</param>
    /// <param name="stateDict">The values by parameter or buffer name; not modified or disposed.</param>
    /// <param name="strict">True (the default) to require exactly the same keys; false to load the common keys and report the others.</param>
    /// <returns>The keys loaded, missing and unexpected.</returns>
    /// <exception cref="IOException">Keys are missing or unexpected in a strict load, or a shape differs.</exception>
    public static StateDictLoadResult LoadStateDict(this nn.Module module, IReadOnlyDictionary<string, Tensor> stateDict, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(stateDict);
        TorchRuntime.EnsureAvailable();
        return Apply(module, stateDict, strict, "The state dict");
    }

    private static StateDictLoadResult Apply(nn.Module module, IReadOnlyDictionary<string, Tensor> source, bool strict, string sourceDescription)
    {
        if (source.FirstOrDefault(entry => entry.Value is null) is { Key: { } nullKey })
        {
            throw new ArgumentException($"The value for \"{nullKey}\" is null.", nameof(source));
        }

        var target = module.state_dict();
        var match = StateDictMatch.Of(target, source, value => value.shape);
        var problems = match.Problems(strict, "source");
        if (problems.Count > 0)
        {
            throw new StateDictMismatchException(
                $"{sourceDescription} does not fit {module.GetName()}, nothing was loaded: {string.Join("; ", problems)}.",
                strict ? match.Missing : [],
                strict ? match.Unexpected : [],
                match.ShapeMismatches);
        }

        using (no_grad())
        {
            foreach (var key in match.Matched)
            {
                // copy_ converts dtype and device into the existing tensor, which keeps its identity.
                target[key].copy_(source[key]);
            }
        }

        return new StateDictLoadResult(match.Matched, match.Missing, match.Unexpected);
    }

    private static void DisposeValues(Hashtable raw)
    {
        foreach (DictionaryEntry entry in raw)
        {
            (entry.Value as IDisposable)?.Dispose();
        }
    }
}
