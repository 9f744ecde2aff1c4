using System.Collections;
using System.Text.Json;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Distillation.Models.Tests.Zoo;

/// <summary>The reference data written by eng/make-zoo-fixtures.py from RepDistiller's code and torchvision 0.14.</summary>
internal static class ZooReference
{
    public static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "zoo");

    /// <summary>Names the folder of the large, uncommitted logits cases (written by the script's --large-dir).</summary>
    public const string LargeFixturesVariable = "DISTILLATION_ZOO_LARGE_FIXTURES";

    private static readonly Lazy<JsonElement> Models = new(() =>
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "reference-models.json")));
        return document.RootElement.GetProperty("models").Clone();
    });

    public static IEnumerable<string> ModelNames => Models.Value.EnumerateObject().Select(p => p.Name);

    public static long ParameterCount(string model) => Models.Value.GetProperty(model).GetProperty("parameters").GetInt64();

    /// <summary>The reference state dict's keys, in order, each with its shape.</summary>
    public static IReadOnlyList<string> StateDict(string model) =>
        Models.Value.GetProperty(model).GetProperty("state_dict").EnumerateArray()
            .Select(entry => $"{entry[0].GetString()} [{string.Join(", ", entry[1].EnumerateArray().Select(d => d.GetInt64()))}]")
            .ToList();

    /// <summary>The logits cases listed in a folder's cases.json: model name, input size, batch.</summary>
    public static IReadOnlyList<LogitsCase> Cases(string folder)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "cases.json")));
        return document.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => new LogitsCase(folder, c.GetProperty("model").GetString()!, c.GetProperty("classes").GetInt32(), c.GetProperty("input_size").GetInt32(), c.GetProperty("dtype").GetString()!))
            .ToList();
    }

    /// <summary>Reads a torch.save'd dictionary of tensors (the case's input and PyTorch's logits).</summary>
    public static Dictionary<string, Tensor> ReadTensors(string path)
    {
        using var stream = File.OpenRead(path);
        var table = PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: false, skipTensorRead: false);
        return table.Cast<DictionaryEntry>().ToDictionary(e => (string)e.Key, e => (Tensor)e.Value!);
    }
}

internal sealed record LogitsCase(string Folder, string Model, int Classes, int InputSize, string DType)
{
    public string StateDictPath => Path.Combine(Folder, Model + ".pth");

    public string InputOutputPath => Path.Combine(Folder, Model + ".io.pth");
}
