using System.Text.Json.Serialization;

namespace Distillation.Cifar10;

/// <summary>The sample's command line, parsed.</summary>
internal sealed record SampleSettings
{
    public required string DataRoot { get; init; }

    /// <summary>A folder of the user's images (root/&lt;class&gt;/&lt;image&gt;, or train/ and test/) used instead of CIFAR-10; null for CIFAR-10.</summary>
    public string? DataFolder { get; init; }

    /// <summary>The order of <see cref="DataFolder"/>: "class" (torchvision's) or "name" (file names across classes).</summary>
    public string FolderOrder { get; init; } = "class";
    public required bool Download { get; init; }
    public string? DownloadSource { get; init; }
    public required int Epochs { get; init; }
    public required int BatchSize { get; init; }
    public required double LearningRate { get; init; }
    public required double Temperature { get; init; }
    public required double HardWeight { get; init; }
    public required double SoftWeight { get; init; }

    /// <summary>The last fraction of a distillation run over which its distillation terms' weights fall to 0 (--soft-ramp); 0 for constant weights.</summary>
    public double SoftRamp { get; init; }
    public required long Seed { get; init; }
    public int? Threads { get; init; }
    public required string Device { get; init; }
    public int? TrainLimit { get; init; }
    public int? TestLimit { get; init; }
    public string? TeacherWeights { get; init; }

    /// <summary>The files of --teacher, split at commas: one, or several for an ensemble teacher.</summary>
    public IReadOnlyList<string> TeacherWeightFiles =>
        TeacherWeights is null ? [] : TeacherWeights.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Save the trained teacher's weights every this many epochs and after the last, into teacher-snapshots/ (--teacher-snapshots); null for none.</summary>
    public int? TeacherSnapshotEvery { get; init; }

    /// <summary>Whether distillation labels each batch with the teacher's flip average (--teacher-flip-average).</summary>
    public bool TeacherFlipAverage { get; init; }

    /// <summary>An ONNX model run by ONNX Runtime as the teacher (--teacher-onnx); null otherwise.</summary>
    public string? TeacherOnnx { get; init; }

    /// <summary>A safetensors file of the teacher's logits, one row per training image (--teacher-logits); null otherwise.</summary>
    public string? TeacherLogits { get; init; }
    public required string OutputDirectory { get; init; }
    public required bool Verbose { get; init; }
    public required DistillFrom DistillFrom { get; init; }
    public IReadOnlyList<long>? Seeds { get; init; }
    public required string Method { get; init; }
    public required bool Augment { get; init; }
    public required string Optimizer { get; init; }
    public required string Schedule { get; init; }
    public required int WarmupEpochs { get; init; }
    public required double WeightDecay { get; init; }

    /// <summary>Whether to evaluate on the test set after every epoch (for the accuracy curves), not only after the last.</summary>
    public bool EvaluateEveryEpoch { get; init; }

    /// <summary>Whether distillation runs measure the student's agreement with the teacher at every evaluated epoch.</summary>
    public bool TrackFidelity { get; init; }

    /// <summary>Mixup's Beta(α, α) for the students' augmented runs; 0 for none.</summary>
    public double MixupAlpha { get; init; }

    /// <summary>CutMix's Beta(α, α) for the students' augmented runs; 0 for none.</summary>
    public double CutMixAlpha { get; init; }

    /// <summary>Whether to time each final model's inference (a few hundred images).</summary>
    public bool MeasureSpeed { get; init; } = true;

    /// <summary>Whether to draw the PNG charts.</summary>
    public bool Charts { get; init; } = true;

    /// <summary>Whether to continue from the checkpoints in the output folder.</summary>
    public bool Resume { get; init; }

    /// <summary>Training images carved into a validation set; null for none.</summary>
    public int? ValidationCount { get; init; }

    /// <summary>Early-stopping patience in epochs; null for none.</summary>
    public int? Patience { get; init; }

    /// <summary>Whether the teacher's outputs are computed once and reused when there is no augmentation.</summary>
    public bool CacheTeacherOutputs { get; init; } = true;

    /// <summary>A folder for the teacher's logits of every crop-and-flip view, looked up in augmented distillation runs; null for a live teacher.</summary>
    public string? ViewCacheDirectory { get; init; }

    /// <summary>The command line as given, for the <c>--resume</c> command printed after an interruption.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>Whether the trained student and distilled student are also written as ONNX files.</summary>
    public bool ExportOnnx { get; init; }

    /// <summary>The recipe run with --recipe (teacher once, then per seed the control and the distilled student); null for the notebook or --seeds comparison.</summary>
    public string? Recipe { get; init; }

    /// <summary>Whether a recipe trains the cross-entropy control beside the distilled student (off with --no-control, to compare distillation settings against one control).</summary>
    public bool RecipeControl { get; init; } = true;

    /// <summary>Whether a recipe trains the teacher and the distilled student (off with --control-only, to tune the control alone).</summary>
    public bool RecipeDistilled { get; init; } = true;

    /// <summary>The control's peak learning rate when it differs from the distilled student's (--control-lr); null for <see cref="LearningRate"/>.</summary>
    public double? ControlLearningRate { get; init; }

    /// <summary>The control's weight decay when it differs from the distilled student's (--control-weight-decay); null for <see cref="WeightDecay"/>.</summary>
    public double? ControlWeightDecay { get; init; }

    /// <summary>These settings as a recipe's control uses them: its own rate and decay where given.</summary>
    public SampleSettings ForControl() => this with
    {
        LearningRate = ControlLearningRate ?? LearningRate,
        WeightDecay = ControlWeightDecay ?? WeightDecay,
    };

    /// <summary>The teacher's epochs when they differ from the students' (--recipe, --teacher-epochs); null for <see cref="Epochs"/>.</summary>
    public int? TeacherEpochs { get; init; }

    /// <summary>The teacher's peak learning rate when it differs from the students' (--recipe, --teacher-lr); null for <see cref="LearningRate"/>.</summary>
    public double? TeacherLearningRate { get; init; }

    /// <summary>The teacher's optimizer when it differs from the students' (--recipe); null for <see cref="Optimizer"/>.</summary>
    public string? TeacherOptimizer { get; init; }

    /// <summary>The teacher's warm-up epochs when they differ from the students' (--recipe); null for <see cref="WarmupEpochs"/>.</summary>
    public int? TeacherWarmupEpochs { get; init; }

    /// <summary>The number format of a live teacher during distillation: "auto", "float32" or "bfloat16" (--teacher-precision).</summary>
    public string TeacherPrecision { get; init; } = "auto";

    /// <summary>The canonical name of a --teacher-precision value: "fp32" is "float32", "bf16" is "bfloat16", any case.</summary>
    public static string CanonicalPrecision(string value) => value.ToLowerInvariant() switch
    {
        "fp32" => "float32",
        "bf16" => "bfloat16",
        var other => other,
    };

    /// <summary>The number format of every training step: "float32", "bf16-mixed" or "auto" (--precision).</summary>
    public string TrainingPrecision { get; init; } = "float32";

    /// <summary>The canonical name of a --precision value: "fp32" is "float32", any case.</summary>
    public static string CanonicalTrainingPrecision(string value) => value.ToLowerInvariant() switch
    {
        "fp32" => "float32",
        var other => other,
    };

    /// <summary>Whether training batches enter the models channels-last: "auto" (with bf16-mixed only), "on" or "off" (--channels-last).</summary>
    public string ChannelsLast { get; init; } = "auto";

    /// <summary>--student: a zoo model's name; null for the notebook's student.</summary>
    public string? StudentModel { get; init; }

    /// <summary>--teacher-model: a zoo model's name; null for the notebook's teacher.</summary>
    public string? TeacherModel { get; init; }

    /// <summary>--export-int8: quantize the exported ONNX files to int8.</summary>
    public bool ExportInt8 { get; init; }

    /// <summary>--calibration-images: training images that calibrate the int8 activations.</summary>
    public int CalibrationImages { get; init; } = 1000;

    /// <summary>--image-size: the images' side with --data-folder; null for 32.</summary>
    public int? ImageSize { get; init; }

    /// <summary>The recipe's teacher training beyond epochs, rate and optimizer (--recipe airbench); null where the teacher trains like the students.</summary>
    public TeacherTraining? TeacherTraining { get; init; }

    /// <summary>These settings as the teacher's training uses them: its own epochs, peak rate, optimizer and warm-up where given.</summary>
    public SampleSettings ForTeacher() => this with
    {
        Epochs = TeacherEpochs ?? Epochs,
        LearningRate = TeacherLearningRate ?? LearningRate,
        Optimizer = TeacherOptimizer ?? Optimizer,
        WarmupEpochs = TeacherTraining is null ? TeacherWarmupEpochs ?? WarmupEpochs : 0,
        BatchSize = TeacherTraining?.BatchSize ?? BatchSize,
        WeightDecay = TeacherTraining?.WeightDecay ?? WeightDecay,
        Schedule = TeacherTraining?.Schedule ?? Schedule,

        // Mixing is for the students: the teacher trains on plain crops and flips.
        MixupAlpha = 0,
        CutMixAlpha = 0,
    };
}

/// <summary>Which student the distillation starts from.</summary>
internal enum DistillFrom
{
    /// <summary>The student just trained with cross-entropy, as the notebook does.</summary>
    Baseline,

    /// <summary>A freshly initialised student, as the PyTorch tutorial does.</summary>
    Scratch,
}
