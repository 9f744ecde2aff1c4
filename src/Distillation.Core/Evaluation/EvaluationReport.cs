using System.Text.Json;
using System.Text.Json.Serialization;
using Distillation.IO;

namespace Distillation.Evaluation;

/// <summary>Everything measured about one model: its footprint, its detailed evaluation and, optionally, its speed.</summary>
/// <param name="ModelName">The name the model goes by in reports (e.g. <c>teacher</c>, <c>distilled student</c>).</param>
/// <param name="Footprint">Its parameters and weight bytes.</param>
/// <param name="Evaluation">Its accuracy, per class and overall, and confusion matrix.</param>
/// <param name="Speed">Its inference speed; null when not measured.</param>
public sealed partial record EvaluationReport(string ModelName, ModelFootprint Footprint, DetailedEvaluation Evaluation, SpeedMeasurement? Speed = null)
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,

        // A class with no image has NaN accuracy; JSON has no NaN, so it is written as "NaN".
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>
    /// The report as indented JSON with camelCase names. NaN (the accuracy of a class with no image)
    /// is written as the string <c>"NaN"</c>; durations as <c>"hh:mm:ss.fffffff"</c>.
    /// </summary>
    /// <returns>The JSON text.</returns>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Reads a report written by <see cref="ToJson"/>; values derived from the counts are recomputed, not read.</summary>
    /// <param name="json">The JSON text.</param>
    /// <returns>The report.</returns>
    /// <exception cref="JsonException">The text is not such a report.</exception>
    public static EvaluationReport FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        EvaluationReport? report;
        try
        {
            report = JsonSerializer.Deserialize<EvaluationReport>(json, JsonOptions);
        }
        catch (ArgumentException e)
        {
            // The constructors reject inconsistent counts.
            throw new JsonException($"The report's counts are inconsistent: {e.Message}", e);
        }

        if (report?.ModelName is null || report.Footprint is null || report.Evaluation is null)
        {
            throw new JsonException("The JSON is not an evaluation report: the model name, footprint or evaluation is missing.");
        }

        return report;
    }

    /// <summary>Writes <see cref="ToJson"/> to <paramref name="path"/> atomically.</summary>
    /// <param name="path">The file; its folder is created if needed.</param>
    public void WriteJson(string path) => AtomicFile.WriteAllText(path, ToJson());
}
