// The consumer of docs/deployment.md, compiled and tested here (ReadmeOnnxConsumerTests checks that
// the page holds this text verbatim, between the two markers).
// docs:begin ReadmeOnnxConsumerTests
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;

static class StudentClassifier
{
    // rgb: height × width pixels, 3 bytes each (R, G, B), row by row.
    public static (string Label, float[] Logits) Classify(InferenceSession session, byte[] rgb, int height, int width)
    {
        var meta = session.ModelMetadata.CustomMetadataMap;
        var mean = JsonSerializer.Deserialize<float[]>(meta["distillation.normalization.mean"])!;
        var std = JsonSerializer.Deserialize<float[]>(meta["distillation.normalization.std"])!;
        var classes = JsonSerializer.Deserialize<string[]>(meta["distillation.class_names"])!;
        var input = new float[3 * height * width];                         // [1, 3, H, W], channels first
        for (var i = 0; i < height * width; i++)
            for (var c = 0; c < 3; c++)
                input[c * height * width + i] = (rgb[i * 3 + c] / 255f - mean[c]) / std[c];
        using var tensor = OrtValue.CreateTensorValueFromMemory(input, [1, 3, height, width]);
        using var run = new RunOptions();
        using var outputs = session.Run(run, session.InputNames, [tensor], session.OutputNames);
        var logits = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        return (classes[Array.IndexOf(logits, logits.Max())], logits);
    }
}
// docs:end ReadmeOnnxConsumerTests
