using Distillation.Data;
using static TorchSharp.torch;

namespace Distillation.Models.Tests.Docs;

public sealed class ReadmeExampleTests
{
    [Fact]
    public void The_readme_example_trains_distills_and_learns_a_separable_task()
    {
        using var scope = NewDisposeScope();
        using var train = ColourSquares(count: 256, seed: 1);
        using var test = ColourSquares(count: 96, seed: 2);

        var (teacher, student, distilled) = NotebookExample.TeachAndDistill(train, test, epochs: 1);

        // Each class is a bright channel: every model should beat chance (1/3) by far after one epoch (two steps).
        teacher.Should().BeGreaterThan(0.6);
        student.Should().BeGreaterThan(0.6);
        distilled.Should().BeGreaterThan(0.6);
    }

    // Class c is an image whose channel c is bright, with noise on all three channels.
    internal static ImageDataset ColourSquares(int count, long seed)
    {
        var generator = new Generator((ulong)seed);
        var labels = randint(0, 3, [count], dtype: ScalarType.Int64, generator: generator);
        var noise = randint(0, 96, [count, 3, 32, 32], dtype: ScalarType.Int64, generator: generator);
        var bright = nn.functional.one_hot(labels, 3).to(ScalarType.Int64).view(count, 3, 1, 1) * 150;
        var images = (noise + bright).to(ScalarType.Byte);
        return new ImageDataset(images, labels, ["red", "green", "blue"]);
    }
}
