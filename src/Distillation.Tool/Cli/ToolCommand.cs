using System.CommandLine;
using Distillation.Data;
using Distillation.Devices;
using Distillation.Training;
using Microsoft.Extensions.Logging;

namespace Distillation.Tool.Cli;

/// <summary>What every command gets: where to print, the original arguments (for the resume hint) and the library's log.</summary>
internal sealed class ToolContext(Terminal terminal, IReadOnlyList<string> arguments, ILoggerFactory loggerFactory)
{
    /// <summary>Standard output and error, with Spectre.Console where they are terminals.</summary>
    public Terminal Terminal { get; } = terminal;

    /// <summary>A context printing to plain writers (never terminals), as the tests build it.</summary>
    public ToolContext(TextWriter output, TextWriter error, IReadOnlyList<string> arguments, ILoggerFactory loggerFactory)
        : this(Terminal.Plain(output, error), arguments, loggerFactory)
    {
    }

    public TextWriter Out => Terminal.Out.Writer;

    public TextWriter Error => Terminal.Error.Writer;

    public IReadOnlyList<string> Arguments { get; } = arguments;

    /// <summary>The library's log: warnings, or with --verbose information too (set once the command line is parsed).</summary>
    public ILoggerFactory LoggerFactory { get; set; } = loggerFactory;
}

/// <summary>
/// A <c>distill</c> command: its options (each with a run-file key), a <c>--config</c> option, an
/// example in its help, and the mapping of failures to exit codes with one-line errors.
/// </summary>
internal abstract class ToolCommand(string name, string description, string example)
{
    public string Name { get; } = name;

    /// <summary>Every option, in the order of the help and of the effective config.</summary>
    public abstract IReadOnlyList<ToolOption> Options { get; }

    /// <summary>Runs the command with resolved settings; returns the exit code.</summary>
    /// <exception cref="UsageException">A value cannot work (exit code 2).</exception>
    protected abstract int Execute(RunSettings settings, ToolContext context, CancellationToken cancellationToken);

    /// <summary>Whether an interrupted run continues with --resume (the training commands).</summary>
    protected virtual bool Resumable => false;

    /// <summary>Runs the command when it also reads the parse (its arguments); by default the settings are enough.</summary>
    protected virtual int Execute(RunSettings settings, ParseResult parse, ToolContext context, CancellationToken cancellationToken) => Execute(settings, context, cancellationToken);

    /// <summary>Adds what the command has besides its options (arguments).</summary>
    protected virtual void Configure(Command command)
    {
    }

    public Command Build(ToolContext context)
    {
        var command = new Command(Name, $"{description}\n\nExample:\n  {example}");
        var config = new Option<string?>("--config")
        {
            Description = "A YAML run file of option keys (the flags without dashes) and values; flags given here override it. Each run writes its effective config.yaml beside its outputs.",
        };
        foreach (var option in Options)
        {
            command.Options.Add(option.Option);
        }

        command.Options.Add(config);
        Configure(command);
        command.SetAction((parse, cancellationToken) => Task.FromResult(Invoke(() => Execute(RunSettings.Resolve(parse, Options, parse.GetValue(config)), parse, context, cancellationToken), context, cancellationToken, Resumable)));
        return command;
    }

    /// <summary>Runs <paramref name="run"/>, turning each kind of failure into its exit code and one line on standard error.</summary>
    internal static int Invoke(Func<int> run, ToolContext context, CancellationToken cancellationToken, bool resumable = false)
    {
        try
        {
            // Before the first convolution: keeps libtorch's "Could not initialize NNPACK" warnings off the console.
            LibTorchNnpack.TryDisable();
            return run();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            context.Terminal.Error.Line("Interrupted.");
            if (resumable)
            {
                context.Terminal.Error.Line($"Continue with: {Runs.TrainingRun.ResumeCommand(context.Arguments)}");
            }

            return ExitCodes.Interrupted;
        }
        catch (UsageException e)
        {
            context.Terminal.PrintError(e.Message, " (see --help)");
            return ExitCodes.Usage;
        }
        catch (Exception e) when (e is DllNotFoundException or DatasetNotFoundException or DatasetFormatException or MemoryBudgetExceededException
            or DeviceNotAvailableException or IOException or InvalidDataException or FormatException or ArgumentException or InvalidOperationException
            or NotSupportedException or TrainingDivergedException or UnauthorizedAccessException or CheckpointMismatchException)
        {
            context.Terminal.PrintError(e.Message);
            return ExitCodes.Failed;
        }
    }
}
