using Distillation.Devices;
using TorchSharp;

namespace Distillation.Models;

/// <summary>Saving and loading a module's weights in TorchSharp's format, so a trained teacher can be reused.</summary>
public static class ModuleWeights
{
    /// <summary>
    /// Writes the module's state dict to <paramref name="path"/> atomically: to a temporary file in
    /// the same folder, then renamed over the target, so an interrupted save never leaves a
    /// half-written file under that name.
    /// </summary>
    /// <param name="module">The module.</param>
    /// <param name="path">The weights file; its folder is created if needed.</param>
    public static void SaveWeights(this torch.nn.Module module, string path)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        TorchRuntime.EnsureAvailable();
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temporary = full + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            {
                // TorchSharp's save(Stream) closes the stream; keep it open to flush it to disk before the rename.
                using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
                {
                    module.save(writer);
                }

                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Loads weights saved by <see cref="SaveWeights"/> (or TorchSharp's <c>save</c>) into the module.</summary>
    /// <param name="module">The module, of the same architecture as the one saved.</param>
    /// <param name="path">The weights file.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file does not fit the module (another architecture, or not a weights file).</exception>
    public static void LoadWeights(this torch.nn.Module module, string path)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        TorchRuntime.EnsureAvailable();
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"Weights file {full} does not exist.", full);
        }

        try
        {
            using var stream = File.OpenRead(full);
            module.load(stream, strict: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or EndOfStreamException or IOException and not FileNotFoundException)
        {
            throw new InvalidDataException($"Weights file {full} does not fit {module.GetName()}: {e.Message}", e);
        }
    }
}
