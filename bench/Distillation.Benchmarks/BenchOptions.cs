using System.Globalization;

namespace Distillation.Benchmarks;

/// <summary>The command line: a mode, then <c>--name value</c> pairs.</summary>
internal sealed class BenchOptions
{
    public string Mode { get; init; } = "throughput";

    public int Threads { get; init; } = 2;

    public int BatchSize { get; init; } = 128;

    /// <summary>Timed rounds; each round runs every case once, alternating.</summary>
    public int Repeats { get; init; } = 5;

    /// <summary>Untimed rounds first.</summary>
    public int Warmup { get; init; } = 1;

    /// <summary>The folder holding cifar-10-batches-bin/; synthetic data when it is missing.</summary>
    public string Data { get; init; } = DefaultData();

    public bool Synthetic { get; init; }

    public string? Output { get; init; }

    /// <summary>Trained teacher weights (ModuleWeights format) for the ideas mode's layout check; random weights when null.</summary>
    public string? TeacherWeights { get; init; }

    /// <summary>Trained student weights (ModuleWeights format) for the onnx-latency mode; freshly initialised when null.</summary>
    public string? StudentWeights { get; init; }

    /// <summary>Images per run of each case; "quick" runs shrink them for smoke tests.</summary>
    public int TeacherImages { get; init; } = 2048;

    public int StudentImages { get; init; } = 10240;

    public int DistillImages { get; init; } = 2048;

    public int TeacherEvalImages { get; init; } = 2560;

    public int StudentEvalImages { get; init; } = 10000;

    /// <summary>Stability mode: epochs of the long run.</summary>
    public int Epochs { get; init; } = 3;

    /// <summary>Stability mode: a memory sample every this many batches.</summary>
    public int SampleEvery { get; init; } = 50;

    /// <summary>Streaming mode: the PNG folder (written from CIFAR-10 when missing); png-folder mode: where to write.</summary>
    public string? Folder { get; init; }

    /// <summary>onnx-int8 mode: training images the quantizer calibrates on.</summary>
    public int CalibrationImages { get; init; } = 1000;

    /// <summary>onnx-int8 mode: a model-zoo student (resnet20, mobilenetv2, …) instead of the notebook's; null for the notebook student.</summary>
    public string? Student { get; init; }

    /// <summary>Streaming mode: training images written to the PNG folder.</summary>
    public int Images { get; init; } = 10240;

    /// <summary>Streaming mode: the height and width images are decoded to.</summary>
    public int ImageSize { get; init; } = 32;

    /// <summary>Streaming mode: images decoded at once by the streamed cases (ImageFolderOptions.MaxDegreeOfParallelism); null for every core.</summary>
    public int? DecodeThreads { get; init; }

    /// <summary>Streaming mode: each streamed batch also goes through the training augmentation (AugmentationOptions.ForImageSize), as the trainer applies it.</summary>
    public bool Augment { get; init; }

    /// <summary>Streaming mode: only the streamed pass with prefetch 2 (no resident copy, no unprefetched pass).</summary>
    public bool StreamedOnly { get; init; }

    /// <summary>Streaming mode: a zoo model trained for <see cref="Steps"/> steps on the streamed folder, to measure the data wait of a step; null for none.</summary>
    public string? Model { get; init; }

    /// <summary>Streaming mode with --model: training steps per round.</summary>
    public int Steps { get; init; } = 8;

    /// <summary>Ideas mode: run only the ideas whose name contains this text (any case); null for all.</summary>
    public string? Only { get; init; }

    /// <summary>precision: the models to time (zoo names, or teachernet and studentnet); null for the default list.</summary>
    public IReadOnlyList<string>? Models { get; init; }

    /// <summary>Arguments BenchmarkDotNet receives in micro mode (after <c>--</c>).</summary>
    public IReadOnlyList<string> Rest { get; init; } = [];

    public static string DefaultData()
    {
        // bench/ sits in the checkout; the shared copy is beside the checkout (../shared/datasets).
        foreach (var candidate in new[] { "../shared/datasets", "/work/shared/datasets", "./data" })
        {
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        return "../shared/datasets";
    }

    public static BenchOptions Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            throw new UsageException(null);
        }

        var mode = args[0];
        if (mode is not ("throughput" or "scaling" or "micro" or "ideas" or "precision" or "stability" or "onnx-latency" or "onnx-int8" or "streaming" or "png-folder" or "jpeg-folder"))
        {
            throw new UsageException($"Unknown mode '{mode}'.");
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        var rest = new List<string>();
        for (var i = 1; i < args.Length; i++)
        {
            if (args[i] == "--")
            {
                rest.AddRange(args[(i + 1)..]);
                break;
            }

            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                throw new UsageException($"Unexpected argument '{args[i]}'.");
            }

            var name = args[i][2..];
            if (name is "synthetic" or "quick" or "augment" or "streamed-only")
            {
                flags.Add(name);
            }
            else if (i + 1 < args.Length)
            {
                values[name] = args[++i];
            }
            else
            {
                throw new UsageException($"--{name} needs a value.");
            }
        }

        int Int(string name, int fallback, int min = 1)
        {
            if (!values.Remove(name, out var text))
            {
                return fallback;
            }

            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min
                ? value
                : throw new UsageException($"--{name} needs an integer ≥ {min}, got '{text}'.");
        }

        var quick = flags.Contains("quick");
        var stability = mode == "stability";
        var options = new BenchOptions
        {
            Mode = mode,
            Threads = Int("threads", 2),
            BatchSize = Int("batch-size", 128),
            Repeats = Int("repeats", quick ? 1 : 5),
            Warmup = Int("warmup", 1, min: 0),
            Data = values.Remove("data", out var data) ? data : DefaultData(),
            Synthetic = flags.Contains("synthetic"),
            Output = values.Remove("output", out var output) ? output : null,
            TeacherWeights = values.Remove("teacher-weights", out var weights) ? weights : null,
            StudentWeights = values.Remove("student-weights", out var studentWeights) ? studentWeights : null,
            TeacherImages = Int("teacher-images", quick ? 256 : 2048),
            StudentImages = Int("student-images", quick ? 1024 : 10240),
            DistillImages = Int("distill-images", quick ? 256 : stability ? 50000 : 2048),
            TeacherEvalImages = Int("teacher-eval-images", quick ? 256 : 2560),
            StudentEvalImages = Int("student-eval-images", quick ? 1024 : 10000),
            Epochs = Int("epochs", stability && quick ? 2 : 3),
            SampleEvery = Int("sample-every", quick ? 1 : 50),
            Folder = values.Remove("folder", out var folder) ? folder : null,
            Images = Int("images", quick ? 1024 : 10240),
            CalibrationImages = Int("calibration-images", 1000),
            ImageSize = Int("image-size", 32),
            DecodeThreads = values.ContainsKey("decode-threads") ? Int("decode-threads", 1) : null,
            Augment = flags.Contains("augment"),
            StreamedOnly = flags.Contains("streamed-only"),
            Model = values.Remove("model", out var model) ? model : null,
            Steps = Int("steps", quick ? 3 : 8, min: 2),
            Only = values.Remove("only", out var only) ? only : null,
            Models = values.Remove("models", out var models) ? models.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null,
            Student = values.Remove("student", out var student) ? student : null,
            Rest = rest,
        };

        if (values.Count > 0)
        {
            throw new UsageException($"Unknown option --{values.Keys.First()}.");
        }

        if (options.Student is not null && (mode != "onnx-int8" || options.Only is not null))
        {
            throw new UsageException("--student names a zoo student for the onnx-int8 mode, without --only.");
        }

        if (options.DecodeThreads > Environment.ProcessorCount)
        {
            throw new UsageException($"--decode-threads {options.DecodeThreads} is more than the {Environment.ProcessorCount} cores of this machine.");
        }

        if (mode != "streaming" && (options.DecodeThreads is not null || options.Augment || options.StreamedOnly || options.Model is not null))
        {
            throw new UsageException("--decode-threads, --augment, --streamed-only and --model belong to the streaming mode.");
        }

        if (options.Model is { } zooModel)
        {
            try
            {
                Distillation.Models.Zoo.ModelZoo.Get(zooModel);
            }
            catch (ArgumentException e)
            {
                throw new UsageException("--model: " + e.Message);
            }
        }

        return options;
    }

    public const string Usage = """
        Usage: distill-bench <mode> [options]

        Modes:
          throughput  end-to-end images/s of every phase against the targets, the plain-loop
                      overhead, the data path's share of a step, memory across rounds
          scaling     images/s against batch size (32…512) and threads (1, 2); run time against
                      epochs and dataset size
          ideas       CPU speed-ups measured against the baseline, alternating (inference mode,
                      in-place ReLU, channels-last, evaluation batch size, the live teacher in
                      bfloat16 and in TeacherPrecision.Auto against float32, mixed-precision and
                      channels-last training); prints the CPU's flags and its float32 and
                      bfloat16 convolution ceilings
          stability   a long run: full-CIFAR-10 distillation with the live teacher (notebook KL
                      loss) for several epochs; resident memory and live tensors every N steps
          precision   training images/s of each model (--models) in float32 and bfloat16 mixed,
                      NCHW and channels-last, alternating; the CPU's flags and convolution ceilings
          onnx-latency  the student's inference latency, TorchSharp (eval, no_grad) against ONNX
                      Runtime on the exported file, batch 1 and 256, cases alternating
          onnx-int8   static int8 quantization (Distillation.Onnx.Quantization) of the student
                      (the notebook's, or --student NAME from the zoo), trained --epochs with
                      cross-entropy (or --student-weights): CIFAR-10 test accuracy fp32 vs int8
                      (min-max, percentile, entropy) in ONNX Runtime, file sizes, fused kernels,
                      ONNX Runtime's per-node profile at batch 64, latency at batch 1 and 64 on
                      1 and 2 threads, fp32 and int8 alternating
          streaming   image folders: images/s of one pass of GetBatch, streamed (prefetch 2, none)
                      against resident, and the resident load, on PNGs written from CIFAR-10
                      (--decode-threads, --augment, --streamed-only); with --model, the time a
                      training step of that zoo model waits for its batch, against the step
          png-folder  writes CIFAR-10 as --folder DIR/train/<class>/<index>.png and DIR/test/…
                      (file names keep the binary files' order)
          jpeg-folder writes the first --images CIFAR-10 training images as --folder
                      DIR/<class>/<index>.jpg, upscaled to 320×240…500×400 (varying), light
                      grain, JPEG quality 90: a source folder for 224-pixel pipelines
          micro       BenchmarkDotNet: KL loss forward+backward, batch slicing+normalization,
                      augmentation (arguments after -- go to BenchmarkDotNet)

        Options:
          --threads N        intra-op CPU threads (default 2)
          --batch-size N     training batch size (default 128)
          --repeats N        timed rounds, cases alternating within each (default 5)
          --warmup N         untimed rounds first (default 1)
          --data DIR         folder holding cifar-10-batches-bin/ (default ../shared/datasets)
          --synthetic        random images instead of CIFAR-10
          --output FILE      the JSON results (written atomically)
          --teacher-weights FILE  ideas: a trained teacher (ModuleWeights) for the layout check;
                             stability: the teacher to distil from (random weights without it)
          --student-weights FILE  onnx-latency: a trained student (ModuleWeights); freshly
                             initialised without it; onnx-int8: loaded when it exists, else
                             written after training
          --epochs N         stability: epochs of the long run; onnx-int8: the student's
                             training epochs when --student-weights does not exist (default 3)
          --calibration-images N  onnx-int8: training images to calibrate on (default 1000)
          --student NAME     onnx-int8: a model-zoo student (resnet20, mobilenetv2, …) instead of
                             the notebook's; trained as the notebook student is
          --models A,B       precision: models to time (default teachernet, studentnet,
                             resnet20, wrn_16_2, mobilenetv2, airbench)
          --only TEXT        ideas: only the ideas whose name contains TEXT (e.g. bfloat16);
                             onnx-int8: teacher to quantize the notebook teacher instead of the
                             student (--teacher-weights loaded when it exists, else written
                             after --epochs of training)
          --sample-every N   stability: a memory sample every N batches (default 50)
          --folder DIR       streaming: the PNG folder (written from CIFAR-10 when missing; default
                             a temporary folder); png-folder: where to write; onnx-int8: where
                             the ONNX files are kept (default: a temporary folder, deleted)
          --images N         streaming, jpeg-folder: training images written to the folder
                             (default 10240)
          --image-size N     streaming: the size images are decoded to (default 32)
          --decode-threads N streaming: images decoded at once (default: every core)
          --augment          streaming: the streamed batches also get the training augmentation
                             (random-resized crop and flip from 64 px, else pad-crop and flip)
          --streamed-only    streaming: only the streamed pass with prefetch 2
          --model NAME       streaming: also train this zoo model (e.g. mobilenet_v2) with the
                             augmentation, --steps steps a round, timing GetBatch against the step
          --steps N          streaming with --model: training steps a round (default 8; ≥ 2,
                             the first is left out of the share as the cold start)
          --quick            small slices and one round: a smoke test, not a measurement
          --teacher-images N, --student-images N, --distill-images N,
          --teacher-eval-images N, --student-eval-images N   images per run of each case
                             (stability: --distill-images training images, default all 50,000,
                             and --student-eval-images test images evaluated after each epoch)
        """;
}

/// <summary>A command-line mistake; the message (if any) is printed above the usage.</summary>
internal sealed class UsageException(string? message) : Exception(message ?? "");
