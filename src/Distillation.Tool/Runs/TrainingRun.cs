using System.Text.Json;
using Distillation.Evaluation;
using Distillation.Serialization;
using Distillation.Tool.Cli;
using Distillation.Tool.Config;
using Distillation.Training;

namespace Distillation.Tool.Runs;

/// <summary>What the training commands share: the output folder with its config, the interruption hint and results.json.</summary>
internal static class TrainingRun
{
    /// <summary>Creates the output folder and writes the effective config into it, before any work.</summary>
    public static string Prepare(string command, RunSettings settings, TrainingOptions training)
    {
        var folder = Path.GetFullPath(settings.Get(training.Output));
        Directory.CreateDirectory(folder);
        RunFile.Write(Path.Combine(folder, RunFile.EffectiveConfigName), command, settings);
        return folder;
    }

    /// <summary>Trains; when Ctrl-C stops it, says which epoch was kept before the cancellation goes on to the command's handler.</summary>
    public static TrainingResult Train(Func<TrainingResult> train, TrainingPhase phase, TrainerOptions options, ToolContext context, CancellationToken cancellationToken)
    {
        try
        {
            return train();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            var epoch = options.Checkpoints?.LastCheckpointedEpoch(phase);
            context.Terminal.Error.Line(epoch is > 0
                ? $"Epoch {epoch} of {options.Epochs} is kept in {options.Checkpoints!.LastCheckpointPath(phase)}."
                : "No epoch had ended: nothing is kept.");
            throw;
        }
    }

    /// <summary>The command line with --resume, quoted for a POSIX shell.</summary>
    internal static string ResumeCommand(IReadOnlyList<string> arguments)
    {
        var all = arguments.Contains("--resume") ? arguments : [.. arguments, "--resume"];
        return "distill " + string.Join(" ", all.Select(Quote));

        static string Quote(string argument) =>
            argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "_./:=,+-@%".Contains(c))
                ? argument
                : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    /// <summary>
    /// After a training command's run: saves the model's weights as <paramref name="weightsName"/> in
    /// <paramref name="folder"/>, evaluates it on the test set and prints that, exports it to ONNX and
    /// checks it in ONNX Runtime when <paramref name="exportPath"/> is given, and writes results.json.
    /// Cancelled, it stops at the evaluation's next batch or the export's next module, says what was
    /// kept, writes no results.json and no ONNX file, and lets the cancellation go on.
    /// </summary>
    public static void Finish(
        string folder, string command, string modelName, string weightsName, string title, TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> model,
        LoadedData data, TorchSharp.torch.Device device, int imageSize, string? exportPath, TrainingResult result, ToolOutput output, ToolContext context, CancellationToken cancellationToken)
    {
        var weights = Path.Combine(folder, weightsName);
        model.SaveWeights(weights);
        var step = "evaluating";
        try
        {
            var evaluation = Evaluator.EvaluateDetailed(model, data.Test, device, cancellationToken: cancellationToken);
            output.PrintEvaluation(title, evaluation, tables: false);
            output.Result($"Weights: {weights}");
            string? onnx = null;
            if (exportPath is not null)
            {
                step = "exporting";
                using var images = OnnxExport.CheckImages(data.Test);
                try
                {
                    output.Result(OnnxExport.ExportAndCheck(model, exportPath, data.Train.ClassNames, data.Train.Normalization, imageSize, images, cancellationToken).ToString());
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Outputs are independent: the run's results are still written, then the failure is reported (exit 1).
                    WriteResults(folder, command, modelName, ModelFactory.CountParameters(model), result, evaluation, weights, onnx: null, output);
                    throw;
                }

                onnx = Path.GetFullPath(exportPath);
            }

            WriteResults(folder, command, modelName, ModelFactory.CountParameters(model), result, evaluation, weights, onnx, output);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The training is done and checkpointed: say so, so that --resume is known to only evaluate and export again.
            context.Terminal.Error.Line($"Interrupted while {step} the trained model: its training is finished and kept (weights in {weights}, the last epoch in the run's checkpoint); " +
                $"results.json{(step == "exporting" ? " and the ONNX file were" : " was")} not written.");
            throw;
        }
    }

    /// <summary>Writes results.json: the model, its training and its test evaluation; with --json prints it too, as all of standard output.</summary>
    private static void WriteResults(string folder, string command, string model, long parameters, TrainingResult result, DetailedEvaluation evaluation, string weights, string? onnx, ToolOutput output)
    {
        var results = new
        {
            command,
            model,
            parameters,
            epochsTrained = result.EpochsTrained,
            lastEpochLoss = result.History.Count > 0 ? result.History[^1].MeanLoss : (double?)null,
            trainingSeconds = result.TrainingTime.TotalSeconds,
            testImages = evaluation.Total,
            accuracy = evaluation.Top1Accuracy,
            top5Accuracy = evaluation.Top5Accuracy,
            perClass = evaluation.PerClass.Select(c => new { c.Name, c.Images, c.Correct, c.Accuracy }),
            confusion = evaluation.Confusion.ToArray(),
            weights,
            onnx,
        };
        var json = JsonSerializer.Serialize(results, ToolOutput.JsonOptions);
        AtomicText.Write(Path.Combine(folder, "results.json"), json);
        output.PrintJson(json);
    }
}
