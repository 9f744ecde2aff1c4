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

    public ToolOption<string?> TeacherLogits { get; } = new("--teacher-logits", "The teacher's logits of the training images, from distill logits (or any safetensors file with one [images, classes] tensor); no teacher runs.", null, isPath: true);

    public ToolOption<bool> Fidelity { get; } = new("--fidelity", "At every evaluated epoch, measure the student's top-1 agreement with the teacher, KL(teacher || student) and the teacher's accuracy on the test images (not with --teacher-logits).", false);

    public ToolOption<bool> Json { get; } = new("--json", ToolOutput.JsonHelp, false);

    public override IReadOnlyList<ToolOption> Options => [Student, .. Teacher.All, TeacherLogits, Fidelity, .. Loss.All, .. Data.All(), .. Training.All, .. Runtime.All, Json];

    protected override bool Resumable => true;

    protected override int Execute(RunSettings settings, ToolContext context, CancellationToken cancellationToken)
    {
        DataLoading.Check(settings, Data);
        TrainerSetup.Check(settings, Data, Training, Runtime);
        Loss.Check(settings);
        var imageSize = settings.Get(Data.ImageSize);
        ModelFactory.Check(settings.Get(Student), imageSize, settings.Origin(Student));
        CheckTeacher(settings, imageSize);
        var output = new ToolOutput(context.Terminal, settings.Get(Runtime.Quiet), settings.Get(Json)) { BatchSize = settings.Get(Runtime.BatchSize) };
        var folder = TrainingRun.Prepare(Name, settings, Training);
        var logger = context.LoggerFactory.CreateLogger("Distillation");

        using var data = DataLoading.Load(settings, Data, logger, cancellationToken);
        output.Progress(data.Description);
        var classes = data.Train.ClassNames.Count;
        manual_seed(settings.Get(Data.Seed));
        using var teacher = OpenTeacher(settings, classes, logger);
        manual_seed(settings.Get(Data.Seed));
        using var student = ModelFactory.Create(settings.Get(Student), classes);
        using var loss = Loss.Create(settings);
        var options = TrainerSetup.For(settings, Data, Training, Runtime);
        options.TrackFidelity = settings.Get(Fidelity);
        var trainer = new Trainer<ITeacher, nn.Module<Tensor, Tensor>>(teacher, student, options, context.LoggerFactory.CreateLogger<Trainer<ITeacher, nn.Module<Tensor, Tensor>>>());
        trainer.Check(data.Train, loss);
        output.Progress($"Distilling {settings.Get(Student)} ({ModelFactory.CountParameters(student):N0} parameters) from {Describe(teacher)} with {loss.Name} on {trainer.Device}, {get_num_threads()} CPU threads:");
        var result = TrainingRun.Train(() => output.Track(() => trainer.Distill(data.Train, data.Test, loss, output, cancellationToken)), TrainingPhase.Distillation, options, context, cancellationToken);

        TrainingRun.Finish(folder, Name, settings.Get(Student), "student.weights", "Student test", student, data, trainer.Device, imageSize, settings.GetText(Training.Export), result, output, context, cancellationToken);
        return ExitCodes.Success;
    }

    /// <summary>One teacher source, its files present, and what it can give the loss and the data.</summary>
    private void CheckTeacher(RunSettings settings, int imageSize)
    {
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

            return;
        }

        if (Loss.ReadsFeatures(settings))
        {
            throw new UsageException($"{settings.Origin(source)} gives the teacher's logits only; {settings.Origin(Loss.Loss)} {settings.Get(Loss.Loss)} reads its features (cosine, hint).");
        }

        if (source == TeacherLogits && settings.Get(Fidelity))
        {
            throw new UsageException($"{settings.Origin(TeacherLogits)} holds logits of the training images only, and {settings.Origin(Fidelity)} compares with the teacher on the test images; leave out {settings.Origin(Fidelity)}.");
        }

        if (source == TeacherLogits && settings.Get(Training.Augment))
        {
            throw new UsageException($"{settings.Origin(TeacherLogits)} holds logits of the un-augmented training images; leave out {settings.Origin(Training.Augment)}.");
        }
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
