using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Runtime.InteropServices;
using Distillation.Cifar10;

// The notebook as one command: CIFAR-10, the teacher, the student baseline, the distilled student.
var data = new Option<string>("--data") { Description = "Folder holding cifar-10-batches-bin/ (created there by the download).", DefaultValueFactory = _ => "./data" };
var dataFolder = new Option<string?>("--data-folder")
{
    Description = "Train on your own images instead of CIFAR-10: a folder <root>/<class>/<image> (jpg, jpeg, png, bmp, webp), or <root>/train/… and <root>/test/…; " +
        "without those, 20 % of each class (drawn with --seed) is the test set. Images are resized to 32×32 (shorter side, then centre crop), the size the sample's models take.",
};
var folderOrder = new Option<string>("--folder-order")
{
    Description = "Order of --data-folder's images: class (class by class, then by file name: torchvision's) or name (by file name across classes: the binary files' order for a folder written by distill-bench png-folder).",
    DefaultValueFactory = _ => "class",
};
var noDownload = new Option<bool>("--no-download") { Description = "Fail instead of downloading CIFAR-10 when it is missing." };
var downloadSource = new Option<string?>("--download-source") { Description = "Mirror URL or local path of cifar-10-binary.tar.gz (default: the official URL)." };
var epochs = new Option<int>("--epochs") { Description = "Epochs of each training run.", DefaultValueFactory = _ => 10 };
var batchSize = new Option<int>("--batch-size") { Description = "Images per training batch.", DefaultValueFactory = _ => 128 };
var learningRate = new Option<double>("--lr") { Description = "Adam's learning rate.", DefaultValueFactory = _ => 0.001 };
var temperature = new Option<double>("--temperature") { Description = "Distillation temperature T.", DefaultValueFactory = _ => 10.0 };
var hardWeight = new Option<double>("--hard-weight") { Description = "Weight of cross-entropy in the distillation loss.", DefaultValueFactory = _ => 1.0 };
var softWeight = new Option<double>("--soft-weight") { Description = "Weight of the T²-scaled KL term in the distillation loss.", DefaultValueFactory = _ => 1.0 };
var seed = new Option<long>("--seed") { Description = "Seed of weight initialization and shuffling.", DefaultValueFactory = _ => 42 };
var threads = new Option<int?>("--threads") { Description = "CPU threads of libtorch (default: one per core)." };
var device = new Option<string>("--device") { Description = "auto, cpu, cuda, cuda:N or mps.", DefaultValueFactory = _ => "auto" };
var trainLimit = new Option<int?>("--train-limit") { Description = "Train on a seeded random subset of this many images." };
var testLimit = new Option<int?>("--test-limit") { Description = "Evaluate on the first this-many test images (the test set's prefixes are class-balanced)." };
var teacher = new Option<string?>("--teacher")
{
    Description = "Load the teacher's weights from this file instead of training it; several comma-separated files (snapshots of one run, say) make an ensemble teacher: the mean of their log-probabilities (Teacher.Ensemble).",
};
var teacherSnapshots = new Option<int?>("--teacher-snapshots")
{
    Description = "Save the teacher this run trains every this many epochs and after its last, into teacher-snapshots/ in the output folder (teacher-epoch-NNN.weights; SnapshotCallback), for an ensemble teacher later: --teacher a.weights,b.weights.",
};
var teacherOnnx = new Option<string?>("--teacher-onnx") { Description = "Use this ONNX model, run by ONNX Runtime, as the teacher (logits only: no cosine or hint terms); it is not trained." };
var teacherLogits = new Option<string?>("--teacher-logits") { Description = "Use the teacher's logits from this safetensors file, one row per training image in the sample's order, or with --augment (or a recipe) every crop-and-flip view of each (distill logits --views); no cosine or hint terms; no teacher runs." };
var output = new Option<string>("--output") { Description = "Folder for results.json, the reports (JSON, CSV), the charts (PNG) and the trained teacher's weights.", DefaultValueFactory = _ => "./runs/latest" };
var verbose = new Option<bool>("--verbose") { Description = "Also print the library's log." };
var distillFrom = new Option<DistillFrom>("--distill-from")
{
    Description = "baseline: distill the student just trained with cross-entropy (the notebook); scratch: a freshly initialised one (the PyTorch tutorial).",
    DefaultValueFactory = _ => DistillFrom.Baseline,
};
var softRamp = new Option<double>("--soft-ramp")
{
    Description = "The last fraction of each distillation run (above 0, at most 1) over which the distillation terms' weights fall linearly to 0, reaching it in the last epoch, while cross-entropy keeps --hard-weight (e.g. 0.25: the KD weight ramped off as the learning rate anneals). 0 = constant weights.",
    DefaultValueFactory = _ => 0.0,
};
var teacherFlipAverage = new Option<bool>("--teacher-flip-average")
{
    Description = "Label each distillation batch with the teacher's flip test-time augmentation: the mean of its log-probabilities for the images and their mirrors (Teacher.UseFlipAveraging), at the cost of a second teacher pass per batch. Logits only: not with --teacher-logits or a --method that reads features (cosine, hint).",
};
var method = new Option<string>("--method") { Description = MethodSpec.Help, DefaultValueFactory = _ => "kd" };
var mixup = new Option<double>("--mixup") { Description = "With --augment: mixup at this Beta(α, α) for the students' training runs (the teacher labels the mixed images; 0 = off, e.g. 0.2)." };
var cutMix = new Option<double>("--cutmix") { Description = "With --augment: CutMix at this Beta(α, α) for the students' training runs (with --mixup, each batch takes one of the two; 0 = off, e.g. 1)." };
var augment = new Option<bool>("--augment") { Description = "Augment training batches: random 32×32 crop from 4-pixel padding and horizontal flip (seeded)." };
var optimizer = new Option<string>("--optimizer") { Description = "adam, adamw or sgd (momentum 0.9); with --weight-decay.", DefaultValueFactory = _ => "adam" };
var weightDecay = new Option<double>("--weight-decay") { Description = "Weight decay of the optimizer.", DefaultValueFactory = _ => 0.0 };
var schedule = new Option<string>("--schedule") { Description = "Learning-rate schedule: constant, step (×0.1 every third of the run), multistep (×0.1 at 50 % and 75 %) or cosine.", DefaultValueFactory = _ => "constant" };
var warmup = new Option<int>("--warmup") { Description = "Epochs of linear learning-rate warm-up.", DefaultValueFactory = _ => 0 };
var evaluateEveryEpoch = new Option<bool>("--eval-every-epoch") { Description = "Evaluate on the test set after every epoch (accuracy curves in training-curves.png), not only after the last." };
var noSpeed = new Option<bool>("--no-speed") { Description = "Skip timing each final model's inference (a few hundred images per model)." };
var fidelity = new Option<bool>("--fidelity") { Description = "In distillation runs, measure at every evaluated epoch the student's top-1 agreement with the teacher, KL(teacher || student) and the teacher's accuracy on the same images (with --eval-every-epoch: every epoch)." };
var noCharts = new Option<bool>("--no-charts") { Description = "Do not draw the PNG charts (training curves, per-class accuracy, confusion matrix)." };
var resume = new Option<bool>("--resume")
{
    Description = "Continue an interrupted run from the checkpoints in <output>/checkpoints (written after every epoch of every run); finished runs are not trained again.",
};
var validation = new Option<int?>("--validation") { Description = "Carve this many training images (seeded) into a validation set: evaluated each epoch, for early stopping and the best epoch; the test set is used only at the end." };
var patience = new Option<int?>("--patience") { Description = "Early stopping: stop a run after this many epochs without a better validation accuracy, keeping the best epoch's weights. Needs --validation." };
var exportOnnx = new Option<bool>("--export-onnx") { Description = "After training, write student.onnx and distilled-student.onnx (ONNX opset 17, class names and normalization in the metadata) into the output folder." };
var noTeacherCache = new Option<bool>("--no-teacher-cache") { Description = "Run the teacher live every epoch even without augmentation (by default its outputs are computed once and reused)." };
var viewCache = new Option<string?>("--view-cache")
{
    Description = "With --augment: a folder for the teacher's logits of every crop-and-flip view (162 per image for pad 4 and flip), computed once per teacher, " +
        "training set and augmentation and looked up after that, so augmented distillation runs without the teacher (logits kept in float16). Not with --mixup or --cutmix.",
};
var seeds = new Option<string?>("--seeds")
{
    Description = "Comma-separated seeds (e.g. 42,43,44): for each, train the baseline student, then (a) distill it, (b) continue it with cross-entropy " +
        "for as many epochs (the control), (c) distill a fresh student; report mean ± sd and the gains a − b and c − baseline. Reuses --teacher.",
};

var recipe = new Option<string?>("--recipe")
{
    Description = "strong: train the teacher once with augmentation (crop + flip), AdamW and a warm-up into cosine annealing, then for each of --seeds (default 42,43,44) " +
        "the control (the student with cross-entropy alone) and the distilled student, with the same augmentation, epochs and batches; report both as mean ± sd and the gain. " +
        "Other flags override the recipe's values (--optimizer and --lr the students' only: the teacher keeps AdamW; --teacher-lr and --teacher-epochs set its own); " +
        "with --validation, everything is evaluated on the validation set and the test set is not touched. " +
        "airbench: the same students (30 epochs) with the zoo's airbench net as the teacher, trained for 12 epochs with airbench94's settings; " +
        "airbench-60: the same with 60 epochs for both students (the configuration that passed the validation gate).",
};
var noControl = new Option<bool>("--no-control") { Description = "With --recipe, train only the distilled students, not the cross-entropy control (to compare distillation settings against a control run once)." };
var teacherEpochs = new Option<int?>("--teacher-epochs") { Description = "The teacher's epochs, when they differ from --epochs (the recipe sets them)." };
var controlOnly = new Option<bool>("--control-only") { Description = "With --recipe, train only the cross-entropy control for each seed, with no teacher (to tune the control's --control-lr, --control-weight-decay and --mixup on --validation)." };
var controlLearningRate = new Option<double?>("--control-lr") { Description = "With --recipe, the control's peak learning rate, when it differs from the distilled student's --lr (the best control has its own)." };
var controlWeightDecay = new Option<double?>("--control-weight-decay") { Description = "With --recipe, the control's weight decay, when it differs from the distilled student's --weight-decay." };
var teacherLearningRate = new Option<double?>("--teacher-lr") { Description = "The teacher's peak learning rate, when it differs from --lr (the recipe sets it)." };
var exportInt8 = new Option<bool>("--export-int8") { Description = "With --export-onnx, also write student.int8.onnx and distilled-student.int8.onnx: static int8 (QDQ) models calibrated on --calibration-images training images, checked by ONNX Runtime." };
var calibrationImages = new Option<int>("--calibration-images") { Description = "Training images (a seeded sample; never the test set) that calibrate --export-int8's activation ranges.", DefaultValueFactory = _ => 1000 };
var studentModel = new Option<string?>("--student") { Description = "The student: the notebook's 2-conv network (default), or a model of the zoo by name (resnet20, resnet8x4, wrn_16_2, mobilenetv2, resnet18, mobilenet_v3_small, …; the list is in docs/models.md)." };
var teacherModel = new Option<string?>("--teacher-model") { Description = "The teacher's network: the notebook's 4-conv network (default), or a model of the zoo by name (resnet56, wrn_40_2, resnet32x4, resnet50, …); with --teacher its weights are loaded into it." };
var imageSize = new Option<int?>("--image-size") { Description = "Side of the square images the models see, with --data-folder (decoded and resized to it); CIFAR-10's files are 32. Each model must take the size." };
var teacherPrecision = new Option<string>("--teacher-precision")
{
    Description = "Number format of a teacher run live during distillation (with --augment): auto (bfloat16 where this machine is measured to run it faster, else float32; may differ between machines), float32 (fp32), or bfloat16 (bf16; channels-last, logits in float32; about twice as fast on CPUs with AVX512-BF16, several times slower without). Default: auto.",
    DefaultValueFactory = _ => "auto",
};

var precision = new Option<string>("--precision")
{
    Description = "Number format of every training step: fp32 (float32, the default: runs reproduce to the bit), bf16-mixed (float32 weights, convolutions and linear layers in bfloat16 under libtorch's autocast, losses in float32; about twice as fast on CPUs with AVX512-BF16, several times slower without), auto (bf16-mixed where this machine is measured to run bfloat16 faster), or fp16-mixed (float16 with dynamic loss scaling, as torch.autocast with a GradScaler; meant for GPUs, slow on CPUs). Evaluation stays float32; the teacher's forward is --teacher-precision.",
    DefaultValueFactory = _ => "fp32",
};
var channelsLast = new Option<string>("--channels-last")
{
    Description = "Training batches in channels-last layout (NHWC strides), which oneDNN's convolutions prefer: auto (on with --precision bf16-mixed, where bfloat16 convolutions need it to be fast; off in float32), on or off.",
    DefaultValueFactory = _ => "auto",
};

var root = new RootCommand("Knowledge distillation on CIFAR-10 with Distillation for .NET: trains the teacher, the student baseline and the distilled student, then prints the results table.")
{
    data, dataFolder, folderOrder, noDownload, downloadSource, epochs, batchSize, learningRate, temperature, hardWeight, softWeight, softRamp,
    seed, threads, device, trainLimit, testLimit, teacher, teacherOnnx, teacherLogits, output, verbose, distillFrom, seeds,
    method, augment, optimizer, weightDecay, schedule, warmup, evaluateEveryEpoch, fidelity, mixup, cutMix, noSpeed, noCharts,
    resume, validation, patience, noTeacherCache, viewCache, exportOnnx, recipe, noControl, controlOnly, teacherEpochs, teacherLearningRate, teacherPrecision,
    teacherFlipAverage, teacherSnapshots, controlLearningRate, controlWeightDecay, studentModel, teacherModel, imageSize, exportInt8, calibrationImages, precision, channelsLast,
};

root.SetAction((parse, cancellationToken) =>
{
    // With --recipe, a flag left out takes the recipe's value; one given on the command line wins.
    var chosen = Recipe.Find(parse.GetValue(recipe));
    T Pick<T>(Option<T> option, Func<Recipe, T> fromRecipe) => chosen is not null && parse.GetResult(option) is not { Implicit: false } ? fromRecipe(chosen) : parse.GetValue(option)!;
    return new SampleRunner(new SampleSettings
    {
        DataRoot = parse.GetValue(data)!,
        DataFolder = parse.GetValue(dataFolder),
        FolderOrder = parse.GetValue(folderOrder)!.ToLowerInvariant(),
        Download = !parse.GetValue(noDownload),
        DownloadSource = parse.GetValue(downloadSource),
        Epochs = Pick(epochs, r => r.Epochs),
        BatchSize = parse.GetValue(batchSize),
        LearningRate = Pick(learningRate, r => r.LearningRate),
        Temperature = Pick(temperature, r => r.Temperature),
        HardWeight = Pick(hardWeight, r => r.HardWeight),
        SoftWeight = Pick(softWeight, r => r.SoftWeight),
        SoftRamp = parse.GetValue(softRamp),
        Seed = parse.GetValue(seed),
        Threads = parse.GetValue(threads),
        Device = parse.GetValue(device)!,
        TrainLimit = parse.GetValue(trainLimit),
        TestLimit = parse.GetValue(testLimit),
        TeacherWeights = parse.GetValue(teacher),
        TeacherOnnx = parse.GetValue(teacherOnnx),
        TeacherLogits = parse.GetValue(teacherLogits),
        OutputDirectory = parse.GetValue(output)!,
        Verbose = parse.GetValue(verbose),
        DistillFrom = chosen is null ? parse.GetValue(distillFrom) : DistillFrom.Scratch,
        Seeds = ParseSeeds(parse.GetValue(seeds)) ?? (chosen is null ? null : [42, 43, 44]),
        Method = Pick(method, r => r.Method),
        Augment = chosen is not null || parse.GetValue(augment),
        Optimizer = Pick(optimizer, r => r.Optimizer),
        WeightDecay = Pick(weightDecay, r => r.WeightDecay),
        Schedule = Pick(schedule, r => r.Schedule),
        WarmupEpochs = Pick(warmup, r => r.WarmupFor(Pick(epochs, r => r.Epochs))),
        EvaluateEveryEpoch = parse.GetValue(evaluateEveryEpoch),
        TrackFidelity = parse.GetValue(fidelity),
        MixupAlpha = parse.GetValue(mixup),
        CutMixAlpha = parse.GetValue(cutMix),
        MeasureSpeed = !parse.GetValue(noSpeed),
        Charts = !parse.GetValue(noCharts),
        Resume = parse.GetValue(resume),
        ValidationCount = parse.GetValue(validation),
        Patience = parse.GetValue(patience),
        CacheTeacherOutputs = !parse.GetValue(noTeacherCache),
        ViewCacheDirectory = parse.GetValue(viewCache),
        Arguments = args,
        ExportOnnx = parse.GetValue(exportOnnx),
        Recipe = chosen?.Name,
        RecipeControl = !parse.GetValue(noControl),
        RecipeDistilled = !parse.GetValue(controlOnly),
        ControlLearningRate = parse.GetValue(controlLearningRate),
        ControlWeightDecay = parse.GetValue(controlWeightDecay),
        TeacherEpochs = parse.GetValue(teacherEpochs) ?? chosen?.TeacherEpochs,
        TeacherLearningRate = parse.GetValue(teacherLearningRate) ?? chosen?.TeacherLearningRate,
        TeacherOptimizer = chosen?.TeacherOptimizer,
        TeacherWarmupEpochs = chosen?.WarmupFor(parse.GetValue(teacherEpochs) ?? chosen.TeacherEpochs),
        TeacherPrecision = SampleSettings.CanonicalPrecision(Pick(teacherPrecision, r => r.TeacherPrecision)),
        TeacherFlipAverage = parse.GetValue(teacherFlipAverage),
        TeacherSnapshotEvery = parse.GetValue(teacherSnapshots),
        TrainingPrecision = SampleSettings.CanonicalTrainingPrecision(parse.GetValue(precision)!),
        ChannelsLast = parse.GetValue(channelsLast)!.ToLowerInvariant(),
        StudentModel = parse.GetValue(studentModel),
        TeacherModel = parse.GetValue(teacherModel) ?? chosen?.Teacher?.Model,
        TeacherTraining = chosen?.Teacher,
        ImageSize = parse.GetValue(imageSize),
        ExportInt8 = parse.GetValue(exportInt8),
        CalibrationImages = parse.GetValue(calibrationImages),
    }).RunAsync(cancellationToken);
});

var parsed = root.Parse(args);
var error = parsed.Errors.Count > 0
    ? parsed.Errors[0].Message
    : FirstRangeError(
        Positive(epochs), Positive(batchSize), PositiveOrNull(threads), PositiveOrNull(trainLimit), PositiveOrNull(testLimit),
        Above(learningRate, 0), Above(temperature, 0), AtLeast(hardWeight, 0), AtLeast(softWeight, 0), AtLeast(weightDecay, 0), SeedsError(),
        parsed.GetValue(softRamp) is var ramp && !(ramp >= 0 && ramp <= 1) ? $"--soft-ramp must be a fraction from 0 to 1, was {ramp.ToString(CultureInfo.InvariantCulture)}." : null,
        OneOf(optimizer, "adam", "adamw", "sgd"), OneOf(folderOrder, "class", "name"), OneOf(schedule, "constant", "step", "multistep", "cosine"), NonNegative(warmup),
        PositiveOrNull(validation), PositiveOrNull(patience), PositiveOrNull(teacherEpochs), AboveOrNull(teacherLearningRate, 0), AboveOrNull(controlLearningRate, 0),
        parsed.GetValue(controlWeightDecay) is { } decay && !(double.IsFinite(decay) && decay >= 0) ? $"--control-weight-decay must be a finite number ≥ 0, was {decay}." : null,
        OneOf(teacherPrecision, "auto", "float32", "bfloat16", "fp32", "bf16"), OneOf(precision, "fp32", "float32", "bf16-mixed", "auto", "fp16-mixed"), OneOf(channelsLast, "auto", "on", "off"), PositiveOrNull(imageSize), Positive(calibrationImages), ZooNameError(studentModel), ZooNameError(teacherModel),
        parsed.GetValue(exportInt8) && !parsed.GetValue(exportOnnx) ? "--export-int8 quantizes the exported files: add --export-onnx." : null,
        parsed.GetValue(imageSize) is { } size && size != 32 && parsed.GetValue(dataFolder) is null ? $"--image-size {size} needs --data-folder: CIFAR-10's files hold 32×32 images." : null,
        parsed.GetValue(recipe) is null && parsed.GetValue(noControl) ? "--no-control needs --recipe." : null,
        ControlOnlyError(),
        ViewCacheError(),
        parsed.GetValue(recipe) is null && (parsed.GetValue(controlLearningRate) is not null || parsed.GetValue(controlWeightDecay) is not null)
            ? "--control-lr and --control-weight-decay need --recipe: they set the control's own rate and decay beside the distilled student's." : null,
        parsed.GetValue(recipe) is null && (parsed.GetValue(teacherEpochs) is not null || parsed.GetValue(teacherLearningRate) is not null)
            ? "--teacher-epochs and --teacher-lr need --recipe: elsewhere the teacher and the students share --epochs and --lr." : null,
        parsed.GetValue(recipe) is { } recipeName && Recipe.Find(recipeName) is null ? $"--recipe must be one of {string.Join(", ", Recipe.All.Select(r => r.Name))}, was '{recipeName}'." : null,
        parsed.GetValue(recipe) is not null && parsed.GetResult(distillFrom) is { Implicit: false } ? "--recipe distills a fresh student (the control starts from the same weights); leave out --distill-from." : null,
        parsed.GetValue(patience) is not null && parsed.GetValue(validation) is null ? "--patience needs --validation: early stopping on the test set would tune on it." : null,
        MethodSpec.Check(parsed.GetValue(method) ?? "", parsed.GetValue(hardWeight), parsed.GetValue(softWeight)),
        TeacherSourceError(),
        FlipAverageError(),
        PositiveOrNull(teacherSnapshots),
        parsed.GetValue(teacherSnapshots) is not null && new[] { teacher, teacherOnnx, teacherLogits }.FirstOrDefault(o => parsed.GetValue(o) is not null) is { } given
            ? $"--teacher-snapshots saves the teacher this run trains, and {given.Name} gives one that is not trained here; leave out one." : null);
if (error is not null)
{
    Terminal.ForProcess().PrintError(error, " (see --help)");
    return 2;
}

// Ctrl-C and SIGTERM stop training between batches: the first signal cancels the token (the
// trainer checks it between batches, the last epoch's checkpoint stays) and the runner says what
// was kept and how to continue; a second signal ends the process at once (the default action).
// System.CommandLine's own handler is off: it registers only after the action has started, and
// the training runs synchronously inside it, so it never saw the signal.
using var cancellation = new CancellationTokenSource();
var signalled = 0;
PosixSignal? firstSignal = null;
void OnSignal(PosixSignalContext context)
{
    if (Interlocked.Increment(ref signalled) == 1)
    {
        firstSignal = context.Signal;
        context.Cancel = true;
        Console.Error.WriteLine($"\n{(context.Signal == PosixSignal.SIGINT ? "Ctrl-C" : context.Signal.ToString())}: stopping after the current batch (press Ctrl-C again to quit at once, losing the current epoch).");
        cancellation.Cancel();
    }
}

using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
var exitCode = await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, cancellation.Token);
return exitCode == SampleRunner.InterruptedExitCode && firstSignal == PosixSignal.SIGTERM ? 128 + 15 : exitCode;

// Range checks run only on values that parsed, so a malformed number is reported by the parser.
string? Positive(Option<int> option) => parsed.GetValue(option) is var v && v < 1 ? $"{option.Name} must be ≥ 1, was {v}." : null;
string? PositiveOrNull(Option<int?> option) => parsed.GetValue(option) is { } v && v < 1 ? $"{option.Name} must be ≥ 1, was {v}." : null;
string? Above(Option<double> option, double bound) => parsed.GetValue(option) is var v && !(double.IsFinite(v) && v > bound)
    ? $"{option.Name} must be a number > {bound.ToString(CultureInfo.InvariantCulture)}, was {v.ToString(CultureInfo.InvariantCulture)}." : null;
string? AtLeast(Option<double> option, double bound) => parsed.GetValue(option) is var v && !(double.IsFinite(v) && v >= bound)
    ? $"{option.Name} must be a number ≥ {bound.ToString(CultureInfo.InvariantCulture)}, was {v.ToString(CultureInfo.InvariantCulture)}." : null;
string? OneOf(Option<string> option, params string[] choices) => parsed.GetValue(option) is { } v && !choices.Contains(v.ToLowerInvariant())
    ? $"{option.Name} must be one of {string.Join(", ", choices)}, was '{v}'." : null;
string? AboveOrNull(Option<double?> option, double bound) => parsed.GetValue(option) is { } v && !(double.IsFinite(v) && v > bound)
    ? $"{option.Name} must be a number > {bound.ToString(CultureInfo.InvariantCulture)}, was {v.ToString(CultureInfo.InvariantCulture)}." : null;
string? NonNegative(Option<int> option) => parsed.GetValue(option) is var v && v < 0 ? $"{option.Name} must be ≥ 0, was {v}." : null;

string? SeedsError()
{
    var text = parsed.GetValue(seeds);
    return text is null || ParseSeeds(text) is { Count: > 0 } ? null : $"--seeds takes comma-separated whole numbers, was '{text}'.";
}

// At most one teacher source; an external teacher gives logits only, and precomputed logits belong to un-augmented images.
// A zoo name is checked before any data is read: the message lists the valid names, nearest first.
string? ZooNameError(Option<string?> option)
{
    if (parsed.GetValue(option) is not { } name)
    {
        return null;
    }

    try
    {
        Distillation.Models.Zoo.ModelZoo.Get(name);
        return null;
    }
    catch (ArgumentException e)
    {
        return $"{option.Name} {name}: {e.Message}";
    }
}

// The view cache serves pad-and-crop and flip views: augmented, unmixed, below the random-resized crop's image size, with the teacher cache on.
string? ViewCacheError()
{
    if (parsed.GetValue(viewCache) is not { } folder)
    {
        return null;
    }

    return string.IsNullOrWhiteSpace(folder) ? "--view-cache needs a folder name."
        : !parsed.GetValue(augment) && parsed.GetValue(recipe) is null ? "--view-cache keeps the teacher's logits of crop-and-flip views: add --augment."
        : parsed.GetValue(mixup) > 0 || parsed.GetValue(cutMix) > 0 ? "--view-cache serves crop-and-flip views, and --mixup and --cutmix images are not views of one image; leave out one or the other."
        : parsed.GetValue(imageSize) is >= 64 ? $"--view-cache serves pad-and-crop views, and --image-size {parsed.GetValue(imageSize)} augments by random-resized crop."
        : parsed.GetValue(noTeacherCache) ? "--view-cache caches the teacher and --no-teacher-cache runs it live; use one."
        : null;
}

string? FlipAverageError() =>
    !parsed.GetValue(teacherFlipAverage) ? null
    : parsed.GetValue(teacherLogits) is not null ? "--teacher-flip-average runs the teacher on each batch and its mirror, and --teacher-logits looks its logits up by image; leave out one."
    : MethodSpec.ReadsFeatures(parsed.GetValue(method) ?? "") ? $"--teacher-flip-average gives the teacher's logits only; --method {parsed.GetValue(method)} reads its features (cosine, hint)."
    : null;

string? ControlOnlyError()
{
    if (!parsed.GetValue(controlOnly))
    {
        return null;
    }

    var teacherFlag = new[] { teacher.Name, teacherOnnx.Name, teacherLogits.Name, teacherEpochs.Name, teacherLearningRate.Name, teacherFlipAverage.Name, teacherSnapshots.Name }.FirstOrDefault(name => parsed.GetResult(name) is OptionResult { Implicit: false });
    return parsed.GetValue(recipe) is null ? "--control-only needs --recipe: it trains a recipe's control alone."
        : parsed.GetValue(noControl) ? "--control-only and --no-control leave nothing to train; use one."
        : teacherFlag is not null ? $"--control-only trains no teacher and distils nothing; leave out {teacherFlag}."
        : null;
}

string? TeacherSourceError()
{
    var given = new[] { teacher.Name, teacherOnnx.Name, teacherLogits.Name }.Where(name => parsed.GetResult(name) is not null).ToArray();
    if (given.Length > 1)
    {
        return $"{string.Join(" and ", given)} each give the teacher; use one.";
    }

    var external = parsed.GetValue(teacherOnnx) is not null ? teacherOnnx.Name : parsed.GetValue(teacherLogits) is not null ? teacherLogits.Name : null;
    if (external is null)
    {
        return null;
    }

    var file = parsed.GetValue(teacherOnnx) ?? parsed.GetValue(teacherLogits)!;
    if (!File.Exists(file))
    {
        return $"{external} {file} does not exist.";
    }

    if (MethodSpec.ReadsFeatures(parsed.GetValue(method) ?? ""))
    {
        return $"{external} gives the teacher's logits only; --method {parsed.GetValue(method)} reads its features (cosine, hint).";
    }

    if (external != teacherLogits.Name || (!parsed.GetValue(augment) && parsed.GetValue(recipe) is null))
    {
        return null;
    }

    // Augmented batches need a file of every view (distill logits --views, PrecomputedTeacher.WriteViews); reading it here is the check.
    try
    {
        using var logits = Distillation.Training.Teacher.FromLogitsFile(file);
        return logits.Views > 1 ? null
            : $"--teacher-logits holds logits of the un-augmented training images; leave out {(parsed.GetValue(recipe) is null ? "--augment" : "--recipe (it augments)")}, or give a file of every crop-and-flip view.";
    }
    catch (InvalidDataException e)
    {
        return $"--teacher-logits {file} cannot be used: {ErrorText.OneLine(e.Message)}";
    }
}

static string? FirstRangeError(params string?[] errors) => errors.FirstOrDefault(e => e is not null);

static IReadOnlyList<long>? ParseSeeds(string? text)
{
    if (text is null)
    {
        return null;
    }

    var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
    var values = parts.Select(p => long.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : (long?)null).ToArray();
    return values.Length > 0 && values.All(v => v is not null) ? values.Select(v => v!.Value).Distinct().ToArray() : [];
}
