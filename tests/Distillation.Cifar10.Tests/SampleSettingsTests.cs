namespace Distillation.Cifar10.Tests;

/// <summary>The sample's --teacher-precision and --precision values: fp32 and bf16 are the same as float32 and bfloat16, in any case.</summary>
public sealed class SampleSettingsTests
{
    [Theory]
    [InlineData("auto", "auto")]
    [InlineData("AUTO", "auto")]
    [InlineData("float32", "float32")]
    [InlineData("fp32", "float32")]
    [InlineData("FP32", "float32")]
    [InlineData("bfloat16", "bfloat16")]
    [InlineData("bf16", "bfloat16")]
    public void A_teacher_precision_alias_is_read_as_its_full_name(string given, string expected) =>
        SampleSettings.CanonicalPrecision(given).Should().Be(expected);

    [Theory]
    [InlineData("fp32", "float32")]
    [InlineData("Float32", "float32")]
    [InlineData("BF16-Mixed", "bf16-mixed")]
    [InlineData("FP16-Mixed", "fp16-mixed")]
    [InlineData("auto", "auto")]
    public void A_training_precision_alias_is_read_as_its_full_name(string given, string expected) =>
        SampleSettings.CanonicalTrainingPrecision(given).Should().Be(expected);
}
