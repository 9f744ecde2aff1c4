using Distillation.Onnx.Quantization;

namespace Distillation.Onnx.Tests.Quantization;

/// <summary>The calibration arithmetic against scales and zero points worked out by hand.</summary>
public sealed class QuantizationMathTests
{
    [Fact]
    public void Uint8_range_minus_1_to_3_gets_scale_4_over_255_and_zero_point_64()
    {
        // scale = (3 − (−1)) / 255; zero point = round(0 − (−1) / scale) = round(63.75) = 64.
        var p = QuantizationMath.Asymmetric(-1f, 3f, 0, 255);

        p.Scale.Should().BeApproximately(4f / 255f, 1e-9f);
        p.ZeroPoint.Should().Be(64);
    }

    [Fact]
    public void Int8_range_minus_1_to_3_gets_zero_point_minus_64()
    {
        // round(−128 + 63.75) = round(−64.25) = −64.
        var p = QuantizationMath.Asymmetric(-1f, 3f, -128, 127);

        p.Scale.Should().BeApproximately(4f / 255f, 1e-9f);
        p.ZeroPoint.Should().Be(-64);
    }

    [Fact]
    public void A_positive_range_is_widened_to_hold_zero_so_a_relu_output_gets_the_minimum_zero_point()
    {
        var unsigned = QuantizationMath.Asymmetric(0.5f, 2f, 0, 255);
        var signed = QuantizationMath.Asymmetric(0.5f, 2f, -128, 127);

        unsigned.Scale.Should().BeApproximately(2f / 255f, 1e-9f);
        unsigned.ZeroPoint.Should().Be(0);
        signed.ZeroPoint.Should().Be(-128);
    }

    [Fact]
    public void A_negative_range_puts_the_zero_point_at_the_top()
    {
        var p = QuantizationMath.Asymmetric(-5.1f, -1f, 0, 255);

        p.Scale.Should().BeApproximately(5.1f / 255f, 1e-7f);
        p.ZeroPoint.Should().Be(255);
    }

    [Fact]
    public void A_constant_zero_tensor_gets_scale_1()
    {
        QuantizationMath.Asymmetric(0f, 0f, 0, 255).Should().Be(new QuantizationParameters(1f, 0));
    }

    [Fact]
    public void A_non_finite_range_is_refused()
    {
        var act = () => QuantizationMath.Asymmetric(float.NegativeInfinity, 1f, 0, 255);

        act.Should().Throw<ArgumentException>().WithMessage("*finite*");
    }

    [Fact]
    public void Weights_are_symmetric_int8_per_output_channel_along_axis_0()
    {
        // Channel 0: max |w| = 1.27 → scale 0.01; channel 1: max |w| = 0.02 → scale 0.02 / 127.
        float[] weights = [0.5f, -1.27f, 0.02f, -0.005f];

        var (values, scales) = QuantizationMath.QuantizeWeightsPerChannel(weights, [2, 1, 1, 2], axis: 0);

        scales[0].Should().BeApproximately(0.01f, 1e-7f);
        scales[1].Should().BeApproximately(0.02f / 127f, 1e-9f);
        values.Should().Equal(50, -127, 127, -32); // −0.005 / (0.02 / 127) = −31.75 → −32
    }

    [Fact]
    public void Weights_of_a_gemm_without_transB_are_quantized_per_column()
    {
        // B is [K = 2, N = 3]: the output channels are the columns (axis 1).
        float[] weights = [0.3f, 0.5f, -4f, -2f, 0.2f, 1f];

        var (values, scales) = QuantizationMath.QuantizeWeightsPerChannel(weights, [2, 3], axis: 1);

        scales.Should().Equal(2f / 127f, 0.5f / 127f, 4f / 127f);
        values.Should().Equal(19, 127, -127, -127, 51, 32); // 0.3 / (2 / 127) = 19.05, 0.2 / (0.5 / 127) = 50.8, 1 / (4 / 127) = 31.75
    }

    [Fact]
    public void An_all_zero_channel_gets_scale_1_and_zeros()
    {
        var (values, scales) = QuantizationMath.QuantizeWeightsPerChannel([0f, 0f, 1f, -1f], [2, 2], axis: 0);

        scales.Should().Equal(1f, 1f / 127f);
        values.Should().Equal(0, 0, 127, -127);
    }

    [Fact]
    public void Bias_is_int32_at_the_input_scale_times_the_weight_scale()
    {
        // 0.3 / (0.1 · 0.01) = 300; −0.0135 / (0.1 · 0.05) = −2.7 → −3.
        var (values, scales) = QuantizationMath.QuantizeBias([0.3f, -0.0135f], 0.1f, [0.01f, 0.05f]);

        scales[0].Should().BeApproximately(0.001f, 1e-9f);
        scales[1].Should().BeApproximately(0.005f, 1e-9f);
        values.Should().Equal(300, -3);
    }
}
