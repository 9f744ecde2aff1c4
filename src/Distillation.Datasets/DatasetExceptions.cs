namespace Distillation.Data;

/// <summary>A dataset folder or file is missing. The message names the expected path and how to get the data.</summary>
public sealed class DatasetNotFoundException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="expectedPath">The path that was looked for.</param>
    /// <param name="message">What is missing and how to get it.</param>
    public DatasetNotFoundException(string expectedPath, string message)
        : base(message)
    {
        ExpectedPath = expectedPath;
    }

    /// <summary>The path that was looked for.</summary>
    public string ExpectedPath { get; }
}

/// <summary>A dataset file is malformed: wrong size, truncated, or holding an invalid value. Nothing was loaded.</summary>
public sealed class DatasetFormatException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="filePath">The offending file.</param>
    /// <param name="recordIndex">The zero-based record at fault, where one is.</param>
    /// <param name="message">What is wrong, naming the file and the record.</param>
    public DatasetFormatException(string filePath, long? recordIndex, string message)
        : base(message)
    {
        FilePath = filePath;
        RecordIndex = recordIndex;
    }

    /// <summary>The offending file.</summary>
    public string FilePath { get; }

    /// <summary>The zero-based record at fault, or null where the fault is not in one record.</summary>
    public long? RecordIndex { get; }
}

/// <summary>A dataset would take more memory than its budget allows. Nothing was loaded; the message gives the size and the ways out.</summary>
public sealed class MemoryBudgetExceededException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="requiredBytes">The bytes the dataset would take.</param>
    /// <param name="budgetBytes">The budget.</param>
    /// <param name="message">The size, the budget and the ways out.</param>
    public MemoryBudgetExceededException(long requiredBytes, long budgetBytes, string message)
        : base(message)
    {
        RequiredBytes = requiredBytes;
        BudgetBytes = budgetBytes;
    }

    /// <summary>The bytes the dataset would take.</summary>
    public long RequiredBytes { get; }

    /// <summary>The budget it was over.</summary>
    public long BudgetBytes { get; }
}
