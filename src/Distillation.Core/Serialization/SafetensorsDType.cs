using static TorchSharp.torch;

namespace Distillation.Serialization;

/// <summary>The safetensors dtype names this library reads and writes, with their torch types and sizes.</summary>
internal static class SafetensorsDType
{
    private static readonly (string Name, ScalarType Type, int Size)[] Known =
    [
        ("F64", ScalarType.Float64, 8),
        ("F32", ScalarType.Float32, 4),
        ("F16", ScalarType.Float16, 2),
        ("BF16", ScalarType.BFloat16, 2),
        ("I64", ScalarType.Int64, 8),
        ("I32", ScalarType.Int32, 4),
        ("I16", ScalarType.Int16, 2),
        ("I8", ScalarType.Int8, 1),
        ("U8", ScalarType.Byte, 1),
        ("BOOL", ScalarType.Bool, 1),
    ];

    /// <summary>The names accepted, for error messages.</summary>
    public static string SupportedNames { get; } = string.Join(", ", Known.Select(k => k.Name));

    /// <summary>Looks up a safetensors dtype name (case-sensitive, as the format defines them).</summary>
    public static bool TryParse(string name, out ScalarType type, out int size)
    {
        foreach (var known in Known)
        {
            if (string.Equals(known.Name, name, StringComparison.Ordinal))
            {
                type = known.Type;
                size = known.Size;
                return true;
            }
        }

        type = default;
        size = 0;
        return false;
    }

    /// <summary>The safetensors name of a torch type, or null when the format has none this library writes.</summary>
    public static string? NameOf(ScalarType type)
    {
        foreach (var known in Known)
        {
            if (known.Type == type)
            {
                return known.Name;
            }
        }

        return null;
    }
}
