using static TorchSharp.torch;

namespace Distillation.Training;

/// <summary>
/// The positions of a trainer's two random streams (shuffling, augmentation), kept as the
/// generators' byte states so that successive training calls continue where the last one stopped,
/// as a PyTorch script's global generator does, and a copy can be handed to another trainer.
/// </summary>
internal sealed class RandomStreams
{
    // A fixed offset, so turning augmentation on does not change the shuffling order.
    private const ulong AugmentationSeedOffset = 0x5DEECE66DUL;

    private byte[] shuffleState;
    private byte[] augmentationState;

    private RandomStreams(byte[] shuffleState, byte[] augmentationState)
    {
        this.shuffleState = shuffleState;
        this.augmentationState = augmentationState;
    }

    /// <summary>Both streams at their start for <paramref name="seed"/>.</summary>
    public static RandomStreams FromSeed(long seed)
    {
        using var shuffle = new Generator((ulong)seed);
        using var augmentation = new Generator((ulong)seed ^ AugmentationSeedOffset);
        return new RandomStreams(StateOf(shuffle), StateOf(augmentation));
    }

    /// <summary>An independent copy at the same positions.</summary>
    public RandomStreams Copy() => new((byte[])shuffleState.Clone(), (byte[])augmentationState.Clone());

    /// <summary>Generators at the current positions; <see cref="Advance"/> records where they end.</summary>
    public (Generator Shuffle, Generator Augmentation) Open() => (Restore(shuffleState), Restore(augmentationState));

    /// <summary>Records the generators' positions as the streams' new ones.</summary>
    public void Advance(Generator shuffle, Generator augmentation)
    {
        shuffleState = StateOf(shuffle);
        augmentationState = StateOf(augmentation);
    }

    /// <summary>Both positions, base64-encoded, for a checkpoint.</summary>
    public (string Shuffle, string Augmentation) Export() => (Convert.ToBase64String(shuffleState), Convert.ToBase64String(augmentationState));

    /// <summary>Moves both streams to positions saved by <see cref="Export"/>.</summary>
    /// <exception cref="FormatException">A position is not base64.</exception>
    public void Import(string shuffle, string augmentation)
    {
        shuffleState = Convert.FromBase64String(shuffle);
        augmentationState = Convert.FromBase64String(augmentation);
    }

    /// <summary>The global generator's position (dropout and other in-model randomness), base64-encoded.</summary>
    public static string ExportGlobal()
    {
        using var state = get_rng_state();
        return Convert.ToBase64String(state.data<byte>().ToArray());
    }

    /// <summary>Moves the global generator to a position saved by <see cref="ExportGlobal"/>.</summary>
    public static void ImportGlobal(string state)
    {
        using var tensor = TorchSharp.torch.tensor(Convert.FromBase64String(state));
        set_rng_state(tensor);
    }

    private static byte[] StateOf(Generator generator)
    {
        using var state = generator.get_state();
        return state.data<byte>().ToArray();
    }

    private static Generator Restore(byte[] state)
    {
        var generator = new Generator();
        using var tensor = TorchSharp.torch.tensor(state);
        generator.set_state(tensor);
        return generator;
    }
}
