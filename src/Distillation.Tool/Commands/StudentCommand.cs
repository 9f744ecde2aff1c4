using Distillation.Evaluation;
using Distillation.Onnx.Runtime;
using Distillation.Serialization;
using Distillation.Tool.Cli;
using Distillation.Tool.Runs;
using Distillation.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Distillation.Tool.Commands;

/// <summary><c>distill student</c>: distils a student from a teacher given as weights, an ONNX file or a logits file.</summary>
internal sealed class StudentCommand() : ToolCommand(
    "student",
    "Distil a student (a model of the zoo, or the notebook's studentnet) from a teacher: a model with its weights (--teacher-model, --teacher-weights), " +
    "an ONNX file (--teacher-onnx) or a logits file (--teacher-logits, from distill logits); on an image folder or CIFAR-10, with any of the library's losses. " +
    "Writes <output>/student.weights, results.json and config.yaml; --export writes an ONNX file and checks it in ONNX Runtime.",
    "distill student --images ./photos --image-size 64 --teacher-onnx teacher.onnx --student resnet20 --loss kd --temperature 4 --export student.onnx")
{
    public DataOptions Data { get; } = new();

    public RuntimeOptions Runtime { get; } = new(batchSize: 128);

    public TrainingOptions Training { get; } = new("./runs/student");

    public TeacherSourceOptions Teacher { get; } = new();

    public LossOptions Loss { get; } = new();

    public ToolOption<string> Student { get; } = new("--student", "The student's network: studentnet (the notebook's 2-conv network) or a model of the zoo (resnet20, resnet8x4, wrn_16_2, mobilenetv2, …; docs/models.md).", ModelFactory.NotebookStudent);

    public ToolOption<string?> TeacherLogits { get; } = new("--teacher-logits",
        "The teacher's logits of the training images, from distill logits (or any safetensors file with one [images, classes] tensor); no teacher runs. " +
        "With --augment, a file of every view (distill logits --views).", null, isPath: true);

    public ToolOption<string> TeacherPrecision { get; } = new("--teacher-precision",
        "Number format of a live teacher (--teacher-weights): auto (bfloat16 where measured faster here and the loss reads logits only), fp32 or bf16.", "auto");

    public ToolOption<string?> ViewCache { get; } = new("--view-cache",
        "With --augment at images below 64 px: a folder for the teacher's logits of every crop-and-flip view (162 per image, float16), computed once per teacher, data and augmentation, " +
        "after which no teacher runs (a live --teacher-weights or --teacher-onnx teacher; CIFAR-10 only, whose images are held in memory).", null, isPath: true);

    public ToolOption<bool> Fidelity { get; } = new("--fidelity", "At every evaluated epoch, measure the student's top-1 agreement with the teacher, KL(teacher || student) and the teacher's accuracy on the test images (not with --teacher-logits).", false);

    public ToolOption<bool> Json { get; } = new("--json", ToolOutput.JsonHelp, false);

    public override IReadOnlyList<ToolOption> Options => [Student, .. Teacher.All, TeacherLogits, TeacherPrecision, ViewCache, Fidelity, .. Loss.All, .. Data.All(), .. Training.All, .. Runtime.All, Json];

    protected override bool Resumable => true;

    protected override int Execute(RunSettings settings, ToolContext context, CancellationToken cancellationToken)
    {
        DataLoading.Check(settings, Data);
        TrainerSetup.Check(settings, Data, Training, Runtime);
        Loss.Check(settings);
        var imageSize = settings.Get(Data.ImageSize);
        ModelFactory.Check(settings.Get(Student), imageSize, settings.Origin(Student));
        using var logitsTeacher = CheckTeacher(settings, imageSize);
        var output = new ToolOutput(context.Terminal, settings.Get(Runtime.Quiet), settings.Get(Json)) { BatchSize = settings.Get(Runtime.BatchSize) };
        var folder = TrainingRun.Prepare(Name, settings, Training);
        var logger = context.LoggerFactory.CreateLogger("Distillation");

        using var data = DataLoading.Load(settings, Data, logger, cancellationToken);
        output.Progress(data.Description);
        var classes = data.Train.ClassNames.Count;
        manual_seed(settings.Get(Data.Seed));
        using var liveTeacher = logitsTeacher is null ? OpenTeacher(settings, classes, logger) : null;
        var teacher = (ITeacher?)logitsTeacher ?? liveTeacher!;
        manual_seed(settings.Get(Data.Seed));
        using var student = ModelFactory.Create(settings.Get(Student), classes);
        using var loss = Loss.Create(settings);
        var options = TrainerSetup.For(settings, Data, Training, Runtime);
        options.TrackFidelity = settings.Get(Fidelity);
        options.TeacherOutputs.Precision = settings.Get(TeacherPrecision).ToLowerInvariant() switch
        {
            "fp32" or "float32" => Distillation.Training.TeacherPrecision.Float32,
            "bf16" or "bfloat16" => Distillation.Training.TeacherPrecision.BFloat16,
            _ => Distillation.Training.TeacherPrecision.Auto,
        };
        options.TeacherOutputs.ViewCacheDirectory = settings.GetText(ViewCache) is { } viewCache ? Path.GetFullPath(viewCache) : null;
        var trainer = new Trainer<ITeacher, nn.Module<Tensor, Tensor>>(teacher, student, options, context.LoggerFactory.CreateLogger<Trainer<ITeacher, nn.Module<Tensor, Tensor>>>());
        trainer.Check(data.Train, loss);
        output.Progress($"Distilling {settings.Get(Student)} ({ModelFactory.CountParameters(student):N0} parameters) from {Describe(teacher)} with {loss.Name} on {trainer.Device}, {get_num_threads()} CPU threads:");
        var result = TrainingRun.Train(() => output.Track(() => trainer.Distill(data.Train, data.Test, loss, output, cancellationToken)), TrainingPhase.Distillation, options, context, cancellationToken);

        TrainingRun.Finish(folder, Name, settings.Get(Student), "student.weights", "Student test", student, data, trainer.Device, imageSize, settings.GetText(Training.Export), result, output, context, cancellationToken);
        return ExitCodes.Success;
    }

    /// <summary>
    /// One teacher source, its files present, and what it can give the loss and the data; a logits
    /// file is read here (whether it holds views decides whether --augment may go with it) and
    /// returned as the teacher, null for the other sources.
    /// </summary>
    private PrecomputedTeacher? CheckTeacher(RunSettings settings, int imageSize)
    {
        Checks.OneOf(settings, TeacherPrecision, "auto", "fp32", "float32", "bf16", "bfloat16");
        var given = new ToolOption[] { Teacher.Weights, Teacher.Onnx, TeacherLogits }.Where(o => settings.GetText((ToolOption<string?>)o) is not null).ToArray();
        if (given.Length == 0)
        {
            throw new UsageException("Give the teacher: --teacher-weights <file> (with --teacher-model), --teacher-onnx <file> or --teacher-logits <file>.");
        }

        if (given.Length > 1)
        {
            throw new UsageException($"{string.Join(" and ", given.Select(settings.Origin))} each give the teacher; use one.");
        }

        var source = (ToolOption<string?>)given[0];
        Checks.ExistingFile(settings, source);
        if (source == Teacher.Weights)
        {
            ModelFactory.Check(settings.Get(Teacher.Model), imageSize, settings.Origin(Teacher.Model));
            if (CheckpointOptions.IsCheckpointFile(settings.GetText(Teacher.Weights)!))
            {
                throw new UsageException($"{settings.Origin(Teacher.Weights)} {settings.GetText(Teacher.Weights)} is a training checkpoint, not a weights file: give the run's teacher.weights.");
            }
        }
        else if (!string.Equals(settings.Get(TeacherPrecision), "auto", StringComparison.OrdinalIgnoreCase))
        {
            throw new UsageException($"{settings.Origin(TeacherPrecision)} sets the number format of a model run here (--teacher-weights); {settings.Origin(source)} gives {(source == TeacherLogits ? "logits computed already" : "a model ONNX Runtime runs in its own format")}.");
        }

        if (settings.GetText(ViewCache) is not null)
        {
            if (!settings.Get(Training.Augment))
            {
                throw new UsageException($"{settings.Origin(ViewCache)} keeps the teacher's logits of augmented views: add {settings.Origin(Training.Augment)}.");
            }

            if (source == TeacherLogits)
            {
                throw new UsageException($"{settings.Origin(ViewCache)} keeps a live teacher's views, and {settings.Origin(TeacherLogits)} runs no teacher; use one.");
            }

            if (settings.GetText(Data.Images) is not null)
            {
                throw new UsageException($"{settings.Origin(ViewCache)} keys its file by the images held in memory, and {settings.Origin(Data.Images)} is streamed from disk; use distill logits --views and --teacher-logits instead.");
            }

            Checks.OutputFolderIfGiven(settings, ViewCache);
        }

        if (source == Teacher.Weights)
        {
            return null;
        }

        if (Loss.ReadsFeatures(settings))
        {
            throw new UsageException($"{settings.Origin(source)} gives the teacher's logits only; {settings.Origin(Loss.Loss)} {settings.Get(Loss.Loss)} reads its features (cosine, hint).");
        }

        if (source == TeacherLogits && settings.Get(Fidelity))
        {
            throw new UsageException($"{settings.Origin(TeacherLogits)} holds logits of the training images only, and {settings.Origin(Fidelity)} compares with the teacher on the test images; leave out {settings.Origin(Fidelity)}.");
        }

        if (source != TeacherLogits)
        {
            return null;
        }

        PrecomputedTeacher logits;
        try
        {
            logits = Distillation.Training.Teacher.FromLogitsFile(settings.GetText(TeacherLogits)!);
        }
        catch (InvalidDataException e)
        {
            throw new UsageException($"{settings.Origin(TeacherLogits)} {settings.GetText(TeacherLogits)} cannot be used: {ErrorText.OneLine(e.Message)}");
        }

        if (logits.Views == 1 && settings.Get(Training.Augment))
        {
            logits.Dispose();
            throw new UsageException($"{settings.Origin(TeacherLogits)} holds logits of the un-augmented training images; leave out {settings.Origin(Training.Augment)}, or compute the logits of every view (distill logits --views).");
        }

        return logits;
    }

    private ITeacher OpenTeacher(RunSettings settings, int classes, Microsoft.Extensions.Logging.ILogger logger)
    {
        if (settings.GetText(Teacher.Onnx) is { } onnx)
        {
            return new OnnxTeacher(onnx, threads: settings.GetOrNull(Runtime.Threads) ?? 0);
        }

        if (settings.GetText(TeacherLogits) is { } logits)
        {
            return Distillation.Training.Teacher.FromLogitsFile(logits);
        }

        var module = ModelFactory.Create(settings.Get(Teacher.Model), classes);
        try
        {
            ModelFactory.LoadWeights(module, settings.GetText(Teacher.Weights)!, logger);
            return Distillation.Training.Teacher.From(module, ownsModule: true);
        }
        catch
        {
            module.Dispose();
            throw;
        }
    }

    private static string Describe(ITeacher teacher) => teacher switch
    {
        OnnxTeacher onnx => $"the ONNX teacher {onnx.ModelPath}",
        PrecomputedTeacher logits => $"the logits in {logits.Path}",
        _ => $"the teacher {teacher.GetModule()?.GetName()} ({ModelFactory.CountParameters(teacher.GetModule()!):N0} parameters)",
    };
}
