using System.Buffers.Binary;
using Distillation.Serialization;
using TorchSharp.PyBridge;
using static TorchSharp.torch;
using Safetensors = Distillation.Serialization.Safetensors;
using StateDictMismatchException = Distillation.Serialization.StateDictMismatchException;

namespace Distillation.Models.Tests;

public sealed class StateDictFilesTests : IDisposable
{
    /// <summary>Written by Fixtures/make_student_safetensors.py; regenerate it with that script.</summary>
    private static readonly string Fixture = Path.Combine(AppContext.BaseDirectory, "Fixtures", "student.safetensors");

    /// <summary>The script's tensors: name, state-dict index k, and the dtype it stores.</summary>
    private static readonly (string Name, int K, string DType)[] FixtureTensors =
    [
        ("features.0.weight", 0, "F32"),
        ("features.0.bias", 1, "F64"),
        ("features.3.weight", 2, "F32"),
        ("features.3.bias", 3, "F32"),
        ("classifier.1.weight", 4, "F32"),
        ("classifier.1.bias", 5, "F32"),
        ("classifier.3.weight", 6, "F16"),
        ("classifier.3.bias", 7, "BF16"),
    ];

    private readonly string folder = Path.Combine(Path.GetTempPath(), "distillation-import-" + Guid.NewGuid().ToString("N"));

    public StateDictFilesTests() => Directory.CreateDirectory(folder);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>The script's formula, 0.1·sin(i + k), rounded to the stored dtype as the script does, then to float32.</summary>
    private static float Expected(int k, long i, string dtype)
    {
        var value = 0.1 * Math.Sin(i + k);
        return dtype switch
        {
            "F32" or "F64" => (float)value,
            "F16" => (float)(Half)value,
            "BF16" => RoundToBFloat16((float)value),
            _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
        };
    }

    private static float RoundToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        bits += 0x7FFF + ((bits >> 16) & 1);
        return BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000);
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Fact]
    public void Fixture_loads_into_the_student_with_the_scripts_values()
    {
        manual_seed(5);
        using var student = new StudentNet();

        var result = student.LoadSafetensors(Fixture);

        result.IsExactMatch.Should().BeTrue();
        result.LoadedKeys.Should().Equal(FixtureTensors.Select(t => t.Name));
        var state = student.state_dict();
        foreach (var (name, k, dtype) in FixtureTensors)
        {
            var values = state[name].data<float>().ToArray();
            state[name].dtype.Should().Be(ScalarType.Float32, "the file's F64, F16 and BF16 are converted to the parameter's dtype");
            foreach (var i in new long[] { 0, 1, 7, values.Length / 2, values.Length - 1 })
            {
                values[i].Should().Be(Expected(k, i, dtype), $"{name}[{i}]");
            }
        }

        // Every element of one whole tensor, and one element by its multi-dimensional index.
        var conv = state["features.3.weight"].data<float>().ToArray();
        conv.Select((v, i) => v == Expected(2, i, "F32")).Should().AllBeEquivalentTo(true);
        state["classifier.1.weight"][3, 1000].item<float>().Should().Be(Expected(4, (3 * 1024) + 1000, "F32"));
    }

    [Fact]
    public void Fixture_student_runs_a_forward_pass()
    {
        using var student = new StudentNet();
        student.LoadSafetensors(Fixture);
        student.eval();
        manual_seed(1);
        using var images = randn(2, 3, 32, 32);

        using var logits = student.call(images);

        logits.shape.Should().Equal(2, 10);
        logits.isfinite().all().item<bool>().Should().BeTrue();
        logits.abs().max().item<float>().Should().BeGreaterThan(0);
    }

    [Fact]
    public void Export_then_import_gives_the_same_weights_and_predictions()
    {
        var path = Path.Combine(folder, "nested", "student.safetensors");
        manual_seed(1);
        using var trained = new StudentNet();
        manual_seed(2);
        using var fresh = new StudentNet();
        trained.eval();
        fresh.eval();
        using var images = randn(3, 3, 32, 32);

        trained.SaveSafetensors(path);
        var result = fresh.LoadSafetensors(path);

        result.IsExactMatch.Should().BeTrue();
        foreach (var (name, value) in trained.state_dict())
        {
            Same(fresh.state_dict()[name], value).Should().BeTrue(name);
        }

        Same(fresh.call(images), trained.call(images)).Should().BeTrue();
        Directory.GetFiles(Path.GetDirectoryName(path)!).Should().Equal([path], "the temporary file is renamed into place");
    }

    [Fact]
    public void Fixture_re_exported_equals_the_fixture_tensor_by_tensor()
    {
        var path = Path.Combine(folder, "again.safetensors");
        using var student = new StudentNet();
        student.LoadSafetensors(Fixture);

        student.SaveSafetensors(path);
        using var original = Safetensors.Read(Fixture);
        using var exported = Safetensors.Read(path);

        exported.Names.Should().Equal(FixtureTensors.Select(t => t.Name));
        foreach (var (name, _, _) in FixtureTensors)
        {
            exported.Tensors[name].dtype.Should().Be(ScalarType.Float32);
            Same(exported.Tensors[name], original.Tensors[name].to(ScalarType.Float32)).Should().BeTrue(name);
        }
    }

    [Fact]
    public void Student_weights_do_not_load_into_a_teacher()
    {
        using var teacher = new TeacherNet();
        using var before = teacher.state_dict()["features.0.weight"].clone();

        var act = () => teacher.LoadSafetensors(Fixture);

        var error = act.Should().Throw<StateDictMismatchException>().Which;
        error.Message.Should().Contain(Fixture).And.Contain("TeacherNet");
        error.MissingKeys.Should().Equal("features.2.weight", "features.2.bias", "features.5.weight", "features.5.bias", "features.7.weight", "features.7.bias");
        error.UnexpectedKeys.Should().Equal("features.3.bias", "features.3.weight");
        error.ShapeMismatches.Select(m => m.ToString()).Should().Contain("features.0.weight: [16, 3, 3, 3] in the source, [128, 3, 3, 3] in the module");
        Same(teacher.state_dict()["features.0.weight"], before).Should().BeTrue("nothing is loaded when the file does not fit");
    }

    [Fact]
    public void Non_strict_load_of_a_partial_file_reports_missing_and_unexpected_keys()
    {
        // The fixture's features only, plus one key StudentNet does not have.
        var path = Path.Combine(folder, "partial.safetensors");
        using (var fixture = Safetensors.Read(Fixture))
        using (var extra = ones(3))
        {
            var subset = fixture.Names.Where(n => n.StartsWith("features.", StringComparison.Ordinal))
                .Select(n => new KeyValuePair<string, Tensor>(n, fixture.Tensors[n])).Append(new("head.scale", extra));
            Safetensors.Write(path, subset);
        }

        manual_seed(3);
        using var student = new StudentNet();
        using var classifierBefore = student.state_dict()["classifier.1.weight"].clone();

        var strict = () => student.LoadSafetensors(path);
        var result = student.LoadSafetensors(path, strict: false);

        strict.Should().Throw<StateDictMismatchException>()
            .WithMessage("*missing keys (in the module, not in the source): classifier.1.weight, classifier.1.bias, classifier.3.weight, classifier.3.bias*unexpected keys (in the source, not in the module): head.scale*");
        result.LoadedKeys.Should().Equal("features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias");
        result.MissingKeys.Should().Equal("classifier.1.weight", "classifier.1.bias", "classifier.3.weight", "classifier.3.bias");
        result.UnexpectedKeys.Should().Equal("head.scale");
        student.state_dict()["features.0.weight"].data<float>()[5].Should().Be(Expected(0, 5, "F32"));
        Same(student.state_dict()["classifier.1.weight"], classifierBefore).Should().BeTrue("missing keys keep their values");
    }

    [Fact]
    public void Shape_mismatch_names_the_key_and_both_shapes()
    {
        // A student for 5 classes: classifier.3 is 5×256 where the file has 10×256.
        using var student = new StudentNet(numClasses: 5);

        var act = () => student.LoadSafetensors(Fixture, strict: false);

        act.Should().Throw<StateDictMismatchException>()
            .WithMessage("*classifier.3.weight: [10, 256] in the source, [5, 256] in the module; classifier.3.bias: [10] in the source, [5] in the module*");
    }

    [Fact]
    public void Truncated_fixture_names_the_file_and_the_tensor()
    {
        var path = Path.Combine(folder, "truncated.safetensors");
        var bytes = File.ReadAllBytes(Fixture);
        File.WriteAllBytes(path, bytes[..^100]);
        using var student = new StudentNet();

        var act = () => student.LoadSafetensors(path);

        // The last tensor in the data (classifier.3.bias, 20 bytes) and classifier.3.weight now end beyond the buffer.
        act.Should().Throw<InvalidDataException>().WithMessage($"Safetensors file {path}, tensor \"classifier.3.*\": data_offsets * lie outside the *-byte data buffer.");
    }

    [Fact]
    public void Header_length_larger_than_the_file_is_rejected()
    {
        var path = Path.Combine(folder, "long-header.safetensors");
        var bytes = File.ReadAllBytes(Fixture);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)bytes.Length);
        File.WriteAllBytes(path, bytes);
        using var student = new StudentNet();

        var act = () => student.LoadSafetensors(path);

        act.Should().Throw<InvalidDataException>().WithMessage($"Safetensors file {path}: the header length {bytes.Length} exceeds the {bytes.Length - 8} bytes*");
    }

    [Fact]
    public void PyTorch_state_dict_written_by_PyBridge_loads()
    {
        var path = Path.Combine(folder, "student.pth");
        manual_seed(1);
        using var trained = new StudentNet();
        manual_seed(2);
        using var fresh = new StudentNet();
        PyTorchPickler.PickleStateDict(path, trained.state_dict());

        var result = fresh.LoadPyTorchStateDict(path);

        result.IsExactMatch.Should().BeTrue();
        foreach (var (name, value) in trained.state_dict())
        {
            Same(fresh.state_dict()[name], value).Should().BeTrue(name);
        }
    }

    [Fact]
    public void A_file_that_is_not_a_PyTorch_zip_is_named()
    {
        using var student = new StudentNet();

        var act = () => student.LoadPyTorchStateDict(Fixture);

        act.Should().Throw<InvalidDataException>().WithMessage($"PyTorch file {Fixture} cannot be read as a state dict saved by torch.save:*");
    }
}
