using System.IO.Compression;
using System.Text;
using Distillation.Serialization;
using Distillation.Tests.TestSupport;

namespace Distillation.Tests.Serialization;

/// <summary>
/// A <c>.pth</c> whose pickle asks for <c>os.system</c>, <c>builtins.eval</c> or
/// <c>subprocess.Popen</c>: TorchSharp.PyBridge's unpickler (Razorvine.Pickle) maps an unregistered
/// global to a dictionary-building constructor instead of importing it, so nothing runs and the
/// load fails as invalid data.
/// </summary>
public sealed class PyTorchPickleSafetyTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Theory]
    [InlineData("posix", "system", true)]
    [InlineData("os", "system", true)]
    [InlineData("builtins", "eval", true)]
    [InlineData("builtins", "exec", false)]
    [InlineData("subprocess", "Popen", true)]
    public void A_pickle_that_calls_a_python_function_runs_nothing_and_is_invalid_data(string module, string name, bool withArgument)
    {
        var marker = Path.Combine(temp.Path, "pwned");
        var command = withArgument ? (name == "eval" ? $"__import__('os').system('touch {marker}')" : $"touch {marker}") : null;
        var path = Path.Combine(temp.Path, "evil.pth");
        WriteTorchZip(path, Pickle(module, name, command));
        using var model = new TinyNet(4);
        var before = model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());

        var act = () => model.LoadPyTorchStateDict(path);

        act.Should().Throw<InvalidDataException>().WithMessage($"*{path}*");
        File.Exists(marker).Should().BeFalse("no Python callable is ever invoked");
        foreach (var (key, value) in model.state_dict())
        {
            value.allclose(before[key], rtol: 0, atol: 0).Should().BeTrue($"{key} is unchanged");
        }
    }

    /// <summary>Protocol-2 pickle of <c>module.name(command)</c> (or <c>module.name()</c>): GLOBAL, MARK, BINUNICODE, TUPLE, REDUCE, STOP.</summary>
    private static byte[] Pickle(string module, string name, string? command)
    {
        using var pickle = new MemoryStream();
        pickle.Write([0x80, 0x02]);
        pickle.Write(Encoding.ASCII.GetBytes($"c{module}\n{name}\n"));
        pickle.WriteByte((byte)'(');
        if (command is not null)
        {
            var text = Encoding.UTF8.GetBytes(command);
            pickle.WriteByte((byte)'X');
            pickle.Write(BitConverter.GetBytes(text.Length));
            pickle.Write(text);
        }

        pickle.Write("tR."u8);
        return pickle.ToArray();
    }

    /// <summary>The layout torch.save writes: a zip holding <c>archive/data.pkl</c> and <c>archive/version</c>.</summary>
    private static void WriteTorchZip(string path, byte[] pickle)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        using (var entry = zip.CreateEntry("archive/data.pkl", CompressionLevel.NoCompression).Open())
        {
            entry.Write(pickle);
        }

        using (var version = zip.CreateEntry("archive/version", CompressionLevel.NoCompression).Open())
        {
            version.Write("3\n"u8);
        }
    }
}
