using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Models.Tests;

public class NetworkShapeTests
{
    [Fact]
    public void Teacher_has_the_notebooks_parameter_count()
    {
        using var teacher = new TeacherNet();

        // conv 3·128·9+128 = 3,584; 128·64·9+64 = 73,792; 64·64·9+64 = 36,928; 64·32·9+32 = 18,464;
        // linear 2048·512+512 = 1,049,088; 512·10+10 = 5,130; total 1,186,986.
        teacher.parameters().Sum(p => p.numel()).Should().Be(1_186_986);
    }

    [Fact]
    public void Student_has_the_notebooks_parameter_count()
    {
        using var student = new StudentNet();

        // conv 3·16·9+16 = 448; 16·16·9+16 = 2,320; linear 1024·256+256 = 262,400; 256·10+10 = 2,570.
        student.parameters().Sum(p => p.numel()).Should().Be(267_738);
    }

    [Fact]
    public void Teacher_parameter_names_match_the_PyTorch_state_dict()
    {
        using var teacher = new TeacherNet();

        teacher.state_dict().Keys.Should().Equal(
            "features.0.weight", "features.0.bias",
            "features.2.weight", "features.2.bias",
            "features.5.weight", "features.5.bias",
            "features.7.weight", "features.7.bias",
            "classifier.1.weight", "classifier.1.bias",
            "classifier.3.weight", "classifier.3.bias");
    }

    [Fact]
    public void Student_parameter_names_match_the_PyTorch_state_dict()
    {
        using var student = new StudentNet();

        student.state_dict().Keys.Should().Equal(
            "features.0.weight", "features.0.bias",
            "features.3.weight", "features.3.bias",
            "classifier.1.weight", "classifier.1.bias",
            "classifier.3.weight", "classifier.3.bias");
    }

    [Theory]
    [InlineData(typeof(TeacherNet), new long[] { 32, 8, 8 })]
    [InlineData(typeof(StudentNet), new long[] { 16, 8, 8 })]
    public void Features_then_classify_equals_forward(Type modelType, long[] featureShape)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(1);
        using var model = (FeatureClassifierNet)Activator.CreateInstance(modelType, 10)!;
        model.eval();
        var images = randn(4, 3, 32, 32);

        var features = model.Features(images);
        var logits = model.call(images);

        features.shape.Should().Equal([4, .. featureShape]);
        logits.shape.Should().Equal(4, 10);
        model.Classify(features).allclose(logits).Should().BeTrue();
    }

    [Fact]
    public void Class_count_must_be_positive()
    {
        var act = () => new StudentNet(0);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("numClasses");
    }
}
