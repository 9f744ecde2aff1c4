using System.Text;
using Distillation.Serialization;
using Distillation.Tests.TestSupport;
using Distillation.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Distillation.Tests.Serialization;

/// <summary>
/// Issue 14, items 2 and 6: weights files carry the SHA-256 of their entries; a damaged file, a
/// checkpoint given as weights, or a file with unprintable names is a clear
/// <see cref="InvalidDataException"/>, and the module is unchanged.
/// </summary>
public sealed class ModuleWeightsIntegrityTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private static float[] Weights(nn.Module module) => module.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();

    private static TinyNet Net(long seed)
    {
        manual_seed(seed);
        return new TinyNet(4);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.99)]
    public void A_flipped_bit_in_saved_weights_is_refused_naming_the_file_and_nothing_is_loaded(double where)
    {
        var path = Path.Combine(temp.Path, "model.weights");
        using (var saved = Net(1))
        {
            saved.SaveWeights(path);
        }

        var bytes = File.ReadAllBytes(path);
        bytes[(int)((bytes.Length - 40) * where)] ^= 0x10;
        File.WriteAllBytes(path, bytes);
        using var module = Net(2);
        var before = Weights(module);

        var act = () => module.LoadWeights(path);

        act.Should().Throw<InvalidDataException>().WithMessage($"Weights file {path} is damaged*checksum*nothing was loaded*");
        Weights(module).Should().Equal(before);
    }

    [Fact]
    public void Saved_weights_load_back_and_remain_readable_by_TorchSharp_itself()
    {
        var path = Path.Combine(temp.Path, "model.weights");
        using var saved = Net(1);
        saved.SaveWeights(path);
        var logger = new ListLogger();

        using var loaded = Net(2);
        loaded.LoadWeights(path, logger);
        using var byTorchSharp = Net(3);
        byTorchSharp.load(path, strict: true);

        Weights(loaded).Should().Equal(Weights(saved));
        Weights(byTorchSharp).Should().Equal(Weights(saved), "the checksum after the entries does not disturb TorchSharp's reader");
        logger.Entries.Should().BeEmpty();
        Directory.EnumerateFiles(temp.Path).Should().ContainSingle("the save leaves no temporary file");
    }

    [Fact]
    public void Weights_without_a_checksum_from_TorchSharps_save_load_with_a_warning()
    {
        var path = Path.Combine(temp.Path, "plain.weights");
        using var saved = Net(1);
        saved.save(path);
        var logger = new ListLogger();

        using var loaded = Net(2);
        loaded.LoadWeights(path, logger);

        Weights(loaded).Should().Equal(Weights(saved));
        logger.Entries.Should().ContainSingle(e => e.Level == LogLevel.Warning && e.Message.Contains("no checksum") && e.Message.Contains(path));
    }

    [Fact]
    public void Bytes_after_the_entries_that_are_not_the_checksum_are_refused()
    {
        var path = Path.Combine(temp.Path, "model.weights");
        using (var saved = Net(1))
        {
            saved.SaveWeights(path);
        }

        File.AppendAllText(path, "x");
        using var module = Net(2);

        var act = () => module.LoadWeights(path);

        act.Should().Throw<InvalidDataException>().WithMessage("*bytes after its last entry that are not a checksum*");
    }

    [Fact]
    public void A_training_checkpoint_given_as_weights_says_so()
    {
        var options = new CheckpointOptions { Directory = temp.Path };
        using (var train = Quadrants.Create(32, seed: 1))
        {
            manual_seed(1);
            new Trainer<TinyNet, TinyNet>(new TinyNet(4), new TinyNet(4), new TrainerOptions { Epochs = 1, BatchSize = 16, Checkpoints = options }).TrainStudent(train);
        }

        var path = options.LastCheckpointPath(TrainingPhase.StudentAlone);
        using var module = Net(2);
        var before = Weights(module);

        var act = () => module.LoadWeights(path);

        act.Should().Throw<InvalidDataException>().WithMessage($"{path} is a training checkpoint, not a weights file*resuming*");
        Weights(module).Should().Equal(before);
    }

    [Fact]
    public void Names_read_from_a_file_are_never_echoed_with_control_characters_or_at_length()
    {
        // A TorchSharp weights file of one entry whose name is an escape sequence and 5,000 letters, with an unknown dtype.
        var path = Path.Combine(temp.Path, "hostile.weights");
        using (var writer = new BinaryWriter(File.Create(path), Encoding.UTF8))
        {
            writer.Write((byte)1);
            writer.Write("\u001b[2J\u001b]0;owned\u0007" + new string('a', 5000));
            writer.Write((byte)115);
        }

        using var module = Net(2);

        var act = () => module.LoadWeights(path);

        var message = act.Should().Throw<InvalidDataException>().Which.Message;
        message.Should().NotContainAny("\u001b", "\u0007").And.Contain("unknown dtype code 115");
        message.Length.Should().BeLessThan(600);
    }
}
