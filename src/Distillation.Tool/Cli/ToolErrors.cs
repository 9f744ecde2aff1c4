namespace Distillation.Tool.Cli;

/// <summary>The exit codes of <c>distill</c>.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The run started and failed (a library error, a file that cannot be read or written).</summary>
    public const int Failed = 1;

    /// <summary>A value on the command line or in the run file cannot work; nothing was run.</summary>
    public const int Usage = 2;

    /// <summary>Stopped by Ctrl-C.</summary>
    public const int Interrupted = 130;
}

/// <summary>A command-line or run-file value that cannot work, found before any work (exit code 2).</summary>
internal sealed class UsageException(string message) : Exception(message);
