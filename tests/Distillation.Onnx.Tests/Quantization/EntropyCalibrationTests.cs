using Distillation.Onnx.Quantization;

namespace Distillation.Onnx.Tests.Quantization;

public sealed class EntropyCalibrationTests
{
    [Fact]
    public void A_four_bin_histogram_gives_the_hand_computed_divergences_and_keeps_three_bins()
    {
        // Histogram [4, 2, 1, 1], zero at its start, 2 steps; no empty bins, so no smoothing.
        // Width 2: P = [4, 2+1+1] = [4, 4], Q = [4, 2]          → ½ ln(½ / ⅔) + ½ ln(½ / ⅓) = ½ ln(9/8).
        // Width 3: P = [4, 2, 1+1], Q = [4, (2+1)/2, (2+1)/2]  → ½ ln(½ / (4/7)) + 2 · ¼ ln(¼ / (1.5/7)) = ½ ln(49/48).
        // Width 4: P = [4, 2, 1, 1], Q = [3, 3, 1, 1]           → ½ ln(½ / ⅜) + ¼ ln(¼ / ⅜) = ½ ln(4/3) + ¼ ln(2/3).
        var window = EntropyCalibration.Choose([4, 2, 1, 1], zeroPosition: 0, quantizedBins: 2);

        window.Divergences.Should().HaveCount(3);
        window.Divergences[0].Should().BeApproximately(0.5 * Math.Log(9.0 / 8), 1e-12);
        window.Divergences[1].Should().BeApproximately(0.5 * Math.Log(49.0 / 48), 1e-12);
        window.Divergences[2].Should().BeApproximately((0.5 * Math.Log(4.0 / 3)) + (0.25 * Math.Log(2.0 / 3)), 1e-12);
        window.Should().BeEquivalentTo(new { Start = 0, End = 3 });
    }

    [Fact]
    public void Empty_bins_and_zero_inside_the_range_give_the_numpy_reference_values()
    {
        // eng/make-entropy-fixture.py, case zero_inside_with_empty_bins (eng/entropy-fixture.txt).
        double[] expected =
        [
            0.02397973414109758, 0.01229447517345348, 0.036284747355580106, 0.326211920879332, 0.5390985919565808,
            0.07023118338229015, 0.14297696144179603, 0.14297710768304697, 0.059562955583004826,
        ];

        var window = EntropyCalibration.Choose([1, 0, 3, 9, 14, 6, 2, 0, 0, 1, 0, 1], zeroPosition: 3, quantizedBins: 4);

        window.Divergences.Should().Equal(expected, (a, b) => Math.Abs(a - b) < 1e-12);
        window.Should().BeEquivalentTo(new { Start = 2, End = 7 }, "the window of width 5 keeps zero at 1/4 of its width, as bin 3 of 12 is");
    }

    [Fact]
    public void A_long_tail_is_clipped_where_the_numpy_reference_clips_it()
    {
        // eng/make-entropy-fixture.py, case long_tail.
        var window = EntropyCalibration.Choose([40, 25, 14, 8, 5, 3, 2, 1, 1, 0, 0, 0, 0, 0, 0, 1], zeroPosition: 0, quantizedBins: 4);

        window.Divergences[2].Should().BeApproximately(0.031040998413958545, 1e-12, "6 bins in 4 groups of 1, 2, 1, 2");
        window.Divergences[^1].Should().BeApproximately(0.15284802835238004, 1e-12);
        window.Should().BeEquivalentTo(new { Start = 0, End = 5 });
    }

    /// <summary>10,000 values decaying exponentially from 0 (a ReLU's positive outputs) and one outlier at 50.</summary>
    private static float[] LongTail() => [.. Enumerable.Range(0, 10_000).Select(i => (float)-Math.Log(1 - (i / 10_000.0))), 50f];

    private static (float Min, float Max) EntropyRange(float[] values, int bins)
    {
        var range = new TensorRange("relu");
        range.AddToRange(values);
        range.AddToHistogram(values, bins, holdZero: true);
        return range.Calibrated(CalibrationMethod.Entropy, 99.999);
    }

    [Fact]
    public void The_tensor_range_clips_a_long_tail_that_min_max_keeps_and_holds_zero()
    {
        var (min, max) = EntropyRange(LongTail(), 2048);

        min.Should().Be(0f);
        max.Should().BeInRange(3f, 20f, "the entropy range drops the outlier at 50 and keeps the bulk (95 % of the values lie below 3)");
    }

    [Fact]
    public void Exact_zeros_do_not_move_the_entropy_range()
    {
        // A ReLU's output is zero about half the time; zero is exact in every range, so the spike must not
        // count (merged into its neighbours it would favour a narrow range).
        var withZeros = LongTail().Concat(Enumerable.Repeat(0f, 30_000)).ToArray();

        EntropyRange(withZeros, 4096).Should().Be(EntropyRange(LongTail(), 4096));
    }

    [Fact]
    public void The_histogram_of_a_positive_tensor_starts_at_zero_for_entropy()
    {
        // Values in [2, 3]: the window grows from zero, so its lower edge is clipped back to the minimum 2.
        var values = Enumerable.Range(0, 1000).Select(i => 2f + (i / 999f)).ToArray();
        var range = new TensorRange("t");
        range.AddToRange(values);
        range.AddToHistogram(values, 1024, holdZero: true);

        var (min, max) = range.Calibrated(CalibrationMethod.Entropy, 99.999);

        min.Should().Be(2f);
        max.Should().BeApproximately(3f, 3f / 1024, "a uniform block has nothing worth clipping");
    }

    [Fact]
    public void Too_few_bins_for_the_steps_are_refused()
    {
        var act = () => EntropyCalibration.Choose([1, 2, 3], zeroPosition: 0, quantizedBins: 4);

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*between 1 and 3 quantized bins*");
    }
}
