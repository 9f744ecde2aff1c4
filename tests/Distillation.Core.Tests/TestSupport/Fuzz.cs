using CsCheck;

namespace Distillation.Tests.TestSupport;

/// <summary>
/// Runs a check over CsCheck-generated values from a fixed seed, so every CI run sees the same
/// inputs (CsCheck's <c>Sample</c> seeds only its first iteration). A failure names the iteration
/// and the PCG state that generated the value: pass it as <c>seed:</c> to <c>Check.Sample</c> to
/// replay the case and let CsCheck shrink it.
/// </summary>
internal static class Fuzz
{
    public static void ForAll<T>(Gen<T> gen, ulong seed, int iterations, Action<T> check)
    {
        var master = new PCG(1, seed);
        for (var i = 0; i < iterations; i++)
        {
            var pcg = new PCG(master.Stream, master.Next64());
            var state = pcg.ToString();
            var value = gen.Generate(pcg, null!, out _);
            try
            {
                check(value);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException(
                    $"Iteration {i} of {iterations} (fixed seed {seed}, CsCheck PCG state \"{state}\") failed: {e.GetType().Name}: {e.Message}", e);
            }
        }
    }
}
