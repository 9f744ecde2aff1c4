using Distillation.Data;
using Distillation.Models.Zoo;
using Distillation.Serialization;
using Distillation.Training;
using TorchSharp;

namespace Distillation.Models.Tests.Docs;

// The option examples of docs/training.md, compiled here and run by TrainingPageExamplesTests
// (DocSnippetTests checks that the page holds each region verbatim, indentation removed).
internal static class TrainingPageExamples
{
    public static TrainerOptions Recipe()
    {
        // docs:begin TrainingPageRecipe
        var options = new TrainerOptions
        {
            Optimizer = new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 0.05, Momentum = 0.9, Nesterov = true, WeightDecay = 5e-4, GradientClipNorm = 5 },
            Schedule = new ScheduleOptions { Kind = ScheduleKind.Cosine, WarmupEpochs = 2 },   // or Step, MultiStep
            Augmentation = new AugmentationOptions { Padding = 4, HorizontalFlip = true },     // batch-wise, seeded
        };
        // docs:end TrainingPageRecipe
        return options;
    }

    public static TrainingResult FastTeacher(ImageDataset train, ImageDataset validation)
    {
        // docs:begin TrainingPageFastTeacher
        using var teacher = new AirbenchNet(train.ClassNames.Count);
        using (var firstImages = train.PlanBatches(5000))
        {
            // The fixed 2×2 whitening stem, from the patch statistics of (up to) 5,000 normalized training images.
            teacher.InitializeWhitening(firstImages.GetBatch(0, torch.CPU).Images);
        }

        var options = new TrainerOptions
        {
            Epochs = 12,
            BatchSize = 1024,
            // airbench94's rates for a batch-mean loss; BatchNorm biases learn 64× faster, with the decay divided by 64.
            Optimizer = new OptimizationOptions { Kind = OptimizerKind.Sgd, LearningRate = 1.5, Momentum = 0.85, Nesterov = true, WeightDecay = 1.33e-3, NormBiasLearningRateScale = 64 },
            Schedule = new ScheduleOptions { Kind = ScheduleKind.Triangle },   // per step: 0.2 → 1 at 23 % of the steps → 0.07
            Augmentation = new AugmentationOptions { Padding = 2 },
            Lookahead = new LookaheadOptions(),                                 // every 5 steps, decay 0.95⁵·(s/S)³, the average kept at the end
            FlipTestTimeAugmentation = true,                                    // evaluations average each image with its mirror
        };
        var result = new Trainer<AirbenchNet, AirbenchNet>(teacher, teacher, options).TrainTeacher(train, validation);
        // docs:end TrainingPageFastTeacher
        return result;
    }

    public static TrainerOptions Seams()
    {
        // docs:begin TrainingPageSeams
        var options = new TrainerOptions
        {
            // Any TorchSharp optimizer, from the parameters to train (the student's, then a learned loss's).
            OptimizerFactory = parameters => torch.optim.SGD(parameters, 0.05, momentum: 0.9),
            // Any TorchSharp scheduler, stepped after every epoch (replayed on resume).
            SchedulerFactory = optimizer => torch.optim.lr_scheduler.StepLR(optimizer, step_size: 10, gamma: 0.5),
            // Two batches per optimizer step: the effective batch of 256 in the memory of 128.
            GradientAccumulationSteps = 2,
            // Evaluate after every epoch, so that a callback sees each epoch's accuracy (else only the last has one).
            EvaluateEveryEpoch = true,
        };
        options.Callbacks.Add(new StopWhenGoodEnough());
        // docs:end TrainingPageSeams
        return options;
    }

    public static TrainingResult Snapshots(string folder, ImageDataset train, ImageDataset test)
    {
        var classes = train.ClassNames.Count;
        using var teacher = new TeacherNet(classes);
        using var student = new StudentNet(classes);

        // docs:begin TrainingPageSnapshots
        var snapshots = new SnapshotCallback(Path.Combine(folder, "snapshots"), everyEpochs: 2);
        var options = new TrainerOptions { Epochs = 6 };
        options.Callbacks.Add(snapshots);
        new Trainer<TeacherNet, StudentNet>(teacher, student, options).TrainTeacher(train);

        // The last three snapshots as one teacher: the mean of their log-probabilities.
        var members = snapshots.Snapshots.TakeLast(3).Select(path =>
        {
            var net = new TeacherNet(classes);
            net.LoadWeights(path);
            return Teacher.From(net, ownsModule: true);
        }).ToArray();
        using var ensemble = Teacher.Ensemble(members);
        var distilled = new Trainer<ITeacher, StudentNet>(ensemble, student, new TrainerOptions { Epochs = 6 }).Distill(train, test);
        // docs:end TrainingPageSnapshots
        return distilled;
    }

    public static TrainerOptions Cache()
    {
        // docs:begin TrainingPageCache
        var options = new TrainerOptions
        {
            TeacherOutputs = new TeacherOutputOptions { Directory = "cache/teacher-outputs" },   // or Cache = false
        };
        // docs:end TrainingPageCache
        return options;
    }

    public static TrainerOptions ViewCache()
    {
        // docs:begin TrainingPageViewCache
        var options = new TrainerOptions
        {
            Augmentation = new AugmentationOptions { Padding = 4, HorizontalFlip = true },       // 9 · 9 · 2 = 162 views per image
            TeacherOutputs = new TeacherOutputOptions { ViewCacheDirectory = "cache/teacher-views" },
        };
        // docs:end TrainingPageViewCache
        return options;
    }

    public static TrainerOptions BFloat16()
    {
        // docs:begin TrainingPageBFloat16
        var options = new TrainerOptions
        {
            Augmentation = new AugmentationOptions(),
            TeacherOutputs = new TeacherOutputOptions { Precision = TeacherPrecision.BFloat16 },
        };
        // docs:end TrainingPageBFloat16
        return options;
    }

    public static TrainerOptions MixedPrecision()
    {
        // docs:begin TrainingPageMixedPrecision
        var options = new TrainerOptions
        {
            Precision = TrainingPrecision.BFloat16Mixed,   // or Auto: mixed only where measured faster
            ChannelsLast = null,                           // the default: on in mixed precision, off in float32
        };
        // docs:end TrainingPageMixedPrecision
        return options;
    }
}

// docs:begin TrainingPageCallback
sealed class StopWhenGoodEnough : ITrainingCallback
{
    // OnStepEnd(StepEndContext) sees each step's LossResult; reading a value waits for the device.
    public void OnEpochEnd(EpochEndContext context)
    {
        if (context.Report.Accuracy >= 0.9) context.StopTraining();   // marked StoppedEarly; resume returns it
    }
}
// docs:end TrainingPageCallback
