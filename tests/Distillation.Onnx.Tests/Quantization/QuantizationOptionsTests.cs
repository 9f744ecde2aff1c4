using Distillation.Onnx.Quantization;

namespace Distillation.Onnx.Tests.Quantization;

public sealed class QuantizationOptionsTests
{
    [Fact]
    public void The_defaults_are_valid() => new QuantizationOptions().Invoking(o => o.Validate()).Should().NotThrow();

    public static TheoryData<string, Action<QuantizationOptions>> Invalid => new()
    {
        { "Percentile", o => o.Percentile = 50 },
        { "Percentile", o => o.Percentile = 100.5 },
        { "Percentile", o => o.Percentile = double.NaN },
        { "HistogramBins", o => o.HistogramBins = 10 },
        { "HistogramBins", o => (o.Method, o.HistogramBins) = (CalibrationMethod.Entropy, 511) },
        { "CalibrationImages", o => o.CalibrationImages = 0 },
        { "CalibrationBatchSize", o => o.CalibrationBatchSize = -1 },
        { "Threads", o => o.Threads = -1 },
        { "MinConvInputChannels", o => o.MinConvInputChannels = -1 },
        { "Method", o => o.Method = (CalibrationMethod)7 },
        { "Activations", o => o.Activations = (ActivationType)7 },
        { "ExcludedNodes", o => o.ExcludedNodes.Add(" ") },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void An_invalid_setting_is_named_in_a_one_line_error(string setting, Action<QuantizationOptions> spoil)
    {
        var options = new QuantizationOptions();
        spoil(options);

        var error = options.Invoking(o => o.Validate()).Should().Throw<ArgumentOutOfRangeException>().Which;

        error.Message.Should().Contain("QuantizationOptions." + setting);
        error.Message.Split('\n')[0].Should().Contain(setting);
    }
}
