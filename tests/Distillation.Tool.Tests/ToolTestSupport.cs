using Distillation.Data;
using static TorchSharp.torch;

namespace Distillation.Tool.Tests;

/// <summary>Runs distill in-process on tiny image folders written to a temporary folder.</summary>
public sealed class ToolSandbox : IDisposable
{
    public ToolSandbox()
    {
        Root = Path.Combine(Path.GetTempPath(), "distill-tool-tests", Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string PathOf(string relative) => Path.Combine(Root, relative);

    /// <summary>
    /// An image folder of <paramref name="perClass"/> images in each of three classes, each class a
    /// noisy colour (so a model can learn them), with train/ and test/ sub-folders.
    /// </summary>
    public string WriteImageFolder(string name = "images", int perClass = 8, int size = 32, int seed = 1)
    {
        var root = PathOf(name);
        WriteSplit(Path.Combine(root, "train"), perClass, size, seed);
        WriteSplit(Path.Combine(root, "test"), Math.Max(2, perClass / 2), size, seed + 1);
        return root;
    }

    private static void WriteSplit(string folder, int perClass, int size, int seed)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)seed);
        var classes = 3;
        var labels = arange(classes).repeat_interleave(perClass);
        var baseColour = tensor(new float[] { 200, 40, 40, 40, 200, 40, 40, 40, 200 }).reshape(3, 3);
        var colours = baseColour.index_select(0, labels).reshape(-1, 3, 1, 1);
        var noise = randn([labels.shape[0], 3, size, size], generator: generator) * 30;
        var images = (colours + noise).clamp(0, 255).to(ScalarType.Byte);
        using var data = new ImageDataset(images, labels, ["red", "green", "blue"]);
        ImageFolderWriter.WritePng(data, folder);
    }

    /// <summary>Runs distill with <paramref name="args"/>; returns the exit code and what it printed.</summary>
    public static async Task<ToolRun> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await ToolApp.RunAsync(args, output, error);
        return new ToolRun(code, output.ToString(), error.ToString());
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

public sealed record ToolRun(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- out\n{Output}\n--- err\n{Error}";
}
