using Distillation.Serialization;
using static TorchSharp.torch;

namespace Distillation.Models.Tests;

public sealed class ModuleWeightsTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "distillation-weights-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Saved_teacher_weights_load_into_a_fresh_teacher_and_predict_the_same()
    {
        var path = Path.Combine(folder, "nested", "teacher.bin");
        manual_seed(1);
        using var trained = new TeacherNet();
        manual_seed(2);
        using var fresh = new TeacherNet();
        using var images = randn(3, 3, 32, 32);
        trained.eval();
        fresh.eval();

        trained.SaveWeights(path);
        fresh.LoadWeights(path);

        fresh.call(images).allclose(trained.call(images)).Should().BeTrue();
        Directory.GetFiles(Path.GetDirectoryName(path)!).Should().Equal([path], "the temporary file is renamed into place");
    }

    [Fact]
    public void Student_weights_do_not_load_into_a_teacher()
    {
        var path = Path.Combine(folder, "student.bin");
        using var student = new StudentNet();
        using var teacher = new TeacherNet();
        student.SaveWeights(path);

        var act = () => teacher.LoadWeights(path);

        act.Should().Throw<InvalidDataException>().WithMessage($"*{path}*");
    }

    [Fact]
    public void Missing_file_is_named()
    {
        using var student = new StudentNet();

        var act = () => student.LoadWeights(Path.Combine(folder, "absent.bin"));

        act.Should().Throw<FileNotFoundException>().WithMessage("*absent.bin*");
    }
}
