namespace Distillation.Tool.Cli;

/// <summary>Where the images come from: CIFAR-10's binary files or an image folder, and which of them are used.</summary>
internal sealed class DataOptions
{
    public ToolOption<string?> Cifar10 { get; } = new("--cifar10", "Use CIFAR-10: the folder holding cifar-10-batches-bin/ (or that folder itself). Give this or --images.", null, isPath: true);

    public ToolOption<string?> Images { get; } = new("--images",
        "Use your images: a folder <root>/<class>/<image> (jpg, jpeg, png, bmp, webp), or <root>/train/… and <root>/test/…; without those, 20 % of each class (drawn with --seed) is the test set.",
        null, isPath: true);

    public ToolOption<int> ImageSize { get; } = new("--image-size", "Side of the square images the models see (--images are decoded and resized to it: shorter side, then centre crop); CIFAR-10 is 32.", 32);

    public ToolOption<string> FolderOrder { get; } = new("--folder-order", "Order of an image folder's images: class (class by class, then file name) or name (file name across classes).", "class");

    public ToolOption<long> Seed { get; } = new("--seed", "Seed of weight initialization, shuffling, augmentation and the image folder's test split.", 42);

    public ToolOption<int?> TrainLimit { get; } = new("--train-limit", "Use a seeded random subset of this many training images.", null);

    public ToolOption<int?> TestLimit { get; } = new("--test-limit", "Evaluate on the first this-many test images.", null);

    public ToolOption<double> MemoryBudget { get; } = new("--memory-budget",
        "GiB an image folder's decoded images may take in memory (N·3·size² bytes); a folder over it is streamed from disk instead, decoded batch by batch as it is read (not with --train-limit or --test-limit).", 4);

    public IEnumerable<ToolOption> All(bool limits = true) =>
        limits ? [Cifar10, Images, ImageSize, FolderOrder, Seed, TrainLimit, TestLimit, MemoryBudget] : [Cifar10, Images, ImageSize, FolderOrder, Seed];
}

/// <summary>Where and how the models run.</summary>
internal sealed class RuntimeOptions(int batchSize)
{
    public ToolOption<string> Device { get; } = new("--device", "auto, cpu, cuda, cuda:N or mps.", "auto");

    public ToolOption<int?> Threads { get; } = new("--threads", "CPU threads of libtorch and ONNX Runtime (default: one per core).", null);

    public ToolOption<int> BatchSize { get; } = new("--batch-size", "Images per batch.", batchSize);

    public ToolOption<bool> Quiet { get; } = new("--quiet", "Print only the results and errors, not the progress.", false);

    public IEnumerable<ToolOption> All => [Device, Threads, BatchSize, Quiet];
}

/// <summary>The training run: epochs, optimizer, schedule, augmentation, outputs.</summary>
internal sealed class TrainingOptions(string defaultOutput)
{
    public ToolOption<int> Epochs { get; } = new("--epochs", "Training epochs.", 10);

    public ToolOption<double> LearningRate { get; } = new("--lr", "Peak learning rate.", 0.001);

    public ToolOption<string> Optimizer { get; } = new("--optimizer", "adam, adamw or sgd (momentum 0.9).", "adam");

    public ToolOption<double> WeightDecay { get; } = new("--weight-decay", "Weight decay of the optimizer.", 0.0);

    public ToolOption<string> Schedule { get; } = new("--schedule", "Learning-rate schedule: constant, step (×0.1 every third of the run), multistep (×0.1 at 50 % and 75 %) or cosine.", "constant");

    public ToolOption<int> Warmup { get; } = new("--warmup", "Epochs of linear learning-rate warm-up.", 0);

    public ToolOption<bool> Augment { get; } = new("--augment", "Augment training batches: random crop from 4-pixel padding and horizontal flip (seeded); from --image-size 64 on, torchvision's random-resized crop and flip.", false);

    public ToolOption<double> Mixup { get; } = new("--mixup", "With --augment: mixup at this Beta(α, α), the images mixed before the teacher labels them (0 = off; e.g. 0.2).", 0.0);

    public ToolOption<double> CutMix { get; } = new("--cutmix", "With --augment: CutMix at this Beta(α, α), pasted before the teacher labels the images (0 = off; e.g. 1; with --mixup each batch takes one).", 0.0);

    public ToolOption<string> Precision { get; } = new("--precision",
        "Number format of every training step: fp32 (reproduces to the bit), bf16-mixed (float32 weights; convolutions and linear layers in bfloat16 under libtorch's autocast; losses in float32; fast only on CPUs with AVX512-BF16 or AMX, and GPUs with bfloat16) auto (bf16-mixed where measured faster here), or fp16-mixed (float16 with dynamic loss scaling, as torch.autocast with a GradScaler; for GPUs: slow on CPUs).",
        "fp32");

    public ToolOption<string> ChannelsLast { get; } = new("--channels-last", "Training batches in channels-last layout (NHWC strides), which oneDNN's convolutions prefer: auto (on with bf16-mixed, off in fp32), on or off.", "auto");

    public ToolOption<bool> EvalEveryEpoch { get; } = new("--eval-every-epoch", "Evaluate on the test set after every epoch, not only after the last.", false);

    public ToolOption<bool> Resume { get; } = new("--resume", "Continue an interrupted run from the checkpoints in <output>/checkpoints.", false);

    public ToolOption<string> Output { get; } = new("--output", "Folder for the weights, results.json and config.yaml (the effective config: `--config <output>/config.yaml` reproduces the run).", defaultOutput, isPath: true);

    public ToolOption<string?> Export { get; } = new("--export", "After training, write the model as this ONNX file (opset 17, class names and normalization in its metadata) and check it in ONNX Runtime.", null, isPath: true);

    public IEnumerable<ToolOption> All => [Epochs, LearningRate, Optimizer, WeightDecay, Schedule, Warmup, Augment, Mixup, CutMix, Precision, ChannelsLast, EvalEveryEpoch, Resume, Output, Export];
}

/// <summary>A teacher that runs: a model with its weights, or an ONNX file.</summary>
internal sealed class TeacherSourceOptions
{
    public ToolOption<string> Model { get; } = new("--teacher-model", "The teacher's network with --teacher-weights: teachernet (the notebook's 4-conv network) or a model of the zoo (resnet56, wrn_40_2, resnet32x4, resnet50, …; docs/models.md).", "teachernet");

    public ToolOption<string?> Weights { get; } = new("--teacher-weights",
        "The teacher's weights: a .weights file (distill teacher writes one), a safetensors state dict, or a PyTorch .pth/.pt state dict (parameter names as the model's).", null, isPath: true);

    public ToolOption<string?> Onnx { get; } = new("--teacher-onnx", "An ONNX model as the teacher, run by ONNX Runtime (logits only: no cosine or hint).", null, isPath: true);

    public IEnumerable<ToolOption> All => [Model, Weights, Onnx];
}
