using System.Text.Json;
using Distillation.Evaluation;
using Distillation.Onnx.Runtime;
using Distillation.Tool.Cli;
using Distillation.Tool.Config;
using Distillation.Tool.Runs;
using Distillation.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Tool.Commands;

/// <summary><c>distill eval</c>: accuracy, top-5, per-class table and confusion matrix of a model on the test set.</summary>
internal sealed class EvalCommand() : ToolCommand(
    "eval",
    "Evaluate a model on the test set: accuracy, top-5, a per-class table and the confusion matrix. The model is a network with its weights (--model, --weights) or an ONNX file (--onnx, run by ONNX Runtime).",
    "distill eval --cifar10 ./data --model resnet20 --weights runs/student/student.weights")
{
    public DataOptions Data { get; } = new();

    public RuntimeOptions Runtime { get; } = new(batchSize: 256);

    public ToolOption<string> Model { get; } = new("--model", "The network of --weights: teachernet, studentnet or a model of the zoo.", ModelFactory.NotebookStudent);

    public ToolOption<string?> Weights { get; } = new("--weights", "The model's weights: .weights, safetensors or a PyTorch .pth/.pt state dict.", null, isPath: true);

    public ToolOption<string?> Onnx { get; } = new("--onnx", "An ONNX model to evaluate instead, run by ONNX Runtime.", null, isPath: true);

    public ToolOption<string?> Report { get; } = new("--report", "Also write the evaluation as JSON to this file.", null, isPath: true);

    public ToolOption<bool> Json { get; } = new("--json", "Print the evaluation as one JSON object on standard output (for scripts) instead of the tables, and nothing else there: other lines go to standard error (none with --quiet).", false);

    public override IReadOnlyList<ToolOption> Options => [Model, Weights, Onnx, Report, Json, .. Data.All(), .. Runtime.All];

    protected override int Execute(RunSettings settings, ToolContext context, CancellationToken cancellationToken)
    {
        DataLoading.Check(settings, Data);
        Checks.Positive(settings, Runtime.BatchSize);
        Checks.PositiveOrNull(settings, Runtime.Threads);
        if ((settings.GetText(Weights) is null) == (settings.GetText(Onnx) is null))
        {
            throw new UsageException(settings.GetText(Weights) is null
                ? "Give the model: --weights <file> (with --model) or --onnx <file>."
                : $"{settings.Origin(Weights)} and {settings.Origin(Onnx)} each give the model; use one.");
        }

        Checks.ExistingFile(settings, Weights);
        Checks.ExistingFile(settings, Onnx);
        Checks.OutputFile(settings, Report);
        if (settings.GetText(Weights) is not null)
        {
            ModelFactory.Check(settings.Get(Model), settings.Get(Data.ImageSize), settings.Origin(Model));
        }

        var output = new ToolOutput(context.Terminal, settings.Get(Runtime.Quiet), settings.Get(Json));
        var logger = context.LoggerFactory.CreateLogger("Distillation");
        using var data = DataLoading.Load(settings, Data, logger, cancellationToken);
        output.Progress(data.Description);
        var device = TrainerSetup.Device(settings, Runtime).Resolve();
        DetailedEvaluation evaluation;
        string name;
        if (settings.GetText(Onnx) is { } onnxPath)
        {
            using var teacher = new OnnxTeacher(onnxPath, threads: settings.GetOrNull(Runtime.Threads) ?? 0);
            var batchSize = settings.Get(Runtime.BatchSize);
            var batches = (data.Test.Count + batchSize - 1) / batchSize;
            var clock = TeacherPasses.Clock();
            var (logits, labels) = TeacherPasses.Run(teacher, data.Test, CPU, batchSize, 0, batches, null, cancellationToken);
            using (logits)
            using (labels)
            {
                evaluation = TeacherPasses.Evaluate(logits, labels, data.Test.ClassNames, clock.Elapsed);
            }

            name = Path.GetFileName(onnxPath);
        }
        else
        {
            using var model = ModelFactory.Create(settings.Get(Model), data.Test.ClassNames.Count);
            ModelFactory.LoadWeights(model, settings.GetText(Weights)!, logger);
            model.to(device);
            evaluation = Evaluator.EvaluateDetailed(model, data.Test, device, settings.Get(Runtime.BatchSize), cancellationToken);
            name = settings.Get(Model);
        }

        var json = JsonSerializer.Serialize(new
        {
            model = name,
            images = evaluation.Total,
            accuracy = evaluation.Top1Accuracy,
            top5Accuracy = evaluation.Top5Accuracy,
            topK = evaluation.TopK,
            perClass = evaluation.PerClass.Select(c => new { c.Name, c.Images, c.Correct, c.Accuracy }),
            confusion = evaluation.Confusion.ToArray(),
        }, ToolOutput.JsonOptions);
        if (output.Json)
        {
            output.PrintJson(json);
        }
        else
        {
            output.PrintEvaluation($"{name} on {evaluation.Total:N0} test images", evaluation, tables: true);
        }

        if (settings.GetText(Report) is { } report)
        {
            AtomicText.Write(report, json);
            output.Progress($"Report: {Path.GetFullPath(report)}");
        }

        return ExitCodes.Success;
    }
}
