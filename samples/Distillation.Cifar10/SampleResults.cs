using System.Text.Json;
using System.Text.Json.Serialization;
using Distillation.Training;

namespace Distillation.Cifar10;

/// <summary>One trained model's line in the results table and file.</summary>
internal sealed record RunSummary(
    string Name,
    string Phase,
    string Loss,
    long Parameters,
    double TrainingSeconds,
    double? LastEpochLoss,
    double TestAccuracy,
    IReadOnlyList<EpochSummary> Epochs);

/// <summary>One epoch in the results file.</summary>
internal sealed record EpochSummary(int Epoch, double MeanLoss, IReadOnlyDictionary<string, double> LossParts, double ImagesPerSecond, double Seconds);

/// <summary>Everything the sample writes to results.json.</summary>
internal sealed record SampleResults(
    DateTimeOffset CreatedUtc,
    string Device,
    int Threads,
    string DataFolder,
    int TrainImages,
    int TestImages,
    SampleSettings Settings,
    IReadOnlyList<RunSummary> Runs)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static RunSummary Summarize(string name, TrainingResult result) => new(
        name,
        result.Phase.ToString(),
        result.LossName,
        result.Parameters,
        Math.Round(result.TrainingTime.TotalSeconds, 2),
        result.LastEpochLoss,
        result.FinalAccuracy ?? double.NaN,
        result.History.Select(e => new EpochSummary(e.Epoch, e.MeanLoss, e.LossParts, Math.Round(e.ImagesPerSecond, 1), Math.Round(e.TrainingTime.TotalSeconds, 2))).ToArray());

    /// <summary>Writes the file atomically: a temporary file renamed over the target.</summary>
    public void WriteTo(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(this, Json));
        File.Move(temporary, path, overwrite: true);
    }
}
