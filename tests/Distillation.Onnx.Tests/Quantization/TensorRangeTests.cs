using Distillation.Onnx.Quantization;

namespace Distillation.Onnx.Tests.Quantization;

public sealed class TensorRangeTests
{
    [Fact]
    public void Min_max_spans_every_batch()
    {
        var range = new TensorRange("t");
        range.AddToRange([0.5f, 2f]);
        range.AddToRange([-3f, 1f]);

        range.Calibrated(CalibrationMethod.MinMax, 99.9).Should().Be((-3f, 2f));
    }

    [Fact]
    public void The_percentile_clips_a_rare_outlier_that_min_max_keeps()
    {
        // 999 values spread evenly over [0, 1) and one outlier at 100: the 99.9th percentile is 1.
        var values = Enumerable.Range(0, 999).Select(i => i / 999f).Append(100f).ToArray();
        var range = new TensorRange("t");
        range.AddToRange(values);
        range.AddToHistogram(values, 4096);

        var (min, max) = range.Calibrated(CalibrationMethod.Percentile, 99.9);

        range.Calibrated(CalibrationMethod.MinMax, 99.9).Max.Should().Be(100f);
        min.Should().Be(0f);
        max.Should().BeInRange(0.99f, 1f + (100f / 4096f), "the upper edge of the bin holding the 999th value");
    }

    [Fact]
    public void The_lower_percentile_clips_a_negative_outlier()
    {
        var values = Enumerable.Range(0, 999).Select(i => i / 999f).Prepend(-50f).ToArray();
        var range = new TensorRange("t");
        range.AddToRange(values);
        range.AddToHistogram(values, 4096);

        var (min, max) = range.Calibrated(CalibrationMethod.Percentile, 99.9);

        min.Should().BeInRange(-51f / 4096f, 0f);
        max.Should().BeApproximately(998f / 999f, 51f / 4096f);
    }

    [Fact]
    public void A_non_finite_activation_is_named()
    {
        var range = new TensorRange("features.0/Conv");

        var act = () => range.AddToRange([1f, float.NaN]);

        act.Should().Throw<InvalidDataException>().WithMessage("*'features.0/Conv'*non-finite*");
    }
}
