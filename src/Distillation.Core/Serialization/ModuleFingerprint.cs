using System.Security.Cryptography;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Serialization;

/// <summary>A SHA-256 digest of a module's state dict: names, types, shapes and values.</summary>
internal static class ModuleFingerprint
{
    /// <summary>The digest as lowercase hex; equal for modules with equal weights, whatever their device.</summary>
    public static string Of(nn.Module module)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var scope = NewDisposeScope();
        foreach (var (name, tensor) in module.state_dict().OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{name}|{tensor.dtype}|{string.Join(",", tensor.shape)}|"));
            var values = tensor.detach().cpu().contiguous();
            hash.AppendData(values.bytes);
        }

        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }
}
