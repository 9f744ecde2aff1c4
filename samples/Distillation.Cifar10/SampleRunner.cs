using System.Globalization;
using Distillation.Data;
using Distillation.Devices;
using Distillation.Evaluation;
using Distillation.Losses;
using Distillation.Models;
using Distillation.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Distillation.Cifar10;

/// <summary>Runs the notebook: data, teacher, student baseline, distilled student, table, JSON.</summary>
internal sealed class SampleRunner(SampleSettings settings)
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await RunCoreAsync(cancellationToken).ConfigureAwait(false);
            return 0;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Console.Error.WriteLine("\ncancelled.");
            return 130;
        }
        catch (Exception e) when (e is TorchNativeLoadException or DatasetNotFoundException or DatasetFormatException or DownloadException
            or DeviceNotAvailableException or FileNotFoundException or InvalidDataException or FormatException
            or ArgumentException or TrainingDivergedException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    private async Task RunCoreAsync(CancellationToken cancellationToken)
    {
        using var loggerFactory = LoggerFactory.Create(builder => builder
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
            .SetMinimumLevel(settings.Verbose ? LogLevel.Information : LogLevel.Warning));
        var console = new ConsoleProgress();

        var deviceOptions = DeviceOptions.Parse(settings.Device);
        deviceOptions.Threads = settings.Threads;
        var trainerOptions = new TrainerOptions
        {
            Epochs = settings.Epochs,
            BatchSize = settings.BatchSize,
            LearningRate = settings.LearningRate,
            Seed = settings.Seed,
            Device = deviceOptions,
        };
        var lossOptions = new KLDivergenceLossOptions(settings.Temperature, settings.HardWeight, settings.SoftWeight);
        trainerOptions.Validate();
        lossOptions.Validate();

        // Fail on an unavailable device before minutes of loading and training.
        DeviceSelector.Resolve(deviceOptions);

        // Data: the sample downloads when the folder is missing (opt out with --no-download).
        var folder = Cifar10Dataset.ResolveFolder(settings.DataRoot);
        if (!Directory.Exists(folder) && settings.Download)
        {
            Console.WriteLine($"CIFAR-10 not found in {settings.DataRoot}; downloading.");
            var downloadOptions = new Cifar10DownloadOptions();
            if (settings.DownloadSource is { } source)
            {
                downloadOptions.Source = source;
            }

            folder = await new Cifar10Downloader(logger: loggerFactory.CreateLogger<Cifar10Downloader>())
                .EnsureAsync(settings.DataRoot, downloadOptions, console, cancellationToken).ConfigureAwait(false);
        }

        var dataLogger = loggerFactory.CreateLogger("Distillation.Data");
        using var fullTrain = Cifar10Dataset.Load(folder, Cifar10Split.Train, logger: dataLogger);
        using var fullTest = Cifar10Dataset.Load(folder, Cifar10Split.Test, logger: dataLogger);
        using var train = settings.TrainLimit is { } trainLimit ? fullTrain.Sample(trainLimit, settings.Seed) : null;
        using var test = settings.TestLimit is { } testLimit ? fullTest.Take(testLimit) : null;
        var trainSet = train ?? fullTrain;
        var testSet = test ?? fullTest;
        Console.WriteLine($"CIFAR-10 from {folder}: {trainSet.Count:N0} training and {testSet.Count:N0} test images.");

        // As the notebook: each model is created right after torch.manual_seed(seed).
        manual_seed(settings.Seed);
        using var teacher = new TeacherNet();
        manual_seed(settings.Seed);
        using var student = new StudentNet();
        var trainer = new Trainer<TeacherNet, StudentNet>(teacher, student, trainerOptions, loggerFactory.CreateLogger<Trainer<TeacherNet, StudentNet>>());
        Console.WriteLine($"Device {trainer.Device}, {get_num_threads()} CPU threads.");
        Console.WriteLine($"Teacher parameters: {CountParameters(teacher):N0}");
        Console.WriteLine($"Student parameters: {CountParameters(student):N0}");

        var runs = new List<RunSummary>();
        Directory.CreateDirectory(settings.OutputDirectory);

        if (settings.TeacherWeights is { } weights)
        {
            teacher.LoadWeights(weights);
            Console.WriteLine($"\nTeacher loaded from {weights}.");
            var evaluation = trainer.EvaluateTeacher(testSet, cancellationToken);
            Console.WriteLine(string.Create(Invariant, $"Teacher test accuracy: {evaluation.Accuracy:P2}"));
            runs.Add(LoadedTeacher(CountParameters(teacher), evaluation));
        }
        else
        {
            Console.WriteLine("\nTraining the teacher (cross-entropy):");
            console.StartRun();
            var result = trainer.TrainTeacher(trainSet, testSet, console, cancellationToken);
            var saved = Path.Combine(settings.OutputDirectory, "teacher.weights");
            teacher.SaveWeights(saved);
            Console.WriteLine(string.Create(Invariant, $"Teacher test accuracy: {result.FinalAccuracy:P2} (weights saved to {saved})"));
            runs.Add(SampleResults.Summarize("Teacher", result));
        }

        Console.WriteLine("\nTraining the student alone (cross-entropy):");
        console.StartRun();
        var baseline = trainer.TrainStudent(trainSet, testSet, console, cancellationToken);
        Console.WriteLine(string.Create(Invariant, $"Student test accuracy: {baseline.FinalAccuracy:P2}"));
        runs.Add(SampleResults.Summarize("Student", baseline));

        // The notebook distills the student it has just trained; the trainer continues from its weights.
        var loss = new KLDivergenceLoss(lossOptions);
        Console.WriteLine($"\nDistilling the student from the teacher ({loss.Name}):");
        console.StartRun();
        var distilled = trainer.Distill(trainSet, testSet, loss, console, cancellationToken);
        Console.WriteLine(string.Create(Invariant, $"Distilled student test accuracy: {distilled.FinalAccuracy:P2}"));
        runs.Add(SampleResults.Summarize("Distilled student", distilled));

        PrintTable(runs);
        var resultsPath = Path.Combine(settings.OutputDirectory, "results.json");
        new SampleResults(DateTimeOffset.UtcNow, trainer.Device.ToString(), get_num_threads(), folder, trainSet.Count, testSet.Count, settings, runs)
            .WriteTo(resultsPath);
        Console.WriteLine($"\nResults written to {resultsPath}");
    }

    private static long CountParameters(nn.Module module) => module.parameters().Sum(p => p.numel());

    private RunSummary LoadedTeacher(long parameters, EvaluationResult evaluation) =>
        new("Teacher", TrainingPhase.Teacher.ToString(), "loaded from " + settings.TeacherWeights, parameters, 0, null, evaluation.Accuracy, []);

    private static void PrintTable(IReadOnlyList<RunSummary> runs)
    {
        Console.WriteLine();
        Console.WriteLine($"{"Model",-20} {"Parameters",12} {"Time to train",15} {"Last-epoch loss",16} {"Test accuracy",14}");
        Console.WriteLine(new string('-', 81));
        foreach (var run in runs)
        {
            var time = run.TrainingSeconds > 0 ? ConsoleProgress.Format(TimeSpan.FromSeconds(run.TrainingSeconds)) : "(loaded)";
            var loss = run.LastEpochLoss is { } l ? l.ToString("F4", Invariant) : "-";
            Console.WriteLine(string.Create(Invariant,
                $"{run.Name,-20} {run.Parameters,12:N0} {time,15} {loss,16} {run.TestAccuracy,14:P2}"));
        }
    }
}
