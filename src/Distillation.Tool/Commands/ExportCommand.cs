using System.Text.Json;
using Distillation.Data;
using Distillation.Tool.Cli;
using Distillation.Tool.Runs;
using static TorchSharp.torch;

namespace Distillation.Tool.Commands;

/// <summary><c>distill export</c>: writes a model with its weights as an ONNX file and checks it in ONNX Runtime.</summary>
internal sealed class ExportCommand() : ToolCommand(
    "export",
    "Export a model with its weights as an ONNX file (opset 17; class names and input normalization in its metadata) and check it in ONNX Runtime against TorchSharp on seeded random images.",
    "distill export --model resnet20 --weights runs/student/student.weights --class-names cat,dog,fox --output student.onnx")
{
    public ToolOption<string> Model { get; } = new("--model", "The network: teachernet, studentnet or a model of the zoo.", ModelFactory.NotebookStudent);

    public ToolOption<string?> Weights { get; } = new("--weights", "The model's weights: .weights, safetensors or a PyTorch .pth/.pt state dict.", null, isPath: true);

    public ToolOption<string> Output { get; } = new("--output", "The ONNX file to write.", "model.onnx", isPath: true);

    public ToolOption<int> ImageSize { get; } = new("--image-size", "Side of the square input images.", 32);

    public ToolOption<int> Classes { get; } = new("--classes", "Number of classes (when --class-names is not given); names are then 0, 1, ….", 10);

    public ToolOption<string?> ClassNames { get; } = new("--class-names", "Comma-separated class names, in label order (e.g. CIFAR-10's: airplane,automobile,…).", null);

    public ToolOption<string> Normalization { get; } = new("--normalization", "Input normalization the model was trained with: imagenet (distill's default), cifar10 or unit.", "imagenet");

    public ToolOption<long> Seed { get; } = new("--seed", "Seed of the random images of the check.", 42);

    public ToolOption<bool> Json { get; } = new("--json", "Print what was written and how the check went as one JSON object on standard output, and nothing else there.", false);

    public override IReadOnlyList<ToolOption> Options => [Model, Weights, Output, ImageSize, Classes, ClassNames, Normalization, Seed, Json];

    protected override int Execute(RunSettings settings, ToolContext context, CancellationToken cancellationToken)
    {
        if (settings.GetText(Weights) is null)
        {
            throw new UsageException("Give the weights: --weights <file> (with --model).");
        }

        Checks.ExistingFile(settings, Weights);
        Checks.Positive(settings, ImageSize);
        Checks.Positive(settings, Classes);
        var normalization = Checks.OneOf(settings, Normalization, "imagenet", "cifar10", "unit") switch
        {
            "cifar10" => ImageNormalization.Cifar10,
            "unit" => ImageNormalization.UnitRange,
            _ => ImageNormalization.ImageNet,
        };
        var names = settings.GetText(ClassNames) is { } list
            ? list.Split(',', StringSplitOptions.TrimEntries)
            : Enumerable.Range(0, settings.Get(Classes)).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        if (names.Length < 2 || names.Any(string.IsNullOrEmpty) || names.Distinct(StringComparer.Ordinal).Count() != names.Length)
        {
            throw new UsageException($"{settings.Origin(ClassNames)} needs two or more distinct, non-empty names, was '{settings.GetText(ClassNames)}'.");
        }

        if (Directory.Exists(settings.Get(Output)))
        {
            throw new UsageException($"{settings.Origin(Output)} {settings.Get(Output)} is a folder; give the .onnx file to write.");
        }

        ModelFactory.Check(settings.Get(Model), settings.Get(ImageSize), settings.Origin(Model));
        using var model = ModelFactory.Create(settings.Get(Model), names.Length);
        ModelFactory.LoadWeights(model, settings.GetText(Weights)!, context.LoggerFactory.CreateLogger("Distillation"));
        cancellationToken.ThrowIfCancellationRequested();
        using var generator = new Generator((ulong)settings.Get(Seed));
        using var images = randn([8, 3, settings.Get(ImageSize), settings.Get(ImageSize)], generator: generator);
        var check = OnnxExport.ExportAndCheck(model, settings.Get(Output), names, normalization, settings.Get(ImageSize), images, cancellationToken);
        var output = new ToolOutput(context.Terminal, quiet: false, settings.Get(Json));
        output.Result(check.ToString());
        output.PrintJson(JsonSerializer.Serialize(new
        {
            command = Name,
            model = settings.Get(Model),
            file = check.Path,
            imageSize = settings.Get(ImageSize),
            classNames = names,
            checkedImages = check.Images,
            maxDifference = check.MaxDifference,
            largestLogit = check.LargestLogit,
            equalPredictions = check.EqualPredictions,
        }, ToolOutput.JsonOptions));
        return ExitCodes.Success;
    }
}
