namespace Distillation.Cifar10;

/// <summary>A command-line value that cannot work, found before training (exit code 2).</summary>
internal sealed class UsageException(string message) : Exception(message);
