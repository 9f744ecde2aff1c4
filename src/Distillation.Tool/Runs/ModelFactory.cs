using Distillation.Models;
using Distillation.Models.Zoo;
using Distillation.Serialization;
using Distillation.Tool.Cli;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Distillation.Tool.Runs;

/// <summary>Models by name (the notebook's two networks or the zoo's) and their weights files.</summary>
internal static class ModelFactory
{
    public const string NotebookTeacher = "teachernet";
    public const string NotebookStudent = "studentnet";

    /// <summary>Refuses a name that is not a model, or a model that cannot take the image size, naming where the name came from.</summary>
    public static void Check(string name, int imageSize, string origin)
    {
        if (IsNotebook(name))
        {
            if (imageSize != 32)
            {
                throw new UsageException($"{origin} {name}: the notebook's networks take 32×32 images only; choose a model of the zoo (docs/models.md) for --image-size {imageSize}.");
            }

            return;
        }

        try
        {
            ModelZoo.Get(name).EnsureInputSize(imageSize);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"{origin} {name}: {e.Message} (or {NotebookTeacher} / {NotebookStudent}, the notebook's networks)");
        }
    }

    public static nn.Module<Tensor, Tensor> Create(string name, int classes) => name.ToLowerInvariant() switch
    {
        NotebookTeacher => new TeacherNet(classes),
        NotebookStudent => new StudentNet(classes),
        _ => ModelZoo.Create(name, classes),
    };

    /// <summary>Loads a weights file by its kind: safetensors and PyTorch state dicts by extension, else the library's .weights format.</summary>
    public static void LoadWeights(nn.Module<Tensor, Tensor> module, string path, ILogger logger)
    {
        switch (Path.GetExtension(path).ToLowerInvariant())
        {
            case ".safetensors":
                module.LoadSafetensors(path);
                break;
            case ".pth" or ".pt" or ".bin":
                module.LoadPyTorchStateDict(path);
                break;
            default:
                module.LoadWeights(path, logger);
                break;
        }
    }

    public static long CountParameters(nn.Module module) => module.parameters().Sum(p => p.numel());

    private static bool IsNotebook(string name) => name.Equals(NotebookTeacher, StringComparison.OrdinalIgnoreCase) || name.Equals(NotebookStudent, StringComparison.OrdinalIgnoreCase);
}
