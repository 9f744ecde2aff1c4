using Distillation.IO;
using TorchSharp;

namespace Distillation.Serialization;

/// <summary>
/// A source's entries (a weights file, a safetensors or PyTorch file, a dictionary) matched key by
/// key against a module's state dict: the one comparison behind every load of <see cref="ModuleWeights"/>
/// (its own format and PyTorch's), so all name the same faults the same way.
/// </summary>
internal sealed class StateDictMatch
{
    // Enough to recognise a file of another model; the count says how many more there are.
    private const int ListedUnexpectedKeys = 20;

    private StateDictMatch(List<string> matched, List<string> missing, List<string> unexpected, List<StateDictShapeMismatch> shapes, List<string> dtypes)
    {
        Matched = matched;
        Missing = missing;
        Unexpected = unexpected;
        ShapeMismatches = shapes;
        DTypeMismatches = dtypes;
    }

    /// <summary>The keys on both sides whose shapes (and dtypes, where compared) agree, in the module's order.</summary>
    public IReadOnlyList<string> Matched { get; }

    /// <summary>The module's keys the source lacks, in the module's order.</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>The source's keys the module lacks, in ordinal order.</summary>
    public IReadOnlyList<string> Unexpected { get; }

    /// <summary>The keys on both sides whose shapes differ.</summary>
    public IReadOnlyList<StateDictShapeMismatch> ShapeMismatches { get; }

    /// <summary>The keys on both sides of equal shape whose dtypes differ, each described.</summary>
    public IReadOnlyList<string> DTypeMismatches { get; }

    /// <summary>Matches <paramref name="source"/> against <paramref name="target"/>.</summary>
    /// <param name="target">The module's state dict.</param>
    /// <param name="source">The source's entries by key.</param>
    /// <param name="shapeOf">An entry's shape.</param>
    /// <param name="dtypeOf">An entry's dtype, or null to compare shapes only (a copy converts the dtype).</param>
    public static StateDictMatch Of<TEntry>(IReadOnlyDictionary<string, torch.Tensor> target, IReadOnlyDictionary<string, TEntry> source, Func<TEntry, IReadOnlyList<long>> shapeOf, Func<TEntry, torch.ScalarType>? dtypeOf = null)
    {
        var matched = new List<string>();
        var missing = new List<string>();
        var shapes = new List<StateDictShapeMismatch>();
        var dtypes = new List<string>();
        foreach (var (key, tensor) in target)
        {
            if (!source.TryGetValue(key, out var entry))
            {
                missing.Add(key);
                continue;
            }

            var shape = shapeOf(entry);
            if (!shape.SequenceEqual(tensor.shape))
            {
                shapes.Add(new StateDictShapeMismatch(key, shape, tensor.shape));
            }
            else if (dtypeOf is not null && dtypeOf(entry) is var dtype && dtype != tensor.dtype)
            {
                dtypes.Add($"{key}: {dtype} in the file, {tensor.dtype} in the module");
            }
            else
            {
                matched.Add(key);
            }
        }

        var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        return new StateDictMatch(matched, missing, unexpected, shapes, dtypes);
    }

    /// <summary>
    /// What does not fit, one phrase per kind of fault, empty when the source fits. A non-strict
    /// load tolerates missing and unexpected keys, never a shape or dtype that differs.
    /// </summary>
    /// <param name="strict">True to count missing and unexpected keys as faults.</param>
    /// <param name="sourceWord">What the source is called in the phrases ("file", "source").</param>
    public IReadOnlyList<string> Problems(bool strict, string sourceWord)
    {
        var problems = new List<string>();
        if (strict && Missing.Count > 0)
        {
            problems.Add($"missing keys (in the module, not in the {sourceWord}): {string.Join(", ", Missing)}");
        }

        if (strict && Unexpected.Count > 0)
        {
            var more = Unexpected.Count > ListedUnexpectedKeys ? $" and {Unexpected.Count - ListedUnexpectedKeys} more" : "";
            problems.Add($"unexpected keys (in the {sourceWord}, not in the module): {string.Join(", ", Unexpected.Take(ListedUnexpectedKeys).Select(key => PrintableText.Of(key)))}{more}");
        }

        if (ShapeMismatches.Count > 0)
        {
            problems.Add($"shape mismatch: {string.Join("; ", ShapeMismatches)}");
        }

        if (DTypeMismatches.Count > 0)
        {
            problems.Add($"dtype mismatch: {string.Join("; ", DTypeMismatches)}");
        }

        return problems;
    }
}
