using System.Text.Json.Nodes;
using CsCheck;
using Distillation.Devices;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using static TorchSharp.torch;

namespace Distillation.Tests.Training;

/// <summary>
/// Issue 14, item 2: a checkpoint carries the SHA-256 of its content; a damaged one, one of the
/// older format, or one with a malformed header is an <see cref="InvalidDataException"/> naming
/// the file, and nothing is loaded.
/// </summary>
public sealed class CheckpointIntegrityTests : IDisposable
{
    private readonly int threadsBefore = get_num_threads();
    private readonly TempFolder folder = new();

    public void Dispose()
    {
        set_num_threads(threadsBefore);
        folder.Dispose();
    }

    private TrainerOptions Options(int epochs = 2, bool resume = false) => new()
    {
        Epochs = epochs,
        BatchSize = 32,
        Seed = 7,
        Device = new DeviceOptions { Kind = DeviceKind.Cpu, Threads = 1 },
        Checkpoints = new CheckpointOptions { Directory = folder.Path, Resume = resume },
    };

    private static Trainer<TinyNet, TinyNet> NewTrainer(TrainerOptions options, long initSeed)
    {
        manual_seed(100);
        var teacher = new TinyNet(8);
        manual_seed(initSeed);
        return new Trainer<TinyNet, TinyNet>(teacher, new TinyNet(4), options);
    }

    private static float[] Weights(nn.Module module) => module.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();

    /// <summary>Trains the student for two epochs with checkpoints; returns the checkpoint's path.</summary>
    private string TrainedCheckpoint(ImageDatasetHolder data)
    {
        var options = Options();
        NewTrainer(options, initSeed: 3).TrainStudent(data.Train);
        return options.Checkpoints!.LastCheckpointPath(TrainingPhase.StudentAlone);
    }

    private (Trainer<TinyNet, TinyNet> Trainer, float[] Before) Resuming()
    {
        var trainer = NewTrainer(Options(resume: true), initSeed: 5);
        return (trainer, Weights(trainer.Student));
    }

    [Theory]
    [InlineData(40)] // inside the first weight tensor
    [InlineData(-40)] // inside the optimizer's state, near the end
    public void A_flipped_bit_in_a_checkpoint_is_refused_naming_the_file_and_nothing_is_loaded(long offsetFromPayload)
    {
        using var data = new ImageDatasetHolder();
        var path = TrainedCheckpoint(data);
        var length = new FileInfo(path).Length;
        CheckpointFiles.FlipBit(path, offsetFromPayload >= 0 ? CheckpointFiles.PayloadStart(path) + offsetFromPayload : length + offsetFromPayload);
        var (trainer, before) = Resuming();

        var act = () => trainer.TrainStudent(data.Train);

        act.Should().Throw<InvalidDataException>().WithMessage($"Checkpoint {path} is damaged*checksum*");
        Weights(trainer.Student).Should().Equal(before, "nothing is loaded from a damaged checkpoint");
    }

    [Fact]
    public void A_checkpoint_without_a_checksum_from_the_older_format_is_refused_saying_so()
    {
        using var data = new ImageDatasetHolder();
        var path = TrainedCheckpoint(data);
        CheckpointFiles.Rewrite(path, header => header, version: 1);
        var (trainer, before) = Resuming();

        var act = () => trainer.TrainStudent(data.Train);

        act.Should().Throw<InvalidDataException>().WithMessage($"Checkpoint {path} predates checksums*");
        Weights(trainer.Student).Should().Equal(before);
    }

    [Theory]
    [InlineData("\"Progress\":", "\"Progres\":", "*Progress is missing*")]
    [InlineData("\"CompletedEpochs\":2", "\"CompletedEpochs\":\"two\"", "*")]
    [InlineData("\"Identity\":{", "\"Identity\":null,\"X\":{", "*")]
    [InlineData("\"CompletedEpochs\":2", "\"CompletedEpochs\":7", "*CompletedEpochs is 7 of 2*")]
    [InlineData("\"BestEpoch\":2", "\"BestEpoch\":9", "*BestEpoch is 9*")]
    [InlineData("\"ShuffleState\":\"", "\"ShuffleState\":\"AAAA", "*random stream*")]
    [InlineData("\"LossName\":\"ce\"", "\"LossName\":\"\\u001b[2Jx\"", "*not printable*")]
    public void A_malformed_header_is_invalid_data_naming_the_file_never_a_null_reference(string find, string replace, string message)
    {
        using var data = new ImageDatasetHolder();
        var path = TrainedCheckpoint(data);
        CheckpointFiles.Header(path).Should().Contain(find, "the edit applies");
        CheckpointFiles.Rewrite(path, header => header.Replace(find, replace, StringComparison.Ordinal));
        var (trainer, before) = Resuming();

        var act = () => trainer.TrainStudent(data.Train);

        act.Should().Throw<InvalidDataException>().WithMessage($"Checkpoint {path} has a malformed header: *").WithMessage(message);
        Weights(trainer.Student).Should().Equal(before);
    }

    [Fact]
    public void LastCheckpointedEpoch_reads_the_epoch_a_resumed_run_continues_after()
    {
        using var data = new ImageDatasetHolder();
        var options = Options();
        options.Checkpoints!.LastCheckpointedEpoch(TrainingPhase.StudentAlone).Should().BeNull();
        NewTrainer(options, initSeed: 3).TrainStudent(data.Train);

        options.Checkpoints.LastCheckpointedEpoch(TrainingPhase.StudentAlone).Should().Be(2);
        options.Checkpoints.LastCheckpointedEpoch(TrainingPhase.Teacher).Should().BeNull();
    }

    /// <summary>One edit of a header's JSON: a node chosen by index, and what is done to it.</summary>
    private sealed record Edit(int Node, int Kind, string Text, long Number);

    private static readonly Gen<Edit> Edits =
        from node in Gen.Int[0, 400]
        from kind in Gen.Int[0, 7]
        from text in Gen.OneOf(Gen.String, Gen.Const("\u001b[31m\u0007"), Gen.Const("AAAA"))
        from number in Gen.OneOf(Gen.Long[-3, 10], Gen.Const(long.MaxValue), Gen.Const(long.MinValue))
        select new Edit(node, kind, text, number);

    [Fact]
    public void Random_header_edits_resume_or_raise_only_the_documented_exceptions()
    {
        using var data = new ImageDatasetHolder();
        var path = TrainedCheckpoint(data);
        var original = File.ReadAllBytes(path);
        var outcomes = new Dictionary<string, int>();

        Fuzz.ForAll(Edits.Array[1, 3], seed: 20260714, iterations: 400, edits =>
        {
            File.WriteAllBytes(path, original);
            CheckpointFiles.Rewrite(path, header => Apply(header, edits));
            var trainer = NewTrainer(Options(resume: true), initSeed: 5);
            try
            {
                trainer.TrainStudent(data.Train);
                Count("resumed");
            }
            catch (InvalidDataException e)
            {
                e.Message.Should().StartWith($"Checkpoint {path} ").And.NotContainAny("\u001b", "\u0007");
                Count("invalid data");
            }
            catch (CheckpointMismatchException e)
            {
                e.Message.Should().Contain(path).And.NotContainAny("\u001b", "\u0007");
                Count("another run");
            }
        });

        outcomes.Keys.Should().Contain(["invalid data", "another run"], $"the edits reach both checks ({string.Join(", ", outcomes)})");

        void Count(string outcome) => outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
    }

    /// <summary>Applies each edit to the node of its index (in document order, wrapping around).</summary>
    private static string Apply(string header, Edit[] edits)
    {
        var root = JsonNode.Parse(header)!;
        foreach (var edit in edits)
        {
            var nodes = Descendants(root).ToList();
            var (parent, key, node) = nodes[edit.Node % nodes.Count];
            JsonNode? replacement = edit.Kind switch
            {
                0 => null,
                1 => JsonValue.Create(edit.Text),
                2 => JsonValue.Create(edit.Number),
                3 => JsonValue.Create(edit.Number % 2 == 0),
                4 => new JsonArray(),
                5 => new JsonObject(),
                _ => node?.DeepClone(),
            };
            switch (parent)
            {
                case JsonObject o when edit.Kind == 6:
                    o.Remove(key!);
                    break;
                case JsonObject o when edit.Kind == 7:
                    o.Remove(key!);
                    o[key + edit.Text] = replacement;
                    break;
                case JsonObject o:
                    o[key!] = replacement;
                    break;
                case JsonArray a:
                    a[int.Parse(key!, System.Globalization.CultureInfo.InvariantCulture)] = replacement;
                    break;
            }
        }

        return root.ToJsonString();
    }

    private static IEnumerable<(JsonNode? Parent, string? Key, JsonNode? Node)> Descendants(JsonNode root)
    {
        var stack = new Stack<(JsonNode? Parent, string? Key, JsonNode? Node)>();
        stack.Push((null, null, root));
        while (stack.Count > 0)
        {
            var item = stack.Pop();
            if (item.Parent is not null)
            {
                yield return item;
            }

            switch (item.Node)
            {
                case JsonObject o:
                    foreach (var (k, v) in o.ToList())
                    {
                        stack.Push((o, k, v));
                    }

                    break;
                case JsonArray a:
                    for (var i = 0; i < a.Count; i++)
                    {
                        stack.Push((a, i.ToString(System.Globalization.CultureInfo.InvariantCulture), a[i]));
                    }

                    break;
            }
        }
    }

    /// <summary>A small training set, disposed with the test.</summary>
    private sealed class ImageDatasetHolder : IDisposable
    {
        public Distillation.Data.ImageDataset Train { get; } = Quadrants.Create(64, seed: 1);

        public void Dispose() => Train.Dispose();
    }
}
