using System.Globalization;

namespace Distillation;

/// <summary>
/// An option outside what the code can represent or run. Its message is one line naming the option
/// and the value (the base class would append a second line, "Actual value was …").
/// </summary>
internal sealed class OptionOutOfRangeException : ArgumentOutOfRangeException
{
    private readonly string line;

    public OptionOutOfRangeException(string option, object? value, string rule)
        : base(option, value, rule)
    {
        line = $"{option} must be {rule}, was {OptionChecks.Format(value)}.";
    }

    public override string Message => line;
}

/// <summary>
/// Range checks shared by the options classes and the losses. Every number that ends up in a float32
/// tensor (learning rates, decays, weights, temperatures) must be finite, within float32's range,
/// and either 0 or at least float32's smallest normal number: a subnormal double rounds to 0 or
/// loses its precision on the way into the tensor, so it would silently mean something else.
/// </summary>
internal static class OptionChecks
{
    /// <summary>float32's largest finite value, as a double.</summary>
    public const double FloatMax = float.MaxValue;

    /// <summary>float32's smallest positive normal value, 2⁻¹²⁶.</summary>
    public const double FloatMinNormal = 1.1754943508222875E-38;

    /// <summary>Requires <paramref name="value"/> finite, within [min, max] (or (min, max] when <paramref name="minExclusive"/>), and representable in float32 without rounding to 0.</summary>
    public static void FloatIn(double value, string option, double min, double max, bool minExclusive = false)
    {
        var aboveMin = minExclusive ? value > min : value >= min;
        if (!double.IsFinite(value) || !aboveMin || value > max)
        {
            throw new OptionOutOfRangeException(option, value,
                $"a finite number {(minExclusive ? ">" : "≥")} {Format(min)} and ≤ {Format(max)}");
        }

        if (value != 0 && Math.Abs(value) < FloatMinNormal)
        {
            throw new OptionOutOfRangeException(option, value,
                $"0 or at least {Format(FloatMinNormal)} (float32's smallest normal number; a smaller value rounds away in a float tensor)");
        }
    }

    /// <summary>Requires <paramref name="value"/> finite and within [min, max) (a fraction: <c>max</c> excluded).</summary>
    public static void FractionIn(double value, string option, double min, double max, bool minExclusive = false)
    {
        var aboveMin = minExclusive ? value > min : value >= min;
        if (!double.IsFinite(value) || !aboveMin || !(value < max))
        {
            throw new OptionOutOfRangeException(option, value, $"a number in {(minExclusive ? "(" : "[")}{Format(min)}, {Format(max)})");
        }
    }

    /// <summary>Requires <paramref name="value"/> within [min, max].</summary>
    public static void IntegerIn(long value, string option, long min, long max, string? why = null)
    {
        if (value < min || value > max)
        {
            var rule = max == int.MaxValue || max == long.MaxValue
                ? $"≥ {Format(min)}"
                : $"from {Format(min)} to {Format(max)}";
            throw new OptionOutOfRangeException(option, value, why is null ? rule : $"{rule} ({why})");
        }
    }

    /// <summary>An option that breaks a rule other than a plain range.</summary>
    public static OptionOutOfRangeException OutOfRange(string option, object? value, string rule) => new(option, value, rule);

    internal static string Format(object? value) => value switch
    {
        null => "null",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "null",
    };
}
