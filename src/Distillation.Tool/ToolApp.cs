using System.CommandLine;
using Distillation.Tool.Cli;
using Distillation.Tool.Commands;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Distillation.Tool;

/// <summary>The <c>distill</c> command line: parses, runs one command, returns its exit code. Tests call it in-process.</summary>
internal static class ToolApp
{
    /// <summary>--verbose, on every command: the library's log at information level.</summary>
    private static readonly Option<bool> Verbose = new("--verbose") { Description = "Also print the library's log (information level; warnings are always printed).", Recursive = true };

    /// <summary>Runs with <paramref name="output"/> and <paramref name="error"/> as plain streams (the tests' form: never a terminal).</summary>
    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default) =>
        RunAsync(args, Terminal.Plain(output, error), cancellationToken);

    public static async Task<int> RunAsync(string[] args, Terminal terminal, CancellationToken cancellationToken = default)
    {
        var (output, error) = (terminal.Out.Writer, terminal.Error.Writer);
        var context = new ToolContext(terminal, args, NullLoggerFactory.Instance);
        var root = BuildRoot(context);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            terminal.PrintError(parse.Errors[0].Message, " (see --help)");
            return ExitCodes.Usage;
        }

        var verbose = parse.GetValue(Verbose);
        using var loggerFactory = LoggerFactory.Create(builder => builder
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
            .SetMinimumLevel(verbose ? LogLevel.Information : LogLevel.Warning));
        context.LoggerFactory = loggerFactory;
        var invocation = new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false };
        return await parse.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
    }

    public static RootCommand BuildRoot(ToolContext context)
    {
        var root = new RootCommand(
            "distill: knowledge distillation on your images or CIFAR-10 with the Distillation libraries. " +
            "Train a teacher, distil a student from it (weights, ONNX or logits), evaluate, export to ONNX, and compute a teacher's logits in shards. " +
            "Every command takes --config run.yaml.");
        root.Options.Add(Verbose);
        foreach (var command in Commands())
        {
            root.Subcommands.Add(command.Build(context));
        }

        var logits = root.Subcommands.Single(c => c.Name == LogitsCommand.CommandName);
        logits.Subcommands.Add(new LogitsMergeCommand().Build(context));
        return root;
    }

    /// <summary>Every top-level command, for the root and for the tests that walk their options.</summary>
    public static IReadOnlyList<ToolCommand> Commands() => [new TeacherCommand(), new StudentCommand(), new EvalCommand(), new ExportCommand(), new LogitsCommand()];
}
