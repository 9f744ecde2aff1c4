using System.Runtime.InteropServices;
using Distillation.Tool;

// Ctrl-C and SIGTERM cancel the token: training stops between batches (the last epoch's checkpoint
// stays) and the command says how to continue; a second signal ends the process at once.
using var cancellation = new CancellationTokenSource();
var signalled = 0;
PosixSignal? firstSignal = null;
void OnSignal(PosixSignalContext context)
{
    if (Interlocked.Increment(ref signalled) == 1)
    {
        firstSignal = context.Signal;
        context.Cancel = true;
        Console.Error.WriteLine("\nStopping after the current batch (press Ctrl-C again to quit at once).");
        cancellation.Cancel();
    }
}

using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
var exitCode = await ToolApp.RunAsync(args, Distillation.ConsoleOutput.Terminal.ForProcess(), cancellation.Token);

// As a shell reports a process ended by the signal: 130 for Ctrl-C (SIGINT), 143 for SIGTERM.
return exitCode == Distillation.Tool.Cli.ExitCodes.Interrupted && firstSignal == PosixSignal.SIGTERM ? 128 + 15 : exitCode;
