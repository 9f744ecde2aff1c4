using Microsoft.ML.OnnxRuntime;

namespace Distillation.Onnx.Tests;

// The two lines of docs/deployment.md that call StudentClassifier (ReadmeOnnxConsumer.cs): they open
// a file by a relative path, so they are compiled here, not run; ReadmeOnnxConsumerTests runs
// Classify on a file it exports (DocSnippetTests checks that the page holds this region verbatim).
internal static class DeploymentPageClassify
{
    public static (string Label, float[] Logits) Classify(byte[] rgb)
    {
        // docs:begin DeploymentPageClassify
        using var session = new InferenceSession("runs/latest/distilled-student.onnx");
        var (label, logits) = StudentClassifier.Classify(session, rgb, 32, 32);   // e.g. ("cat", [...])
        // docs:end DeploymentPageClassify
        return (label, logits);
    }
}
