using System.Globalization;
using System.Text;

namespace Distillation.Losses;

/// <summary>
/// The weight of one term of a <see cref="DistillationObjective"/> as a function of the epoch: a
/// constant, a linear warm-up over the first epochs, a linear ramp to a final value over the last
/// part of training, or a warm-up and a ramp together. A plain <see cref="double"/> converts to a
/// constant schedule, so terms with and without schedules mix in one objective.
/// </summary>
/// <remarks>
/// For epoch <c>e</c> of <c>E</c> (both from <see cref="DistillationContext"/>), base weight <c>w</c>,
/// warm-up <c>k</c> epochs and a ramp to <c>f</c> over the last fraction <c>r</c> of training:
/// <c>weight(e) = min(e / k, 1) · ramp(e)</c>, where the ramp covers the last <c>n = ⌈r·E⌉</c> epochs,
/// <c>ramp(e) = w</c> before them and <c>w + (f − w)·(e − (E − n)) / n</c> within them, so the last
/// epoch trains with exactly <c>f</c>. The warm-up factor is DKD's (<c>e / k</c>, reaching 1 at epoch k).
/// The weight changes once per epoch, as the learning-rate schedules do, so a resumed run gets the
/// same weights as an uninterrupted one.
/// </remarks>
public sealed class WeightSchedule
{
    private WeightSchedule(double weight, int warmupEpochs, double finalWeight, double rampFraction)
    {
        (Weight, WarmupEpochs, FinalWeight, RampFraction) = (weight, warmupEpochs, finalWeight, rampFraction);
    }

    /// <summary>The weight after the warm-up and before the ramp.</summary>
    public double Weight { get; }

    /// <summary>Epochs of linear warm-up; 0 for none.</summary>
    public int WarmupEpochs { get; }

    /// <summary>The weight of the last epoch when <see cref="RampFraction"/> is above 0; otherwise <see cref="Weight"/>.</summary>
    public double FinalWeight { get; }

    /// <summary>The last fraction of training over which the weight moves linearly to <see cref="FinalWeight"/>; 0 for no ramp.</summary>
    public double RampFraction { get; }

    /// <summary>Whether the weight is the same in every epoch.</summary>
    internal bool IsConstant => WarmupEpochs == 0 && RampFraction == 0;

    /// <summary>A weight that never changes.</summary>
    /// <param name="weight">The weight, from 0 to 1,000,000 and 0 or ≥ 1.2e-38.</param>
    /// <returns>The schedule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The weight is out of its range; the one-line message names it.</exception>
    public static WeightSchedule Constant(double weight) => Create(weight, 0, null, 0);

    /// <summary>
    /// A weight that grows linearly over the first <paramref name="warmupEpochs"/> epochs,
    /// <c>weight · min(epoch / warmupEpochs, 1)</c>, then stays (DKD's warm-up, for any term).
    /// </summary>
    /// <param name="weight">The weight after the warm-up, from 0 to 1,000,000 and 0 or ≥ 1.2e-38.</param>
    /// <param name="warmupEpochs">Epochs of warm-up, ≥ 1.</param>
    /// <returns>The schedule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of its range; the one-line message names it.</exception>
    public static WeightSchedule WarmUp(double weight, int warmupEpochs)
    {
        OptionChecks.IntegerIn(warmupEpochs, nameof(warmupEpochs), 1, int.MaxValue);
        return Create(weight, warmupEpochs, null, 0);
    }

    /// <summary>
    /// A weight that stays at <paramref name="weight"/>, then moves linearly to
    /// <paramref name="finalWeight"/> over the last <paramref name="rampFraction"/> of training,
    /// reaching it in the last epoch (the distillation weight ramped to 0 as the learning rate
    /// anneals, say); with a warm-up first when <paramref name="warmupEpochs"/> is above 0.
    /// </summary>
    /// <param name="weight">The weight before the ramp, from 0 to 1,000,000 and 0 or ≥ 1.2e-38.</param>
    /// <param name="finalWeight">The weight of the last epoch, in the same range.</param>
    /// <param name="rampFraction">The last fraction of training the ramp covers, above 0 and at most 1; it spans ⌈fraction · epochs⌉ epochs.</param>
    /// <param name="warmupEpochs">Epochs of warm-up as <see cref="WarmUp"/>, ≥ 0 (0: none). Where warm-up and ramp overlap their factors multiply.</param>
    /// <returns>The schedule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of its range; the one-line message names it.</exception>
    public static WeightSchedule RampTo(double weight, double finalWeight, double rampFraction, int warmupEpochs = 0)
    {
        OptionChecks.FloatIn(rampFraction, nameof(rampFraction), 0, 1, minExclusive: true);
        return Create(weight, warmupEpochs, finalWeight, rampFraction);
    }

    /// <summary>A constant schedule of <paramref name="weight"/>.</summary>
    /// <param name="weight">The weight, from 0 to 1,000,000 and 0 or ≥ 1.2e-38.</param>
    /// <exception cref="ArgumentOutOfRangeException">The weight is out of its range; the one-line message names it.</exception>
    public static implicit operator WeightSchedule(double weight) => Constant(weight);

    /// <summary>The weight of one epoch.</summary>
    /// <param name="epoch">The epoch, from 1.</param>
    /// <param name="epochs">Epochs in the run, at least <paramref name="epoch"/> when the schedule ramps.</param>
    /// <returns>The weight.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The epoch is below 1 (for a schedule that is not constant), or past <paramref name="epochs"/> for a ramp.</exception>
    public double WeightAt(int epoch, int epochs) => WeightAt(epoch, epochs, "the weight");

    /// <summary><see cref="WeightAt(int, int)"/>, with <paramref name="what"/> naming the weight in errors (<c>the weight of kd</c>).</summary>
    internal double WeightAt(int epoch, int epochs, string what)
    {
        if (IsConstant)
        {
            return Weight;
        }

        if (epoch < 1)
        {
            throw OptionChecks.OutOfRange(nameof(epoch), epoch, $"≥ 1 for {what}, {this}");
        }

        var weight = Weight;
        if (RampFraction > 0)
        {
            if (epoch > epochs)
            {
                throw OptionChecks.OutOfRange(nameof(epoch), epoch,
                    $"at most the run's {epochs} epochs for {what}, {this}, which ramps over the end of training (set DistillationContext.Epochs)");
            }

            var rampEpochs = RampEpochs(epochs);
            var rampStart = epochs - rampEpochs;
            if (epoch > rampStart)
            {
                // Interpolated so the last epoch gets exactly the final weight.
                var progress = (double)(epoch - rampStart) / rampEpochs;
                weight = (Weight * (1 - progress)) + (FinalWeight * progress);
            }
        }

        return WarmupEpochs == 0 ? weight : weight * WarmupFactor(epoch, WarmupEpochs);
    }

    /// <summary>The epochs a ramp over <see cref="RampFraction"/> of <paramref name="epochs"/> spans: ⌈r·E⌉, at least 1.</summary>
    /// <remarks>Rounded to 9 digits first, so 0.14 · 50 = 7.000000000000001 spans 7 epochs, not 8.</remarks>
    internal int RampEpochs(int epochs) => Math.Max(1, (int)Math.Ceiling(Math.Round(RampFraction * epochs, 9)));

    /// <summary>DKD's warm-up factor, <c>min(epoch / warm-up, 1)</c>, shared so both compute the same double.</summary>
    internal static double WarmupFactor(int epoch, int warmupEpochs) => Math.Min((double)epoch / warmupEpochs, 1.0);

    /// <summary>The weight as it appears in an objective's formula: <c>1</c>, <c>1(warm-up 20 epochs)</c>, <c>1(to 0 over the last 0.25)</c>.</summary>
    /// <returns>The text.</returns>
    public override string ToString()
    {
        // Formatted as DistillationObjective always printed its weights, so constant formulas keep their text.
        var text = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"{Weight}"));
        if (IsConstant)
        {
            return text.ToString();
        }

        text.Append('(');
        if (WarmupEpochs > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"warm-up {WarmupEpochs} epochs");
        }

        if (RampFraction > 0)
        {
            text.Append(WarmupEpochs > 0 ? ", " : string.Empty)
                .Append(CultureInfo.InvariantCulture, $"to {FinalWeight} over the last {RampFraction}");
        }

        return text.Append(')').ToString();
    }

    private static WeightSchedule Create(double weight, int warmupEpochs, double? finalWeight, double rampFraction)
    {
        LogitChecks.RequireWeight(weight, nameof(weight));
        OptionChecks.IntegerIn(warmupEpochs, nameof(warmupEpochs), 0, int.MaxValue);
        if (finalWeight is { } final)
        {
            LogitChecks.RequireWeight(final, nameof(finalWeight));
        }

        return new WeightSchedule(weight, warmupEpochs, finalWeight ?? weight, rampFraction);
    }
}
