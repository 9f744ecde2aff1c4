using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Distillation.Data;
using Distillation.Onnx.Runtime;
using Distillation.Tool.Cli;
using Distillation.Tool.Runs;
using Distillation.Tool.Shards;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Tool.Commands;

/// <summary>
/// <c>distill logits</c>: the teacher's logits of the training images, whole or one shard of N
/// contiguous slices; <c>distill logits merge</c> joins the shards into the file
/// <c>distill student --teacher-logits</c> reads.
/// </summary>
internal sealed class LogitsCommand() : ToolCommand(
    CommandName,
    "Compute a teacher's logits of the training images (in the order distill student uses them), for --teacher-logits: the whole set, or with --shard i/N " +
    $"(or --shards N with the index from {ShardSpec.KubernetesIndexVariable} or {ShardSpec.SlurmIndexVariable}) the i-th of N contiguous slices, each a file with the teacher's and the data's fingerprints. " +
    "Join the shards with `distill logits merge`. With --views, the logits of every crop-and-flip view that distill student --augment draws (162 per image, float16), " +
    "for --teacher-logits with --augment.",
    "distill logits --images ./photos --image-size 64 --teacher-onnx teacher.onnx --shard 0/8 --output ./shards")
{
    public const string CommandName = "logits";

    public DataOptions Data { get; } = new();

    public RuntimeOptions Runtime { get; } = new(batchSize: 256);

    public TeacherSourceOptions Teacher { get; } = new();

    public ToolOption<string?> Shard { get; } = new("--shard", "Compute shard i (from 0) of N: i/N.", null);

    public ToolOption<int?> Shards { get; } = new("--shards", $"Compute one of N shards, its index from {ShardSpec.KubernetesIndexVariable} or {ShardSpec.SlurmIndexVariable}.", null);

    public ToolOption<bool> Views { get; } = new("--views",
        "Compute the logits of every view that --augment draws from each image (crops from 4-pixel padding, mirrored or not: 162 views; images below 64 px), float16, " +
        "so that distill student --augment --teacher-logits runs no teacher. Costs 162 teacher passes: shard it.", false);

    public ToolOption<string?> Output { get; } = new("--output",
        "Where to write: the logits file (default teacher-logits.safetensors), or with a shard the folder of the shard files (default ./logits-shards).", null, isPath: true);

    public ToolOption<bool> Json { get; } = new("--json", "Print what was written (file, rows, views, shard, fingerprints, time) as one JSON object on standard output, and nothing else there: other lines go to standard error (none with --quiet).", false);

    public override IReadOnlyList<ToolOption> Options => [.. Teacher.All, Views, Shard, Shards, Output, .. Data.All(limits: false), .. Runtime.All, Json];

    /// <summary>Where the shard index comes from when only N is given; the tests replace it.</summary>
    internal Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;

    protected override int Execute(RunSettings settings, ToolContext context, CancellationToken cancellationToken)
    {
        DataLoading.Check(settings, Data, limits: false);
        Checks.Positive(settings, Runtime.BatchSize);
        Checks.PositiveOrNull(settings, Runtime.Threads);
        var shard = ShardSpec.From(settings.GetText(Shard), settings.GetOrNull(Shards), settings.Origin(Shard), settings.Origin(Shards), Environment);
        if ((settings.GetText(Teacher.Weights) is null) == (settings.GetText(Teacher.Onnx) is null))
        {
            throw new UsageException(settings.GetText(Teacher.Weights) is null
                ? "Give the teacher: --teacher-weights <file> (with --teacher-model) or --teacher-onnx <file>."
                : $"{settings.Origin(Teacher.Weights)} and {settings.Origin(Teacher.Onnx)} each give the teacher; use one.");
        }

        Checks.ExistingFile(settings, Teacher.Weights);
        Checks.ExistingFile(settings, Teacher.Onnx);
        if (settings.GetText(Teacher.Weights) is not null)
        {
            ModelFactory.Check(settings.Get(Teacher.Model), settings.Get(Data.ImageSize), settings.Origin(Teacher.Model));
        }

        var views = settings.Get(Views);
        if (views && AugmentationOptions.ForImageSize(settings.Get(Data.ImageSize)).RandomResizedCrop)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"{settings.Origin(Views)} needs images below 64 px: from there on --augment draws random-resized crops, which are no fixed set of views ({settings.Origin(Data.ImageSize)} is {settings.Get(Data.ImageSize)})."));
        }

        var target = settings.GetText(Output) ?? (shard is null ? "teacher-logits.safetensors" : "./logits-shards");
        var path = Path.GetFullPath(shard is null ? target : Path.Combine(target, shard.FileName));
        if (Directory.Exists(path))
        {
            throw new UsageException($"{settings.Origin(Output)} {target} is a folder; give the logits file to write (a folder is for --shard).");
        }

        if (settings.GetText(Data.Images) is { } imageRoot && IsInside(path, Path.GetFullPath(imageRoot)))
        {
            // The data's fingerprint lists the folder: files written into it would make each shard see other data.
            throw new UsageException($"{settings.Origin(Output)} {target} is inside the image folder {imageRoot}; write the logits elsewhere.");
        }

        var output = new ToolOutput(context.Terminal, settings.Get(Runtime.Quiet), settings.Get(Json));
        var logger = context.LoggerFactory.CreateLogger("Distillation");
        var device = TrainerSetup.Device(settings, Runtime).Resolve();
        using var train = OpenTrainingSet(settings, logger, cancellationToken, out var dataFingerprint);
        using var teacher = OpenTeacher(settings, train.Source.ClassNames.Count, logger);
        var batchSize = settings.Get(Runtime.BatchSize);
        var batches = (train.Source.Count + batchSize - 1) / batchSize;
        if (shard is not null && shard.Count > batches)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"{shard.Count} shards of {batches} batches ({train.Source.Count:N0} images in batches of {batchSize}) would leave shards empty; use at most {batches} shards or a smaller --batch-size."));
        }

        var (first, end) = shard?.Batches(batches) ?? (0, batches);
        var imageSize = settings.Get(Data.ImageSize);
        var augmentation = AugmentationOptions.ForImageSize(imageSize);
        output.Progress($"Teacher logits{(views ? " of every crop-and-flip view" : "")} of batches {first}–{end - 1} of {batches} ({(shard is null ? "the whole training set" : $"shard {shard}")}) on {device}:");
        var clock = TeacherPasses.Clock();
        var reportEvery = Math.Max(1, (end - first) / 10);
        Action<int> batchDone = b =>
        {
            if ((b - first + 1) % reportEvery == 0)
            {
                output.Progress($"  batch {b - first + 1}/{end - first}, {ToolOutput.Elapsed(clock)}");
            }
        };
        using var logits = views
            ? PrecomputedTeacher.ComputeViews(teacher, train.Source, augmentation, device, batchSize, first, end, batchDone, cancellationToken)
            : PlainLogits();
        var viewCount = views ? (int)logits.shape[1] : 1;
        var identity = new LogitsIdentity(teacher.Fingerprint, dataFingerprint, train.Source.Count, train.Source.ClassNames.Count, batchSize, viewCount, views ? imageSize : 0);
        if (shard is null)
        {
            LogitsFiles.WriteWhole(path, logits, identity);
        }
        else
        {
            LogitsFiles.WriteShard(path, logits, identity, shard, first * batchSize);
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var rows = logits.shape[0];
        output.Result(string.Create(CultureInfo.InvariantCulture,
            $"Wrote {rows:N0} rows of {(views ? $"{viewCount} views of " : "")}{identity.Classes} logits ({(shard is null ? "whole" : $"shard {shard}, from row {first * batchSize:N0} of {identity.TotalRows:N0}")}) to {path} in {seconds:F1}s, {rows * viewCount / Math.Max(seconds, 1e-9):N0} images/s."));
        output.PrintJson(JsonSerializer.Serialize(new
        {
            command = CommandName,
            file = path,
            rows,
            firstRow = first * batchSize,
            totalRows = identity.TotalRows,
            classes = identity.Classes,
            views = viewCount,
            shard = shard is null ? null : new { index = shard.Index, count = shard.Count },
            teacherFingerprint = identity.TeacherFingerprint,
            dataFingerprint = identity.DataFingerprint,
            seconds,
            imagesPerSecond = rows * viewCount / Math.Max(seconds, 1e-9),
        }, ToolOutput.JsonOptions));
        return ExitCodes.Success;

        Tensor PlainLogits()
        {
            var (plain, labels) = TeacherPasses.Run(teacher, train.Source, device, batchSize, first, end, batchDone, cancellationToken);
            labels.Dispose();
            return plain;
        }
    }

    /// <summary>The training set as distill student loads it: CIFAR-10 in memory, an image folder streamed (only the shard's images are decoded).</summary>
    private TrainingSet OpenTrainingSet(RunSettings settings, Microsoft.Extensions.Logging.ILogger logger, CancellationToken cancellationToken, out string fingerprint)
    {
        if (settings.GetText(Data.Cifar10) is { } cifar)
        {
            var folder = Cifar10Dataset.ResolveFolder(cifar);
            fingerprint = DataFingerprint.OfCifar10(folder);
            var resident = Cifar10Dataset.Load(folder, Cifar10Split.Train, logger: logger);
            return new TrainingSet(resident, resident);
        }

        var root = Path.GetFullPath(settings.GetText(Data.Images)!);
        var options = DataLoading.FolderOptions(settings, Data);
        var (train, test) = StreamingImageFolder.OpenSplits(root, options, logger, cancellationToken);
        test.Dispose();
        fingerprint = DataFingerprint.OfImageFolder(root, options, train.Count, train.ClassNames);
        return new TrainingSet(train, train);
    }

    private ITeacher OpenTeacher(RunSettings settings, int classes, Microsoft.Extensions.Logging.ILogger logger)
    {
        if (settings.GetText(Teacher.Onnx) is { } onnx)
        {
            return new OnnxTeacher(onnx, threads: settings.GetOrNull(Runtime.Threads) ?? 0);
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

    private static bool IsInside(string path, string folder) =>
        path.StartsWith(Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private sealed record TrainingSet(IBatchSource Source, IDisposable Owner) : IDisposable
    {
        public void Dispose() => Owner.Dispose();
    }
}

/// <summary><c>distill logits merge</c>: checks the shards of one logits run and writes the whole file.</summary>
internal sealed class LogitsMergeCommand() : ToolCommand(
    "merge",
    "Merge the shard files of one `distill logits` run into the logits file distill student --teacher-logits reads (the same bytes an unsharded run writes). " +
    "Refuses a missing, duplicated, truncated or foreign shard (another teacher or other data), naming it.",
    "distill logits merge ./shards --output teacher-logits.safetensors")
{
    public ToolOption<string> Output { get; } = new("--output", "The logits file to write.", "teacher-logits.safetensors", isPath: true);

    public ToolOption<bool> Json { get; } = new("--json", "Print what was merged as one JSON object on standard output, and nothing else there.", false);

    public override IReadOnlyList<ToolOption> Options => [Output, Json];

    private readonly Argument<string[]> shardArguments = new("shards") { Description = "The shard files, or folders holding them (every logits-shard-*.safetensors in it).", Arity = ArgumentArity.OneOrMore };

    protected override void Configure(Command command) => command.Arguments.Add(shardArguments);

    protected override int Execute(RunSettings settings, ToolContext context, CancellationToken cancellationToken) => throw new InvalidOperationException("merge runs with its arguments");

    protected override int Execute(RunSettings settings, ParseResult parse, ToolContext context, CancellationToken cancellationToken)
    {
        var files = new List<string>();
        foreach (var given in parse.GetValue(shardArguments) ?? [])
        {
            if (Directory.Exists(given))
            {
                files.AddRange(Directory.EnumerateFiles(given, "logits-shard-*.safetensors").Order(StringComparer.Ordinal));
            }
            else if (File.Exists(given))
            {
                files.Add(given);
            }
            else
            {
                throw new UsageException($"The shard file {given} does not exist.");
            }
        }

        if (files.Count == 0)
        {
            throw new UsageException("No shard files found (logits-shard-*.safetensors).");
        }

        var output = Path.GetFullPath(settings.Get(Output));
        if (Directory.Exists(output))
        {
            throw new UsageException($"{settings.Origin(Output)} {output} is a folder; give the logits file to write.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var identity = LogitsFiles.Merge(files, output);
        var printed = new ToolOutput(context.Terminal, quiet: false, settings.Get(Json));
        printed.Result(string.Create(CultureInfo.InvariantCulture,
            $"Merged {files.Count} shards: {identity.TotalRows:N0} rows of {(identity.Views > 1 ? $"{identity.Views} views of " : "")}{identity.Classes} logits (teacher {identity.TeacherFingerprint[..12]}, data {identity.DataFingerprint[..12]}) into {output}."));
        printed.PrintJson(JsonSerializer.Serialize(new
        {
            command = "logits merge",
            file = output,
            shards = files.Count,
            totalRows = identity.TotalRows,
            classes = identity.Classes,
            views = identity.Views,
            teacherFingerprint = identity.TeacherFingerprint,
            dataFingerprint = identity.DataFingerprint,
        }, ToolOutput.JsonOptions));
        return ExitCodes.Success;
    }
}
