using System.Text.Json;
using Distillation.IO;
using Distillation.Serialization;
using static TorchSharp.torch;

namespace Distillation.Tests.Reliability;

/// <summary>
/// The test assembly's entry point (the test runner does not use it). With <c>atomic-writer
/// &lt;folder&gt;</c> it writes, over and over, a results file with <see cref="AtomicFile"/> and a
/// weights file with <see cref="ModuleWeights.SaveWeights"/>, each of one generation throughout, so
/// that <see cref="InterruptionTests"/> can kill it at any moment and check what is left.
/// </summary>
public static class AtomicWriterProcess
{
    /// <summary>The results file's name.</summary>
    public const string ResultsFile = "results.json";

    /// <summary>The weights file's name.</summary>
    public const string WeightsFile = "model.weights";

    /// <summary>Characters in each results file's payload: large enough that a kill often lands mid-write.</summary>
    public const int PayloadLength = 2_000_000;

    /// <summary>The module written: 1,048,576 + 1,024 float32 values (about 4 MB).</summary>
    public static nn.Module<Tensor, Tensor> NewModule() => nn.Linear(1024, 1024);

    /// <summary>Runs the writer loop for <c>atomic-writer &lt;folder&gt;</c>; does nothing otherwise.</summary>
    /// <param name="args">The command line.</param>
    /// <returns>The exit code.</returns>
    public static int Main(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args is not ["atomic-writer", var folder])
        {
            return 0;
        }

        using var module = NewModule();
        for (var generation = 1; ; generation++)
        {
            AtomicFile.WriteAllText(Path.Combine(folder, ResultsFile), JsonSerializer.Serialize(new Results(generation, new string((char)('a' + (generation % 26)), PayloadLength), true)));
            using (no_grad())
            {
                foreach (var parameter in module.parameters())
                {
                    parameter.fill_(generation);
                }
            }

            module.SaveWeights(Path.Combine(folder, WeightsFile));
            if (generation == 1)
            {
                Console.WriteLine("ready");
            }
        }
    }

    /// <summary>One generation of the results file.</summary>
    /// <param name="Generation">The write's number, from 1.</param>
    /// <param name="Payload">One letter, repeated.</param>
    /// <param name="Complete">Always true: the last field, so a cut file lacks it.</param>
    public sealed record Results(int Generation, string Payload, bool Complete);
}
