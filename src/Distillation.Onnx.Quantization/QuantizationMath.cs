namespace Distillation.Onnx.Quantization;

/// <summary>A per-tensor 8-bit quantization: real = (q − ZeroPoint) · Scale.</summary>
internal readonly record struct QuantizationParameters(float Scale, int ZeroPoint);

/// <summary>The arithmetic of ONNX QuantizeLinear: scales, zero points, rounding half to even, saturation.</summary>
internal static class QuantizationMath
{
    /// <summary>The integer range of an activation type.</summary>
    public static (int Min, int Max) RangeOf(ActivationType type) => type == ActivationType.U8 ? (0, 255) : (-128, 127);

    /// <summary>
    /// Per-tensor asymmetric parameters for the real range [<paramref name="min"/>, <paramref name="max"/>],
    /// widened to hold 0 (so zero padding and ReLU's zeros are exact). As ONNX Runtime's quantizer:
    /// scale = (max − min) / (qmax − qmin), zero point = round(qmin − min / scale); a range of width 0 gets scale 1.
    /// </summary>
    public static QuantizationParameters Asymmetric(float min, float max, int qmin, int qmax)
    {
        if (!float.IsFinite(min) || !float.IsFinite(max) || min > max)
        {
            throw new ArgumentException($"A calibration range must be finite and ordered, was [{min}, {max}].", nameof(min));
        }

        var low = Math.Min(min, 0f);
        var high = Math.Max(max, 0f);
        var scale = (high - low) / (qmax - qmin);
        if (!(scale >= float.Epsilon) || !float.IsFinite(scale))
        {
            return new QuantizationParameters(1f, Math.Clamp(0, qmin, qmax));
        }

        var zeroPoint = (int)Math.Round(qmin - (low / scale), MidpointRounding.ToEven);
        return new QuantizationParameters(scale, Math.Clamp(zeroPoint, qmin, qmax));
    }

    /// <summary>
    /// Symmetric int8 weights per channel along <paramref name="axis"/>: scale = max |w| / 127 in the channel
    /// (1 for an all-zero channel), zero point 0, values rounded half to even into [−127, 127].
    /// </summary>
    public static (sbyte[] Values, float[] Scales) QuantizeWeightsPerChannel(float[] weights, long[] shape, int axis)
    {
        var channels = (int)shape[axis];
        long inner = 1;
        for (var i = axis + 1; i < shape.Length; i++)
        {
            inner *= shape[i];
        }

        var scales = new float[channels];
        for (var i = 0; i < weights.Length; i++)
        {
            var channel = (int)(i / inner % channels);
            if (!float.IsFinite(weights[i]))
            {
                throw new InvalidDataException($"A weight is not finite ({weights[i]}) in channel {channel}.");
            }

            scales[channel] = Math.Max(scales[channel], Math.Abs(weights[i]));
        }

        for (var c = 0; c < channels; c++)
        {
            scales[c] = scales[c] > 0 ? scales[c] / 127f : 1f;
        }

        var values = new sbyte[weights.Length];
        for (var i = 0; i < weights.Length; i++)
        {
            var channel = (int)(i / inner % channels);
            values[i] = (sbyte)Math.Clamp(Math.Round(weights[i] / scales[channel], MidpointRounding.ToEven), -127, 127);
        }

        return (values, scales);
    }

    /// <summary>Biases as int32 with scale input_scale · weight_scale[c] and zero point 0, as the integer kernels accumulate.</summary>
    public static (int[] Values, float[] Scales) QuantizeBias(float[] bias, float inputScale, float[] weightScales)
    {
        var values = new int[bias.Length];
        var scales = new float[bias.Length];
        for (var c = 0; c < bias.Length; c++)
        {
            scales[c] = inputScale * weightScales[c];
            var q = Math.Round(bias[c] / (double)scales[c], MidpointRounding.ToEven);
            values[c] = (int)Math.Clamp(q, int.MinValue, int.MaxValue);
        }

        return (values, scales);
    }
}
