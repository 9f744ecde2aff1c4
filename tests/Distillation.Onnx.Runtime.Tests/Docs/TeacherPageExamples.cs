using Distillation.Data;
using Distillation.Losses;
using Distillation.Models;
using Distillation.Onnx.Runtime;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Onnx.Runtime.Tests.Docs;

// The examples of docs/teachers.md, compiled here and run by TeacherPageExamplesTests (DocSnippetTests
// in Distillation.Models.Tests checks that the page holds each region verbatim, indentation removed).
internal static class TeacherPageExamples
{
    public static TrainingResult ComposedTeacher(TeacherNet teacherNet, StudentNet student, IBatchSource train, IBatchSource test)
    {
        // docs:begin TeacherPageComposed
        // The live module, run in bfloat16, its outputs computed once and looked up per batch.
        using var teacher = Teacher.From(teacherNet).UseBFloat16().UseCache();
        var trainer = new Trainer<ITeacher, StudentNet>(teacher, student, new TrainerOptions { Epochs = 2 });
        using var loss = DistillationObjective.Notebook();
        trainer.Check(train, loss);                 // the teacher's and the loss's refusals, before any work
        TrainingResult run = trainer.Distill(train, test, loss);
        // docs:end TeacherPageComposed
        return run;
    }

    public static (TrainingResult Run, double TeacherAccuracy) OnnxModel(string onnxPath, StudentNet student, IBatchSource train, IBatchSource test)
    {
        // docs:begin TeacherPageOnnx
        using var teacher = new OnnxTeacher(onnxPath, threads: 2);   // ONNX Runtime's intra-op threads
        var trainer = new Trainer<OnnxTeacher, StudentNet>(teacher, student, new TrainerOptions { Epochs = 2 });
        TrainingResult run = trainer.Distill(train, test);          // logit terms: kd, kd+ls, dkd
        double teacherAccuracy = trainer.EvaluateTeacher(test).Accuracy;   // through ONNX Runtime too
        // docs:end TeacherPageOnnx
        return (run, teacherAccuracy);
    }

    public static TrainingResult LogitsFile(string logitsPath, StudentNet student, IBatchSource train, IBatchSource test)
    {
        // docs:begin TeacherPageLogits
        // Row i holds the logits of training image i, in the dataset's stored order.
        using var teacher = Teacher.FromLogitsFile(logitsPath);
        var trainer = new Trainer<ITeacher, StudentNet>(teacher, student, new TrainerOptions { Epochs = 2 });
        trainer.Check(train);                       // a row count other than the training set's fails here
        TrainingResult run = trainer.Distill(train, test);
        // docs:end TeacherPageLogits
        return run;
    }

    public static TrainingResult Ensemble(TeacherNet first, TeacherNet second, string onnxPath, StudentNet student, IBatchSource train, IBatchSource test)
    {
        // docs:begin TeacherPageEnsemble
        // The mean of the members' log-probabilities; the ensemble owns and disposes its members.
        using var teacher = Teacher.Ensemble(
            Teacher.From(first),
            Teacher.From(second).UseBFloat16(),
            new OnnxTeacher(onnxPath));
        var trainer = new Trainer<ITeacher, StudentNet>(teacher, student, new TrainerOptions { Epochs = 2 });
        TrainingResult run = trainer.Distill(train, test);
        // docs:end TeacherPageEnsemble
        return run;
    }

    public static TrainingResult Calibrated(TeacherNet teacherNet, StudentNet student, IBatchSource train, IBatchSource test)
    {
        // docs:begin TeacherPageUse
        using var teacher = Teacher.From(teacherNet).Use(inner => new CalibratedTeacher(inner, temperature: 1.5)).UseCache();
        var trainer = new Trainer<ITeacher, StudentNet>(teacher, student, new TrainerOptions { Epochs = 2 });
        TrainingResult run = trainer.Distill(train, test);
        // docs:end TeacherPageUse
        return run;
    }
}

// docs:begin TeacherPageKind
/// <summary>A teacher whose logits are divided by a calibration temperature fitted on held-out data.</summary>
internal sealed class CalibratedTeacher(ITeacher inner, double temperature) : DelegatingTeacher(inner)
{
    // Its outputs differ from the inner teacher's, so its cache key and checkpoint identity must too.
    public override string Fingerprint => $"{Inner.Fingerprint}|calibrated:{temperature:R}";

    // A kind owns its rules: refuse, in one line and before any work, what it cannot give.
    public override TeacherPreparation Prepare(TeacherRequest request)
    {
        if (request.FeaturePaths.Count > 0)
        {
            throw new ArgumentException($"The {request.RequestedBy} loss reads the teacher's features; {nameof(CalibratedTeacher)} calibrates logits only.");
        }

        return base.Prepare(request);
    }

    public override TeacherOutput Forward(TeacherBatch batch)
    {
        var output = base.Forward(batch);
        return output with { Logits = output.Logits / temperature };
    }
}
// docs:end TeacherPageKind
