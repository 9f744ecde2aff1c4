using System.Globalization;
using Distillation.Data;
using Distillation.Devices;
using Distillation.Diagnostics;
using Distillation.Evaluation;
using Distillation.Losses;
using Distillation.Models;
using Distillation.Models.Zoo;
using Distillation.Serialization;
using Distillation.Onnx;
using Distillation.Onnx.Quantization;
using Distillation.Onnx.Runtime;
using Distillation.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Distillation.Cifar10;

/// <summary>
/// Runs the notebook (teacher, student baseline, distilled student), or with <c>--seeds</c> the
/// comparison of distillation against its control over several seeds; prints the tables and writes
/// results.json, a detailed report of every trained model (JSON, CSV) and the charts (PNG).
/// </summary>
internal sealed partial class SampleRunner(SampleSettings settings)
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>A short timing: one warm-up and three timed passes of 128 images, then the same at batch size 1.</summary>

    /// <summary>Standard output and error, with Spectre.Console where they are terminals (the console layer shared with the distill tool).</summary>
    private static readonly Terminal Term = Terminal.ForProcess();

    /// <summary>Training and download progress: a bar per epoch on a terminal, one line per epoch in a log.</summary>
    private readonly TrainingProgressView console = new(Term.Out) { BatchSize = settings.BatchSize };
    private readonly RunReports reports = new();

    /// <summary>Exit code of a run stopped by SIGINT (Ctrl-C); Program turns it into 143 for SIGTERM.</summary>
    public const int InterruptedExitCode = 130;

    /// <summary>Exit code of a command-line value that cannot work (also the parser's).</summary>
    public const int UsageExitCode = 2;

    /// <summary>Exit code when another run holds the output folder.</summary>
    public const int FolderInUseExitCode = 3;

    private readonly List<string> finishedRuns = [];
    private (string Name, CheckpointOptions? Checkpoints, TrainingPhase Phase)? currentRun;

    /// <summary>What runs besides training (a model's evaluation or export), for the interruption message; null while a model trains.</summary>
    private string? currentStep;

    /// <summary>Classes of the data: CIFAR-10's ten, or the class folders of --data-folder.</summary>
    private int classCount = Cifar10Dataset.DefaultClassNames.Count;

    /// <summary>The parameters of an ensemble teacher's members together (--teacher with several files).</summary>
    private long ensembleParameters;

    /// <summary>The teacher's snapshots (--teacher-snapshots), or null.</summary>
    private TeacherSnapshots? teacherSnapshots;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            CheckPaths();
            CheckNumbers();
            using (OutputLock.Acquire(settings.OutputDirectory, Term.Out.Line))
            {
                await RunCoreAsync(cancellationToken).ConfigureAwait(false);
            }

            return 0;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            PrintInterrupted();
            return InterruptedExitCode;
        }
        catch (UsageException e)
        {
            Term.PrintError(e.Message, " (see --help)");
            return UsageExitCode;
        }
        catch (OutputFolderInUseException e)
        {
            Term.PrintError(e.Message);
            return FolderInUseExitCode;
        }
        catch (CheckpointMismatchException e)
        {
            Term.PrintError(e.Message, " Here: choose another --output, or leave out --resume to train afresh.");
            return 1;
        }
        catch (Exception e) when (e is DllNotFoundException or DatasetNotFoundException or DatasetFormatException or DownloadException or MemoryBudgetExceededException
            or DeviceNotAvailableException or IOException or InvalidDataException or FormatException
            or ArgumentException or TrainingDivergedException or UnauthorizedAccessException)
        {
            Term.PrintError(e.Message);
            return 1;
        }
    }

    /// <summary>What can be checked before anything is loaded or trained: paths of the right kind, and a --teacher that is weights.</summary>
    private void CheckPaths()
    {
        if ((settings.MixupAlpha != 0 || settings.CutMixAlpha != 0) && !settings.Augment)
        {
            throw new UsageException("--mixup and --cutmix mix augmented batches: add --augment (a --recipe augments already).");
        }

        if (File.Exists(settings.OutputDirectory))
        {
            throw new UsageException($"--output {settings.OutputDirectory} is a file; give a folder (it is created when missing).");
        }

        if (File.Exists(settings.DataRoot))
        {
            throw new UsageException($"--data {settings.DataRoot} is a file; give the folder that holds cifar-10-batches-bin/ (or where to download it).");
        }

        if (settings.TeacherWeights is not null && settings.TeacherWeightFiles.Count == 0)
        {
            throw new UsageException($"--teacher '{settings.TeacherWeights}' names no file; give a weights file, or several separated by commas.");
        }

        foreach (var teacher in settings.TeacherWeightFiles)
        {
            if (Directory.Exists(teacher))
            {
                throw new UsageException($"--teacher {teacher} is a folder; give the weights file (e.g. teacher.weights in a run's --output folder).");
            }

            if (!File.Exists(teacher))
            {
                throw new UsageException($"--teacher {teacher} does not exist.");
            }

            if (IsTrainingCheckpoint(teacher))
            {
                throw new UsageException(
                    $"--teacher {teacher} is a training checkpoint, not a weights file: to continue the run that wrote it, run the same command again with --resume " +
                    "(a trained teacher's weights are teacher.weights in its --output folder).");
            }
        }
    }

    /// <summary>
    /// The library's own range checks of every number, before anything is written: a value it cannot
    /// represent or run (a learning rate beyond float32, 1,000 threads on 2 cores, a warm-up as long as
    /// the run) is a usage error naming the flag, in one line.
    /// </summary>
    private void CheckNumbers()
    {
        var device = new DeviceOptions { Threads = settings.Threads };
        Check(() =>
        {
            // The objective checks its temperature and weights as the run will (through the public API).
            using (DistillationObjective.KnowledgeDistillation(settings.Temperature, settings.HardWeight, settings.SoftWeight))
            {
            }

            TrainerOptionsFor(settings, settings.Seed, device, "main").Validate();
        }, teacher: false);
        if (settings.Recipe is not null)
        {
            Check(() => TrainerOptionsFor(settings.ForTeacher(), settings.Seed, device, "teacher").Validate(), teacher: true);
        }

        static void Check(Action validate, bool teacher)
        {
            try
            {
                validate();
            }
            catch (ArgumentOutOfRangeException e) when (e.ParamName is { } option)
            {
                var flag = option switch
                {
                    "temperature" => "--temperature",
                    "weight of ce" => "--hard-weight",
                    "weight of kd" => "--soft-weight",
                    nameof(OptimizationOptions.LearningRate) => teacher ? "--teacher-lr" : "--lr",
                    nameof(TrainerOptions.Epochs) => teacher ? "--teacher-epochs" : "--epochs",
                    nameof(OptimizationOptions.WeightDecay) => "--weight-decay",
                    nameof(TrainerOptions.BatchSize) => "--batch-size",
                    nameof(DeviceOptions.Threads) => "--threads",
                    nameof(ScheduleOptions.WarmupEpochs) => "--warmup",
                    nameof(EarlyStoppingOptions.Patience) => "--patience",
                    nameof(AugmentationOptions.MixupAlpha) => "--mixup",
                    nameof(AugmentationOptions.CutMixAlpha) => "--cutmix",
                    _ => null,
                };

                // "LearningRate must be …" becomes "--lr must be …": the user sees the flag they typed.
                throw new UsageException(flag is null ? e.Message
                    : e.Message.StartsWith(option + " ", StringComparison.Ordinal) ? flag + e.Message[option.Length..] : $"{flag}: {e.Message}");
            }
        }
    }

    /// <summary>Whether the file is one of the library's training checkpoints.</summary>
    internal static bool IsTrainingCheckpoint(string path) => CheckpointOptions.IsCheckpointFile(path);

    /// <summary>What was kept of an interrupted run, and the command that continues it.</summary>
    private void PrintInterrupted()
    {
        Term.Error.Line();
        if (currentRun is not { } run)
        {
            Term.Error.Line(currentStep is null
                ? "Interrupted before any training: nothing to keep."
                : $"Interrupted while {currentStep}, before any training: nothing to keep.");
            return;
        }

        string kept;
        try
        {
            var epoch = run.Checkpoints?.LastCheckpointedEpoch(run.Phase);
            kept = currentStep is not null
                ? epoch is > 0
                    ? $"its training had finished and is kept in {run.Checkpoints!.LastCheckpointPath(run.Phase)} (--resume evaluates it again without training)"
                    : "its training had finished but is not checkpointed, so --resume trains it again"
                : run.Checkpoints is null
                    ? "it writes no checkpoint (a teacher trained with lookahead trains in one go), so it starts afresh"
                : epoch is > 0
                    ? $"epoch {epoch} of {(run.Phase == TrainingPhase.Teacher ? settings.ForTeacher().Epochs : settings.Epochs)} is kept in {run.Checkpoints.LastCheckpointPath(run.Phase)}"
                    : "no epoch of it was finished, so it starts afresh";
        }
        catch (InvalidDataException e)
        {
            kept = $"its checkpoint cannot be read ({ErrorText.OneLine(e.Message)})";
        }

        Term.Error.Line(currentStep is null
            ? $"Interrupted during {run.Name}: {kept}."
            : $"Interrupted while {currentStep} (no partial file was written): {kept}.");
        if (finishedRuns.Count > 0)
        {
            Term.Error.Line($"Finished and kept: {string.Join(", ", finishedRuns)}.");
        }

        Term.Error.Line($"Continue with: {ResumeCommand(settings.Arguments)}");
    }

    /// <summary>
    /// The command line with <c>--resume</c> added, quoted for a POSIX shell. It starts with the way
    /// this program can be run again (<c>dotnet</c> and the path of its .dll, which <c>dotnet run</c>
    /// also builds): the program's name alone is on no PATH.
    /// </summary>
    internal static string ResumeCommand(IReadOnlyList<string> arguments, string? program = null)
    {
        var all = arguments.Contains("--resume") ? arguments : [.. arguments, "--resume"];
        program ??= "dotnet " + Quote(Path.GetFullPath(Environment.GetCommandLineArgs()[0]));
        return program + " " + string.Join(" ", all.Select(Quote));

        static string Quote(string argument) =>
            argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "_./:=,+-@%".Contains(c))
                ? argument
                : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    private async Task RunCoreAsync(CancellationToken cancellationToken)
    {
        using var loggerFactory = LoggerFactory.Create(builder => builder
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
            .SetMinimumLevel(settings.Verbose ? LogLevel.Information : LogLevel.Warning));

        var deviceOptions = DeviceOptions.Parse(settings.Device);
        deviceOptions.Threads = settings.Threads;
        // A recipe trains the teacher with its own epochs and rate; elsewhere the teacher and the students share the settings.
        var trainerOptions = settings.Recipe is null
            ? TrainerOptionsFor(settings, settings.Seed, deviceOptions, "main")
            : TeacherOptionsFor(settings, deviceOptions);
        if (settings.TeacherSnapshotEvery is { } every)
        {
            teacherSnapshots = new TeacherSnapshots(Path.Combine(settings.OutputDirectory, "teacher-snapshots"), every);
            trainerOptions.Callbacks.Add(teacherSnapshots);
        }

        using var loss = MethodSpec.Create(settings.Method, settings.Temperature, settings.HardWeight, settings.SoftWeight, settings.SoftRamp);
        trainerOptions.Validate();

        // Fail on an unavailable device before minutes of loading and training.
        deviceOptions.Resolve();

        // Before the first convolution: keeps libtorch's "Could not initialize NNPACK" warnings off the console.
        LibTorchNnpack.TryDisable();

        var (folder, loadedTrain, loadedTest) = await LoadDataAsync(loggerFactory, cancellationToken).ConfigureAwait(false);
        using var fullTrain = loadedTrain;
        using var fullTest = loadedTest;
        classCount = fullTrain.ClassNames.Count;
        using var train = settings.TrainLimit is { } trainLimit ? fullTrain.Sample(trainLimit, settings.Seed) : null;
        using var test = settings.TestLimit is { } testLimit ? fullTest.Take(testLimit) : null;
        var trainCount = (train ?? fullTrain).Count;
        if (settings.ValidationCount is { } requested && requested >= trainCount)
        {
            throw new UsageException(
                $"--validation {requested:N0} leaves nothing to train on: it must be smaller than the {trainCount:N0} training images{(settings.TrainLimit is { } limit ? $" (--train-limit {limit})" : "")}.");
        }

        var (carved, validation) = settings.ValidationCount is { } validationCount
            ? (train ?? fullTrain).SplitValidation(validationCount, settings.Seed)
            : ((ImageDataset?)null, (ImageDataset?)null);
        using var disposeCarved = carved;
        using var disposeValidation = validation;
        // A recipe's runs on a validation split are for choosing its values: they never touch the test set.
        var data = new Splits(folder, carved ?? train ?? fullTrain, test ?? fullTest, validation, FinalOnValidation: settings.Recipe is not null && validation is not null);
        Term.Out.Line($"{(settings.DataFolder is null ? "CIFAR-10" : "Images")} from {folder}: {data.Train.Count:N0} training, {data.Validation?.Count ?? 0:N0} validation and {data.Test.Count:N0} test images.");
        console.EvaluationSet = data.Validation is null ? "test" : "validation";

        // As the notebook: each model is created right after torch.manual_seed(seed).
        manual_seed(settings.Seed);
        // --teacher-onnx and --teacher-logits bring a teacher from elsewhere: it is not trained here.
        ITeacher source = settings.TeacherOnnx is { } onnxPath ? new OnnxTeacher(onnxPath, threads: settings.Threads ?? 0)
            : settings.TeacherLogits is { } logitsPath ? new PrecomputedTeacher(logitsPath)
            : settings.TeacherWeightFiles.Count > 1 ? LoadEnsemble(settings.TeacherWeightFiles, loggerFactory.CreateLogger("Distillation.Models"))
            : Teacher.From(NewModel(settings.TeacherModel, "--teacher-model", notebook: () => new TeacherNet(classCount)), ownsModule: true);
        // Innermost, so the output cache and the bfloat16 option the trainer adds wrap the averaged teacher.
        using var teacher = settings.TeacherFlipAverage ? source.UseFlipAveraging() : source;
        if (teacher is PrecomputedTeacher { Images: var rows } && rows != data.Train.Count)
        {
            throw new UsageException($"--teacher-logits {settings.TeacherLogits} holds {rows} rows, but the training set has {data.Train.Count} images: it needs one row per training image, in the order the sample uses (after --train-limit and --validation).");
        }

        manual_seed(settings.Seed);
        using var student = NewStudent();
        var trainerLogger = loggerFactory.CreateLogger<Trainer<ITeacher, nn.Module<Tensor, Tensor>>>();
        var trainer = new Trainer<ITeacher, nn.Module<Tensor, Tensor>>(teacher, student, trainerOptions, trainerLogger);
        // Every rule of the teacher's kind and the loss, checked before the first model trains.
        trainer.Check(data.Train, loss);
        Term.Out.Line($"Device {trainer.Device}, {get_num_threads()} CPU threads.");
        Term.Out.Line($"Teacher parameters: {(teacher.GetModule() is { } teacherModule ? CountParameters(teacherModule) : ensembleParameters):N0}");
        Term.Out.Line($"Student parameters: {CountParameters(student):N0}");

        if (settings.Recipe is not null && !settings.RecipeDistilled)
        {
            // --control-only: the controls need no teacher, so none is trained or loaded.
            Term.Out.Line("\nNo teacher: --control-only trains the control alone.");
            RunRecipe(trainer, trainerLogger, settings.Seeds ?? [settings.Seed], loss, data, teacherRun: null, cancellationToken);
            return;
        }

        var teacherRun = PrepareTeacher(trainer, data, loggerFactory.CreateLogger("Distillation.Models"), cancellationToken);
        if (settings.Recipe is not null)
        {
            RunRecipe(trainer, trainerLogger, settings.Seeds ?? [settings.Seed], loss, data, teacherRun, cancellationToken);
        }
        else if (settings.Seeds is { } seeds)
        {
            CompareOverSeeds(trainer, trainerLogger, seeds, loss, data, teacherRun, cancellationToken);
        }
        else
        {
            RunNotebook(trainer, loss, data, teacherRun, cancellationToken);
        }
    }

    /// <summary>CIFAR-10's binary files, or with --data-folder the user's images at 32×32 (the sample's models take that size).</summary>
    private async Task<(string Folder, ImageDataset Train, ImageDataset Test)> LoadDataAsync(ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var dataLogger = loggerFactory.CreateLogger("Distillation.Data");
        if (settings.DataFolder is { } own)
        {
            var folderOptions = new ImageFolderOptions
            {
                ImageSize = ImageSize,
                Order = settings.FolderOrder == "name" ? ImageFolderOrder.FileName : ImageFolderOrder.ClassThenFileName,
                SplitSeed = settings.Seed,
            };
            var full = Path.GetFullPath(own);
            Term.Out.Line($"Decoding the images of {full} to {ImageSize}×{ImageSize} …");
            var (ownTrain, ownTest) = ImageFolderDataset.LoadSplits(full, folderOptions, logger: dataLogger, cancellationToken: cancellationToken);
            return (full, ownTrain, ownTest);
        }

        var folder = await EnsureDataAsync(loggerFactory, cancellationToken).ConfigureAwait(false);
        var train = Cifar10Dataset.Load(folder, Cifar10Split.Train, logger: dataLogger);
        try
        {
            return (folder, train, Cifar10Dataset.Load(folder, Cifar10Split.Test, logger: dataLogger));
        }
        catch
        {
            train.Dispose();
            throw;
        }
    }

    private async Task<string> EnsureDataAsync(ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        // The sample downloads when the folder is missing (opt out with --no-download).
        var folder = Cifar10Dataset.ResolveFolder(settings.DataRoot);
        if (Directory.Exists(folder))
        {
            return folder;
        }

        if (!settings.Download)
        {
            // The library's own message points to its downloader class; here the user's way is a flag.
            throw new DatasetNotFoundException(folder,
                $"CIFAR-10 was not found: expected the folder {folder} (data_batch_1.bin … data_batch_5.bin, test_batch.bin), and --no-download forbids fetching it. " +
                $"Leave out --no-download to download it (about 170 MB), or give --data the folder that holds cifar-10-batches-bin/.");
        }

        Term.Out.Line($"CIFAR-10 not found in {settings.DataRoot}; downloading.");
        var downloadOptions = new Cifar10DownloadOptions();
        if (settings.DownloadSource is { } source)
        {
            downloadOptions.Source = source;
        }

        return await console.TrackAsync(() => new Cifar10Downloader(logger: loggerFactory.CreateLogger<Cifar10Downloader>())
            .EnsureAsync(settings.DataRoot, downloadOptions, console, cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>Loads the teacher given with --teacher, or trains it and saves its weights.</summary>
    private RunSummary PrepareTeacher(Trainer<ITeacher, nn.Module<Tensor, Tensor>> trainer, Splits data, ILogger teacherLogger, CancellationToken cancellationToken)
    {
        var teacherModule = trainer.Teacher.GetModule();
        if (trainer.Teacher is PrecomputedTeacher precomputed)
        {
            // Logits of the training images only: there is nothing to run on the test set.
            Term.Out.Line($"\nTeacher: precomputed logits from {precomputed.Path} ({precomputed.Images:N0} images, {precomputed.Classes} classes); not evaluated.");
            return new RunSummary("Teacher", TrainingPhase.Teacher.ToString(), "precomputed logits from " + precomputed.Path, 0, 0, null, null, []);
        }

        if (trainer.Teacher.GetService(typeof(OnnxTeacher)) is OnnxTeacher onnx)
        {
            Term.Out.Line($"\nTeacher: {onnx.ModelPath}, run by ONNX Runtime.");
            return EvaluateGivenTeacher(trainer, data, "the ONNX teacher", "ONNX model " + onnx.ModelPath, parameters: 0, cancellationToken);
        }

        if (settings.TeacherWeightFiles is { Count: > 1 } members)
        {
            Term.Out.Line($"\nTeacher: an ensemble of {members.Count} weights files (the mean of their log-probabilities): {string.Join(", ", members)}.");
            return EvaluateGivenTeacher(trainer, data, "the ensemble teacher", $"ensemble of {members.Count}: " + string.Join(", ", members), ensembleParameters, cancellationToken);
        }

        if (settings.TeacherWeightFiles is [var weights])
        {
            teacherModule!.LoadWeights(weights, teacherLogger);
            Term.Out.Line($"\nTeacher loaded from {weights}.");
            currentStep = $"evaluating the teacher loaded from {weights}";
            var (loaded, loadedDetails) = EvaluateInDetail("Teacher", null, TrainingPhase.Teacher, teacherModule!, trainer.Device, data, cancellationToken);
            currentStep = null;
            Term.Out.Line(string.Create(Invariant, $"Teacher {data.FinalName} accuracy: {loaded.Top1Accuracy:P2}"));
            Term.Out.Line(loadedDetails);
            return new RunSummary("Teacher", TrainingPhase.Teacher.ToString(), "loaded from " + weights, CountParameters(teacherModule!), 0, null, loaded.Top1Accuracy, []);
        }

        if (teacherModule is AirbenchNet { WhiteningInitialized: false } airbench)
        {
            // Its fixed first layer whitens 2×2 patches: the filters come from the training images.
            using var whiteningPlan = data.Train.PlanBatches(Math.Min(5000, data.Train.Count));
            using var whiteningImages = whiteningPlan.GetBatch(0, trainer.Device).Images;
            airbench.InitializeWhitening(whiteningImages);
        }

        Term.Out.Line("\nTraining the teacher (cross-entropy):");
        currentRun = ("the teacher's training", trainer.Options.Checkpoints, TrainingPhase.Teacher);
        var result = console.Track(() => trainer.TrainTeacher(data.Train, data.Evaluation, console, cancellationToken));
        var saved = Path.Combine(settings.OutputDirectory, "teacher.weights");
        var savedNote = $" (weights saved to {saved})";
        try
        {
            teacherModule!.SaveWeights(saved);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The teacher's checkpoint holds it as well: the run goes on, and --resume finds it there.
            Warn($"teacher.weights not written: {e.Message}");
            savedNote = " (weights not saved)";
        }

        currentStep = "evaluating the trained teacher";
        var (evaluation, details) = EvaluateInDetail("Teacher", null, TrainingPhase.Teacher, teacherModule!, trainer.Device, data, cancellationToken);
        currentStep = null;
        Term.Out.Line(string.Create(Invariant, $"Teacher {data.FinalName} accuracy: {evaluation.Top1Accuracy:P2}{Notes(result, data.Validation is not null)}{savedNote}"));
        Term.Out.Line(details);
        if (teacherSnapshots is { Files.Count: > 0 } snapshots)
        {
            Term.Out.Line($"  {snapshots.Files.Count} snapshots in {Path.GetDirectoryName(snapshots.Files[0])}: an ensemble of some of them is --teacher with their files, comma-separated.");
        }

        reports.AddHistory("Teacher", result);
        finishedRuns.Add("the teacher");
        return SampleResults.Summarize("Teacher", result, evaluation.Top1Accuracy);
    }

    /// <summary>Evaluates a teacher that is not trained here and has no single module (an ONNX model, an ensemble) on the final set.</summary>
    private RunSummary EvaluateGivenTeacher(Trainer<ITeacher, nn.Module<Tensor, Tensor>> trainer, Splits data, string what, string origin, long parameters, CancellationToken cancellationToken)
    {
        currentStep = "evaluating " + what;
        var evaluation = trainer.EvaluateTeacherInDetail(data.Final, cancellationToken);
        currentStep = null;
        reports.Add(new ModelEvaluation("Teacher", null, TrainingPhase.Teacher, new EvaluationReport(ModelEvaluation.NameOf("Teacher", null), new ModelFootprint(parameters, 0, 0), evaluation, null)));
        Term.Out.Line(string.Create(Invariant, $"Teacher {data.FinalName} accuracy: {evaluation.Top1Accuracy:P2}"));
        Term.Out.Line(string.Create(Invariant, $"  top-5 {evaluation.Top5Accuracy:P2}, worst class {WorstClass(evaluation)}"));
        return new RunSummary("Teacher", TrainingPhase.Teacher.ToString(), origin, parameters, 0, null, evaluation.Top1Accuracy, []);
    }

    /// <summary>The teacher model of --teacher-model once per file, each loaded from its file, as one ensemble teacher.</summary>
    private ITeacher LoadEnsemble(IReadOnlyList<string> files, ILogger logger)
    {
        var members = new List<ITeacher>();
        try
        {
            foreach (var file in files)
            {
                var member = Teacher.From(NewModel(settings.TeacherModel, "--teacher-model", notebook: () => new TeacherNet(classCount)), ownsModule: true);
                members.Add(member);
                member.GetModule()!.LoadWeights(file, logger);
                ensembleParameters += CountParameters(member.GetModule()!);
            }

            return Teacher.Ensemble([.. members]);
        }
        catch
        {
            members.ForEach(m => m.Dispose());
            throw;
        }
    }

    /// <summary>
    /// The training settings of one run: every run of the sample is built here, so no option is
    /// lost. Each run checkpoints into a folder of its own under the output folder.
    /// </summary>
    private static TrainerOptions TrainerOptionsFor(SampleSettings run, long seed, DeviceOptions device, string checkpointFolder) => new()
    {
        Epochs = run.Epochs,
        BatchSize = run.BatchSize,
        Seed = seed,
        Device = device,
        Optimizer = new Training.OptimizationOptions
        {
            Kind = Enum.Parse<OptimizerKind>(run.Optimizer, ignoreCase: true),
            LearningRate = run.LearningRate,
            WeightDecay = run.WeightDecay,
        },
        Schedule = ScheduleFor(run.Schedule, run.Epochs, run.WarmupEpochs),
        Augmentation = run.Augment ? AugmentationFor(run) : null,
        EvaluateEveryEpoch = run.EvaluateEveryEpoch,
        TrackFidelity = run.TrackFidelity,
        Checkpoints = new CheckpointOptions
        {
            Directory = Path.Combine(run.OutputDirectory, "checkpoints", checkpointFolder),
            Resume = run.Resume,

            // The best epoch is chosen on the validation set only: choosing it on the test set would tune on it.
            KeepBest = run.ValidationCount is not null,
        },
        EarlyStopping = run.Patience is { } patience ? new EarlyStoppingOptions { Patience = patience } : null,
        Precision = run.TrainingPrecision switch
        {
            "bf16-mixed" => TrainingPrecision.BFloat16Mixed,
            "fp16-mixed" => TrainingPrecision.Float16Mixed,
            "auto" => TrainingPrecision.Auto,
            _ => TrainingPrecision.Float32,
        },
        ChannelsLast = run.ChannelsLast switch { "on" => true, "off" => false, _ => null },
        TeacherOutputs = new TeacherOutputOptions
        {
            Cache = run.CacheTeacherOutputs,
            ViewCacheDirectory = run.ViewCacheDirectory,
            Precision = run.TeacherPrecision switch
            {
                "bfloat16" => TeacherPrecision.BFloat16,
                "float32" => TeacherPrecision.Float32,
                _ => TeacherPrecision.Auto,
            },
        },
    };

    /// <summary>Pad-and-crop and flip for small images; from 64 pixels on (--image-size), torchvision's random-resized crop instead; the mixing as asked.</summary>
    private static AugmentationOptions AugmentationFor(SampleSettings run)
    {
        var augmentation = AugmentationOptions.ForImageSize(run.ImageSize ?? 32);
        augmentation.MixupAlpha = run.MixupAlpha;
        augmentation.CutMixAlpha = run.CutMixAlpha;
        return augmentation;
    }

    /// <summary>The teacher's training settings under a recipe: the students' kind of run, with the recipe's own teacher training where it has one.</summary>
    private static TrainerOptions TeacherOptionsFor(SampleSettings settings, DeviceOptions device)
    {
        var options = TrainerOptionsFor(settings.ForTeacher(), settings.Seed, device, "teacher");
        if (settings.TeacherTraining is { } teacher)
        {
            options.Optimizer.Momentum = teacher.Momentum;
            options.Optimizer.Nesterov = teacher.Nesterov;
            options.Optimizer.NormBiasLearningRateScale = teacher.NormBiasLearningRateScale;
            options.Augmentation = new AugmentationOptions { Padding = teacher.AugmentPadding };
            options.FlipTestTimeAugmentation = teacher.FlipTestTimeAugmentation;
            if (teacher.Lookahead)
            {
                // The lookahead average is not checkpointed: the teacher trains in one go (its weights are saved at the end).
                options.Lookahead = new LookaheadOptions();
                options.Checkpoints = null;
            }
        }

        return options;
    }

    private static ScheduleOptions ScheduleFor(string name, int epochs, int warmup) => name.ToLowerInvariant() switch
    {
        "triangle" => new ScheduleOptions { Kind = ScheduleKind.Triangle },
        "constant" => new ScheduleOptions { WarmupEpochs = warmup },
        "step" => new ScheduleOptions { Kind = ScheduleKind.Step, StepSize = Math.Max(1, epochs / 3), WarmupEpochs = warmup },
        "multistep" => new ScheduleOptions { Kind = ScheduleKind.MultiStep, Milestones = [Math.Max(1, epochs / 2), Math.Max(2, (int)(epochs * 3L / 4))], WarmupEpochs = warmup },
        "cosine" => new ScheduleOptions { Kind = ScheduleKind.Cosine, WarmupEpochs = warmup },
        _ => throw new FormatException($"--schedule: unknown schedule '{name}'; use constant, step, multistep or cosine."),
    };

    /// <summary>Trains, then evaluates the trained model in detail (before any later run changes its weights).</summary>
    private RunSummary Train(string name, string title, TrainingPhase phase, Func<Trainer<ITeacher, nn.Module<Tensor, Tensor>>, TrainingResult> run, Trainer<ITeacher, nn.Module<Tensor, Tensor>> trainer, Splits data, long? seed, CancellationToken cancellationToken)
    {
        Term.Out.Line($"\n{title}:");

        currentRun = ($"the run \"{ModelEvaluation.NameOf(name, seed)}\"", trainer.Options.Checkpoints, phase);
        var result = console.Track(() => run(trainer));
        nn.Module<Tensor, Tensor> model = result.Phase == TrainingPhase.Teacher ? trainer.Teacher.GetModule()! : trainer.Student;

        // The test set is evaluated once, in detail; with a validation set it was not seen before.
        currentStep = $"evaluating \"{ModelEvaluation.NameOf(name, seed)}\"";
        var (evaluation, details) = EvaluateInDetail(name, seed, result.Phase, model, trainer.Device, data, cancellationToken);
        Term.Out.Line(string.Create(Invariant, $"{name} {data.FinalName} accuracy: {evaluation.Top1Accuracy:P2}{Notes(result, data.Validation is not null)}"));
        Term.Out.Line(details);
        currentStep = $"exporting \"{ModelEvaluation.NameOf(name, seed)}\" to ONNX";
        ExportOnnx(name, seed, model, data, cancellationToken);
        currentStep = null;
        reports.AddHistory(ModelEvaluation.NameOf(name, seed), result);
        finishedRuns.Add($"\"{ModelEvaluation.NameOf(name, seed)}\"");
        return SampleResults.Summarize(name, result, evaluation.Top1Accuracy);
    }

    /// <summary>With --export-onnx, writes the notebook's student and distilled student as ONNX files, right after training (the distillation continues from the student's weights).</summary>
    private void ExportOnnx(string name, long? seed, nn.Module<Tensor, Tensor> model, Splits data, CancellationToken cancellationToken)
    {
        var file = (name, seed) switch
        {
            ("Student", null) => "student.onnx",
            ("Distilled student", null) => "distilled-student.onnx",
            _ => null,
        };
        if (!settings.ExportOnnx || file is null)
        {
            return;
        }

        // Outputs are independent: a file that cannot be written is reported, and the run goes on to its results.
        var path = Path.Combine(settings.OutputDirectory, file);
        try
        {
            OnnxExporter.Export(model, path, new OnnxExportOptions { ClassNames = data.Test.ClassNames, Normalization = data.Test.Normalization, InputShape = [3, ImageSize, ImageSize] }, cancellationToken: cancellationToken);
            Term.Out.Line($"{name} exported to ONNX: {path}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Warn($"{file} not written: {e.Message}");
            return;
        }

        if (settings.ExportInt8)
        {
            var int8Path = Path.ChangeExtension(path, ".int8.onnx");
            try
            {
                using var calibration = data.Train.Sample(Math.Min(settings.CalibrationImages, data.Train.Count), settings.Seed);
                var report = OnnxQuantizer.Quantize(path, int8Path, calibration, new QuantizationOptions { CalibrationImages = calibration.Count }, cancellationToken: cancellationToken);
                var kept = report.FloatNodes.Count == 0 ? string.Empty : $"; kept in float: {string.Join(", ", report.FloatNodes.Select(n => $"{n.Name} ({n.Note})"))}";
                Term.Out.Line(string.Create(Invariant, $"{name} quantized to int8 ({report.SizeRatio:F1}x smaller, calibrated on {calibration.Count:N0} training images): {int8Path}{kept}"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Warn($"{Path.GetFileName(int8Path)} not written: {e.Message}");
            }
        }
    }

    private static string Notes(TrainingResult result, bool withValidation)
    {
        var notes = new List<string>();
        if (result.ResumedAfterEpoch > 0 && result.ResumedAfterEpoch == result.EpochsTrained)
        {
            // --resume of a finished run: said plainly, so a changed setting is not thought to have trained anything.
            notes.Add($"already complete after {result.EpochsTrained} epochs in its checkpoint: nothing was trained, --resume only evaluated it");
        }
        else if (result.ResumedAfterEpoch > 0)
        {
            notes.Add($"resumed after epoch {result.ResumedAfterEpoch}");
        }

        if (result.StoppedEarly)
        {
            notes.Add($"stopped early after epoch {result.EpochsTrained}");
        }

        if (withValidation && result.BestEpoch is { } best && result.History[best - 1].Accuracy is { } accuracy)
        {
            notes.Add(string.Create(Invariant, $"best validation accuracy {accuracy:P2} in epoch {best}"));
        }

        if (result.TeacherOutputsCached)
        {
            notes.Add("teacher outputs cached");
        }

        return notes.Count == 0 ? string.Empty : $" ({string.Join("; ", notes)})";
    }

    /// <summary>
    /// Top-1 and top-5, per class, the confusion matrix, the footprint and (unless --no-speed) a
    /// short timing of the model on the test set, recorded for the reports; returns the evaluation
    /// and a line of its details to print.
    /// </summary>
    private (DetailedEvaluation Evaluation, string Details) EvaluateInDetail(string kind, long? seed, TrainingPhase phase, nn.Module<Tensor, Tensor> model, Device device, Splits data, CancellationToken cancellationToken)
    {
        var evaluation = Evaluator.EvaluateDetailed(model, data.Final, device, cancellationToken: cancellationToken);
        var speed = settings.MeasureSpeed ? Evaluator.MeasureSpeed(model, data.Final, device, batchSize: 128, warmupBatches: 1, timedBatches: 3, cancellationToken) : null;
        var name = ModelEvaluation.NameOf(kind, seed);
        reports.Add(new ModelEvaluation(kind, seed, phase, new EvaluationReport(name, ModelFootprint.Of(model), evaluation, speed)));
        var timing = speed is null ? string.Empty : string.Create(Invariant,
            $", {speed.ImagesPerSecond:N0} images/s at batch size {speed.BatchSize}, {speed.MillisecondsPerImageAtBatchSize1:F2} ms per image alone");
        return (evaluation, string.Create(Invariant, $"  top-5 {evaluation.Top5Accuracy:P2}, worst class {WorstClass(evaluation)}{timing}"));
    }

    private static string WorstClass(DetailedEvaluation evaluation) =>
        evaluation.PerClass.Where(c => c.Images > 0).OrderBy(c => c.Accuracy).Select(c => string.Create(Invariant, $"{c.Name} {c.Accuracy:P1}")).FirstOrDefault() ?? "-";

    private nn.Module<Tensor, Tensor> FreshStudent(long seed)
    {
        manual_seed(seed);
        return NewStudent();
    }

    /// <summary>The side of the images the models see: --image-size with --data-folder, else CIFAR-10's 32.</summary>
    private int ImageSize => settings.ImageSize ?? 32;

    private nn.Module<Tensor, Tensor> NewStudent() => NewModel(settings.StudentModel, "--student", notebook: () => new StudentNet(classCount));

    /// <summary>A zoo model by name, or the notebook's network; refuses, in the flag's name, a model that cannot take the image size.</summary>
    private nn.Module<Tensor, Tensor> NewModel(string? zooName, string flag, Func<nn.Module<Tensor, Tensor>> notebook)
    {
        if (zooName is null)
        {
            if (ImageSize != 32)
            {
                throw new UsageException($"--image-size {ImageSize}: the notebook's networks take 32×32 images only; choose {flag} from the zoo (docs/models.md) for other sizes.");
            }

            return notebook();
        }

        ZooModelInfo model;
        try
        {
            model = ModelZoo.Get(zooName);
            model.EnsureInputSize(ImageSize);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"{flag} {zooName}: {e.Message}");
        }

        return model.Create(classCount);
    }

    private nn.Module<Tensor, Tensor> CopyOf(nn.Module<Tensor, Tensor> trained)
    {
        var copy = NewStudent();
        copy.load_state_dict(trained.state_dict());
        return copy;
    }

    /// <summary>Writes results.json, the reports and the charts; each that cannot be written is one warning line, and the others are still written.</summary>
    private void Write(SampleResults results) =>
        SampleFiles.WriteOutputs(settings.OutputDirectory, results, reports, settings.Charts, Term.Out.Line, Warn);

    private static void PrintPeakMemory()
    {
        if (ProcessMemory.Read() is { } memory)
        {
            Term.Out.Line(string.Create(Invariant, $"Peak resident memory: {memory.PeakResidentMiB:N0} MiB (now {memory.ResidentMiB:N0} MiB)"));
        }
    }

    private static void Warn(string message) => Term.PrintWarning(message);

    private static long CountParameters(nn.Module module) => module.parameters().Sum(p => p.numel());

    private sealed record Splits(string Folder, ImageDataset Train, ImageDataset Test, ImageDataset? Validation, bool FinalOnValidation = false)
    {
        /// <summary>The set evaluated during training: the validation set when there is one, so the test set stays unseen until the end.</summary>
        public ImageDataset Evaluation => Validation ?? Test;

        /// <summary>The set of each model's final evaluation: the test set, or the validation set for a recipe's choosing runs.</summary>
        public ImageDataset Final => FinalOnValidation ? Validation! : Test;

        /// <summary>The name of <see cref="Final"/>, for the printed lines.</summary>
        public string FinalName => FinalOnValidation ? "validation" : "test";
    }
}
