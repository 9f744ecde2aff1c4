using Distillation.IO;
using Distillation.Tests.TestSupport;

namespace Distillation.Tests.IO;

/// <summary>Issue 14, item 3: a write that fails (a full disk) names the file, leaves the previous one and no temporary file.</summary>
public sealed class AtomicFileTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void A_full_disk_mid_write_names_the_file_keeps_the_previous_one_and_leaves_no_temporary_file()
    {
        var path = Path.Combine(temp.Path, "results.json");
        File.WriteAllText(path, "previous");

        var act = () => AtomicFile.Write(path, stream =>
        {
            stream.Write(new byte[4096]);
            throw new IOException("No space left on device");
        });

        act.Should().Throw<IOException>().WithMessage($"{path} was not written (any previous file is unchanged): No space left on device")
            .WithInnerException<IOException>();
        File.ReadAllText(path).Should().Be("previous");
        Directory.EnumerateFiles(temp.Path).Should().ContainSingle();
    }

    [Fact]
    public void Text_from_files_is_made_printable_and_short()
    {
        PrintableText.Of("a\u001b[2Jb\u0007\u202Ec").Should().Be("a?[2Jb??c");
        PrintableText.Of(new string('x', 500), 10).Should().Be("xxxxxxxxxx…");
        PrintableText.Of("layers.0.weight").Should().Be("layers.0.weight");
    }
}
