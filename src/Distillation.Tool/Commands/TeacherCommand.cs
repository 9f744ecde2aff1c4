using Distillation.Evaluation;
using Distillation.Serialization;
using Distillation.Tool.Cli;
using Distillation.Tool.Runs;
using Distillation.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Distillation.Tool.Commands;

/// <summary><c>distill teacher</c>: trains a model with cross-entropy and saves its weights.</summary>
internal sealed class TeacherCommand() : ToolCommand(
    "teacher",
    "Train a teacher (a model of the zoo, or the notebook's teachernet) with cross-entropy on an image folder or CIFAR-10; writes <output>/teacher.weights, results.json and config.yaml.",
    "distill teacher --images ./photos --image-size 64 --model resnet18 --epochs 30 --augment --output runs/teacher")
{
    public DataOptions Data { get; } = new();

    public RuntimeOptions Runtime { get; } = new(batchSize: 128);

    public TrainingOptions Training { get; } = new("./runs/teacher");

    public ToolOption<string> Model { get; } = new("--model", "The network: teachernet (the notebook's 4-conv network) or a model of the zoo (resnet56, wrn_40_2, resnet18, …; docs/models.md).", ModelFactory.NotebookTeacher);

    public ToolOption<bool> Json { get; } = new("--json", ToolOutput.JsonHelp, false);

    public override IReadOnlyList<ToolOption> Options => [Model, .. Data.All(), .. Training.All, .. Runtime.All, Json];

    protected override bool Resumable => true;

    protected override int Execute(RunSettings settings, ToolContext context, CancellationToken cancellationToken)
    {
        DataLoading.Check(settings, Data);
        TrainerSetup.Check(settings, Data, Training, Runtime);
        ModelFactory.Check(settings.Get(Model), settings.Get(Data.ImageSize), settings.Origin(Model));
        var output = new ToolOutput(context.Terminal, settings.Get(Runtime.Quiet), settings.Get(Json)) { BatchSize = settings.Get(Runtime.BatchSize) };
        var folder = TrainingRun.Prepare(Name, settings, Training);
        var logger = context.LoggerFactory.CreateLogger("Distillation");

        using var data = DataLoading.Load(settings, Data, logger, cancellationToken);
        output.Progress(data.Description);
        manual_seed(settings.Get(Data.Seed));
        using var model = ModelFactory.Create(settings.Get(Model), data.Train.ClassNames.Count);
        var options = TrainerSetup.For(settings, Data, Training, Runtime);
        using var teacher = Teacher.From(model);
        // The model is the trainer's teacher; TrainTeacher trains only it (the student slot is unused).
        var trainer = new Trainer<ITeacher, nn.Module<Tensor, Tensor>>(teacher, model, options, context.LoggerFactory.CreateLogger<Trainer<ITeacher, nn.Module<Tensor, Tensor>>>());
        output.Progress($"Training {settings.Get(Model)} ({ModelFactory.CountParameters(model):N0} parameters) on {trainer.Device}, {get_num_threads()} CPU threads:");
        var result = TrainingRun.Train(() => output.Track(() => trainer.TrainTeacher(data.Train, data.Test, output, cancellationToken)), TrainingPhase.Teacher, options, context, cancellationToken);

        TrainingRun.Finish(folder, Name, settings.Get(Model), "teacher.weights", "Teacher test", model, data, trainer.Device, settings.Get(Data.ImageSize), settings.GetText(Training.Export), result, output, context, cancellationToken);
        return ExitCodes.Success;
    }
}
