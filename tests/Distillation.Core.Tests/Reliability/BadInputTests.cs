using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using Distillation.Data;
using Distillation.Devices;
using Distillation.Losses;
using Distillation.Serialization;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Distillation.Tests.Reliability;

/// <summary>
/// The rows of issue 7's "bad input" table that no other test class covers: each bad input gets a
/// specific exception whose message names the file, value or shape, and leaves nothing behind (no
/// files, no hooks, an unchanged model). The full table, with the rows tested elsewhere, is in
/// the repository README, section "Reliability and security".
/// </summary>
public sealed class BadInputTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();
    private readonly TempFolder temp = new();

    public void Dispose()
    {
        temp.Dispose();
        set_num_threads(threadsBefore);
    }

    // ---- Data folder ------------------------------------------------------------------------

    [Fact]
    public void An_empty_data_folder_names_the_first_missing_batch_file()
    {
        var folder = Directory.CreateDirectory(Path.Combine(temp.Path, Cifar10Dataset.FolderName)).FullName;

        var act = () => Cifar10Dataset.Load(temp.Path, Cifar10Split.Train);

        act.Should().Throw<DatasetNotFoundException>()
            .Where(e => e.ExpectedPath == Path.Combine(folder, "data_batch_1.bin"))
            .WithMessage($"*{Path.Combine(folder, "data_batch_1.bin")}*is missing*");
    }

    [Fact]
    public void Empty_batch_files_are_rejected_naming_the_file()
    {
        var folder = SyntheticCifar.WriteFolder(temp.Path, recordsPerTrainFile: 0, testRecords: 0);

        var act = () => Cifar10Dataset.Load(temp.Path, Cifar10Split.Test, new Cifar10LoadOptions { ExpectedRecordsPerFile = null });

        act.Should().Throw<DatasetFormatException>()
            .Where(e => e.FilePath == Path.Combine(folder, "test_batch.bin"))
            .WithMessage("*hold no records*");
    }

    // ---- Download ---------------------------------------------------------------------------

    [Fact]
    public async Task A_transfer_cut_off_mid_stream_leaves_nothing_behind_and_a_retry_starts_clean()
    {
        var archive = BuildCifarArchive();
        var root = Path.Combine(temp.Path, "root");
        var options = ChecksFor(archive, "https://mirror.example/cifar-10-binary.tar.gz");
        var attempts = 0;
        var handler = new StubHandler(() => ++attempts == 1
            ? new BreakingStream(archive, breakAfter: archive.Length / 2)
            : new MemoryStream(archive));
        using var client = new HttpClient(handler);
        var downloader = new Cifar10Downloader(client);

        var first = () => downloader.EnsureAsync(root, options);

        (await first.Should().ThrowAsync<DownloadException>())
            .Which.Message.Should().Contain("Connection reset by peer")
            .And.Contain("https://mirror.example/cifar-10-binary.tar.gz")
            .And.Contain($"extract it into '{root}'");
        Directory.EnumerateFileSystemEntries(root).Should().BeEmpty("the partial file is deleted and nothing was extracted");

        var folder = await downloader.EnsureAsync(root, options);

        File.ReadAllText(Path.Combine(folder, "test_batch.bin")).Should().Be("content of test_batch.bin");
        Directory.EnumerateFileSystemEntries(root).Select(Path.GetFileName).Should().Equal(Cifar10Downloader.FolderName);
    }

    [Fact]
    public async Task A_server_that_closes_early_fails_the_size_check_and_nothing_is_extracted()
    {
        var archive = BuildCifarArchive();
        var root = Path.Combine(temp.Path, "root");
        var handler = new StubHandler(() => new MemoryStream(archive[..(archive.Length - 100)]));
        using var client = new HttpClient(handler);

        var act = () => new Cifar10Downloader(client).EnsureAsync(root, ChecksFor(archive, "https://mirror.example/cifar-10-binary.tar.gz"));

        (await act.Should().ThrowAsync<ChecksumMismatchException>())
            .Which.Should().Match<ChecksumMismatchException>(e => e.Check == "size")
            .And.Subject.As<ChecksumMismatchException>().Message.Should().Contain($"{archive.Length:N0} bytes").And.Contain($"{archive.Length - 100:N0} bytes");
        Directory.EnumerateFileSystemEntries(root).Should().BeEmpty();
    }

    // ---- Options ----------------------------------------------------------------------------

    [Theory]
    [InlineData("Epochs", -3)]
    [InlineData("BatchSize", 0)]
    [InlineData("LearningRate", 0.0)]
    [InlineData("LearningRate", -1e-3)]
    [InlineData("LearningRate", double.PositiveInfinity)]
    [InlineData("Threads", 0)]
    [InlineData("Threads", -2)]
    public void Out_of_range_trainer_options_are_rejected_naming_the_option_and_the_value(string option, double value)
    {
        var options = new TrainerOptions { Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 } };
        switch (option)
        {
            case "Epochs": options.Epochs = (int)value; break;
            case "BatchSize": options.BatchSize = (int)value; break;
            case "LearningRate": options.Optimizer.LearningRate = value; break;
            case "Threads": options.Device.Threads = (int)value; break;
        }

        var act = () => new Trainer<TinyNet, TinyNet>(new TinyNet(4), new TinyNet(4), options);

        act.Should().Throw<ArgumentOutOfRangeException>()
            .Where(e => e.ParamName == option && Equals(Convert.ToDouble(e.ActualValue, System.Globalization.CultureInfo.InvariantCulture), value));
    }

    // ---- Teacher and student that do not fit each other -----------------------------------

    [Fact]
    public void Teacher_and_student_with_different_class_counts_fail_on_the_first_batch_naming_both_shapes_and_the_student_is_unchanged()
    {
        using var train = Quadrants.Create(64, seed: 1);
        manual_seed(1);
        var trainer = new Trainer<TinyNet, TinyNet>(new TinyNet(8, classes: 10), new TinyNet(4, classes: 100), new TrainerOptions
        {
            Epochs = 1,
            BatchSize = 32,
            Optimizer = new Distillation.Training.OptimizationOptions { LearningRate = 0.1 },
            Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        });
        var before = Snapshot(trainer.Student);

        var act = () => trainer.Distill(train);

        act.Should().Throw<LogitShapeMismatchException>()
            .Where(e => e.StudentShape.SequenceEqual(new long[] { 32, 100 }) && e.TeacherShape.SequenceEqual(new long[] { 32, 10 }))
            .WithMessage("*student [32, 100], teacher [32, 10]*");
        ShouldEqual(trainer.Student, before);
    }

    public static TheoryData<string> LogitTerms => ["kd", "kd-ls", "dkd"];

    [Theory]
    [MemberData(nameof(LogitTerms))]
    public void Every_logit_term_used_on_its_own_names_both_shapes(string name)
    {
        using var scope = NewDisposeScope();
        IDistillationLoss term = name switch
        {
            "kd" => new KLDivergenceLoss(4),
            "kd-ls" => new KLDivergenceLoss(4, standardizeLogits: true),
            _ => new DecoupledKDLoss(),
        };
        var context = new DistillationContext(zeros(4, 100), zeros(4, ScalarType.Int64), zeros(4, 10));

        var act = () => term.Compute(context);

        act.Should().Throw<LogitShapeMismatchException>().WithMessage("*student [4, 100], teacher [4, 10]*");
    }

    [Fact]
    public void A_feature_capture_that_fails_on_its_second_path_lists_the_paths_and_leaves_no_hook_on_the_model()
    {
        using var model = new TinyNet(4);
        var hooksBefore = TensorsMadeByOneForward(model);

        var act = () => new FeatureCapture(model, ["layers.1", "layers.9"]);

        act.Should().Throw<ArgumentException>()
            .WithMessage("*no module 'layers.9'*Available paths: layers, layers.0, layers.1, layers.2, layers.3, layers.4*");
        TensorsMadeByOneForward(model).Should().Be(hooksBefore, "the hook of the valid first path must not be left registered");
    }

    // ---- Weights of another model -------------------------------------------------------

    [Fact]
    public void Weights_of_another_model_list_missing_and_unexpected_keys_and_load_nothing()
    {
        var path = Path.Combine(temp.Path, "other.weights");
        using (var other = new OtherNet())
        {
            other.SaveWeights(path);
        }

        using var model = new TinyNet(4);
        var before = Snapshot(model);

        var act = () => model.LoadWeights(path);

        var error = act.Should().Throw<InvalidDataException>().WithMessage($"*{path}*").Which;
        error.Message.Should().Contain("missing keys (in the module, not in the file): layers.0.weight, layers.0.bias, layers.4.weight, layers.4.bias")
            .And.Contain("unexpected keys (in the file, not in the module): body.bias, body.weight");
        var mismatch = error.InnerException.Should().BeOfType<StateDictMismatchException>().Subject;
        mismatch.MissingKeys.Should().Equal("layers.0.weight", "layers.0.bias", "layers.4.weight", "layers.4.bias");
        mismatch.UnexpectedKeys.Should().Equal("body.bias", "body.weight");
        ShouldEqual(model, before);
    }

    [Fact]
    public void Weights_with_another_class_count_name_the_shapes_and_do_not_half_load_the_earlier_layers()
    {
        // Same keys, same count: TorchSharp's own reader would copy the convolution, then fail on the classifier.
        var path = Path.Combine(temp.Path, "ten-classes.weights");
        manual_seed(1);
        using (var tenClasses = new TinyNet(4, classes: 10))
        {
            tenClasses.SaveWeights(path);
        }

        manual_seed(2);
        using var model = new TinyNet(4, classes: 4);
        var before = Snapshot(model);

        var act = () => model.LoadWeights(path);

        act.Should().Throw<InvalidDataException>()
            .WithMessage($"*{path}*shape mismatch: layers.4.weight: [10, 64] in the source, [4, 64] in the module; layers.4.bias: [10] in the source, [4] in the module*");
        ShouldEqual(model, before);
    }

    [Fact]
    public void A_truncated_weights_file_is_named_and_loads_nothing()
    {
        var path = Path.Combine(temp.Path, "truncated.weights");
        using (var saved = new TinyNet(4))
        {
            saved.SaveWeights(path);
        }

        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 40 - 10)]); // 40: the SHA-256 trailer, then 10 bytes of the last tensor
        using var model = new TinyNet(4);
        var before = Snapshot(model);

        var act = () => model.LoadWeights(path);

        act.Should().Throw<InvalidDataException>().WithMessage($"*{path}*layers.4.bias*truncated*");
        ShouldEqual(model, before);
    }

    // ---- Helpers ----------------------------------------------------------------------------

    private sealed class OtherNet : Module<Tensor, Tensor>
    {
        private readonly Linear body = Linear(3, 2);

        public OtherNet()
            : base(nameof(OtherNet)) => RegisterComponents();

        public override Tensor forward(Tensor input) => body.call(input);
    }

    private static Dictionary<string, Tensor> Snapshot(Module module) =>
        module.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());

    private static void ShouldEqual(Module module, Dictionary<string, Tensor> snapshot)
    {
        foreach (var (key, value) in module.state_dict())
        {
            value.allclose(snapshot[key], rtol: 0, atol: 0).Should().BeTrue($"{key} must be unchanged");
        }
    }

    /// <summary>How many tensors one forward pass leaves in a dispose scope: one more per forward hook that keeps an alias.</summary>
    private static int TensorsMadeByOneForward(TinyNet model)
    {
        using var scope = NewDisposeScope();
        model.call(zeros(1, 3, 8, 8));
        return scope.DisposablesCount;
    }

    private static byte[] BuildCifarArchive()
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "cifar-10-batches-bin/"));
            foreach (var name in Cifar10Downloader.ExpectedFiles)
            {
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "cifar-10-batches-bin/" + name)
                {
                    DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes("content of " + name)),
                });
            }
        }

        return buffer.ToArray();
    }

#pragma warning disable CA5351 // MD5 is the checksum CIFAR-10 publishes; the downloader checks it.
    private static Cifar10DownloadOptions ChecksFor(byte[] archive, string source) => new()
    {
        Source = source,
        ExpectedSize = archive.Length,
        ExpectedMd5 = Convert.ToHexString(MD5.HashData(archive)).ToLowerInvariant(),
    };
#pragma warning restore CA5351

    private sealed class StubHandler(Func<Stream> body) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(body()) });
    }

    /// <summary>Serves the first <c>breakAfter</c> bytes, then fails as a dropped connection does.</summary>
    private sealed class BreakingStream(byte[] content, int breakAfter) : ReadOnlyStream
    {
        private int position;

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (position >= breakAfter)
            {
                throw new IOException("Connection reset by peer");
            }

            var n = Math.Min(count, breakAfter - position);
            Array.Copy(content, position, buffer, offset, n);
            position += n;
            return n;
        }
    }
}
