// The README's library example, compiled here and run by ReadmeExampleTests on small synthetic data
// (DocSnippetTests checks that README.md holds this text verbatim, between the two markers).
// docs:begin ReadmeExampleTests
using Distillation.Data;
using Distillation.Losses;
using Distillation.Models;
using Distillation.Training;
using static TorchSharp.torch;

static class NotebookExample
{
    // Downloads nothing: the sample (or Cifar10Downloader) puts CIFAR-10 in ./data first.
    public static void Run()
    {
        using var train = Cifar10Dataset.Load("./data", Cifar10Split.Train);   // one resident uint8 tensor
        using var test = Cifar10Dataset.Load("./data", Cifar10Split.Test);
        var (teacher, student, distilled) = TeachAndDistill(train, test, epochs: 10);
        Console.WriteLine($"teacher {teacher:P2}, student alone {student:P2}, distilled {distilled:P2}");
    }

    // Any IBatchSource works: CIFAR-10, an image folder (ImageFolderDataset), your own tensors (ImageDataset).
    public static (double Teacher, double Student, double Distilled) TeachAndDistill(IBatchSource train, IBatchSource test, int epochs)
    {
        var classes = train.ClassNames.Count;
        manual_seed(42);
        using var teacherNet = new TeacherNet(classes);
        manual_seed(42);
        using var studentNet = new StudentNet(classes);
        var options = new TrainerOptions { Epochs = epochs, BatchSize = 128, Seed = 42 };   // Adam 1e-3, as the notebook
        var trainer = new Trainer<TeacherNet, StudentNet>(teacherNet, studentNet, options);

        TrainingResult teacher = trainer.TrainTeacher(train, test);
        TrainingResult student = trainer.TrainStudent(train, test);                          // the control: cross-entropy alone
        using var loss = DistillationObjective.Notebook();                                   // 1·CE + 1·KD at T = 10
        trainer.Check(train, loss);                                                          // the teacher's and the loss's refusals, before any work
        TrainingResult distilled = trainer.Distill(train, test, loss);                       // continues from the trained student
        return (teacher.FinalAccuracy ?? 0, student.FinalAccuracy ?? 0, distilled.FinalAccuracy ?? 0);
    }
}
// docs:end ReadmeExampleTests
