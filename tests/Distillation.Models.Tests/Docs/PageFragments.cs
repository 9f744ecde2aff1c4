using Distillation.Data;
using Distillation.Models.Zoo;
using Distillation.Serialization;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Models.Tests.Docs;

// Examples of docs/training.md, docs/models.md and docs/your-data.md that read or write files by relative paths (a
// checkpoint folder, state dicts, an image folder): compiled here, so they cannot drift from the API, but not run
// (DocSnippetTests checks that the pages hold each region verbatim, indentation removed).
internal static class PageFragments
{
    public static object Checkpoints(ImageDataset fullTrain, TeacherNet teacher, StudentNet student, ImageDataset testSet)
    {
        // docs:begin TrainingPageCheckpoints
        var (trainSet, validation) = fullTrain.SplitValidation(5_000, seed: 42);   // seeded, disjoint, stored order kept
        var options = new TrainerOptions
        {
            Checkpoints = new CheckpointOptions { Directory = "runs/kd", Resume = true },    // keeps {phase}-last.checkpoint and {phase}-best.weights
            EarlyStopping = new EarlyStoppingOptions { Patience = 3, RestoreBest = true },   // on the evaluation set's accuracy
        };
        var trainer = new Trainer<TeacherNet, StudentNet>(teacher, student, options);
        var result = trainer.Distill(trainSet, validation);      // validation is evaluated every epoch
        Console.WriteLine($"best epoch {result.BestEpoch}, stopped early: {result.StoppedEarly}, resumed after epoch {result.ResumedAfterEpoch}");
        var test = trainer.EvaluateStudent(testSet);             // the test set, once, at the end
        // docs:end TrainingPageCheckpoints
        return test;
    }

    public static void StateDicts()
    {
        // docs:begin TrainingPageStateDicts
        using var student = new StudentNet();
        student.LoadSafetensors("student.safetensors");                  // strict: the keys must match exactly
        StateDictLoadResult partial = student.LoadSafetensors("backbone.safetensors", strict: false);
        Console.WriteLine(string.Join(", ", partial.MissingKeys));       // and partial.UnexpectedKeys
        student.SaveSafetensors("student-dotnet.safetensors");           // back to Python: safetensors.torch.load_file
        student.LoadPyTorchStateDict("student.pth");                     // torch.save(model.state_dict(), ...), via TorchSharp.PyBridge
        // docs:end TrainingPageStateDicts
    }

    public static void ImageFolder()
    {
        // docs:begin YourDataPageImageFolder
        var options = new ImageFolderOptions
        {
            ImageSize = 32,                                       // every image becomes 3×32×32
            Resize = ImageResizeMode.ShorterSideThenCenterCrop,   // or Stretch
            Normalization = ImageNormalization.ImageNet,          // the default
            TestFraction = 0.2, SplitSeed = 42,                   // used only when there is no train/ and test/
        };
        var (train, test) = ImageFolderDataset.LoadSplits("photos", options,
            new Progress<ImageFolderProgress>(p => Console.Write($"\r{p.Decoded}/{p.Total}")));
        using (train) using (test)
        {
            manual_seed(42);
            var trainer = new Trainer<TeacherNet, StudentNet>(new TeacherNet(train.ClassNames.Count), new StudentNet(train.ClassNames.Count), new TrainerOptions());
            trainer.TrainTeacher(train, test);
        }
        // docs:end YourDataPageImageFolder
    }

    public static void Zoo()
    {
        // docs:begin ModelsPageZoo
        using var student = ModelZoo.Create("resnet20", classes: 10);      // fresh weights, reference init
        using var teacher = ModelZoo.Create("resnet18", classes: 10);
        teacher.LoadPyTorchStateDict("resnet18.pth");                      // torch.save(model.state_dict()) from torchvision: no renaming
        var hint = ModelZoo.Get("resnet56").FeatureStages[1];              // layer2: 32 channels, stride 2
        ModelZoo.Get("mobilenetv2").EnsureInputSize(8);                    // throws: needs at least 16×16 pixels
        // docs:end ModelsPageZoo
        GC.KeepAlive(hint);
    }
}
