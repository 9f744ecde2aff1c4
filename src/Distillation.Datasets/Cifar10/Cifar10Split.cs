namespace Distillation.Data;

/// <summary>Which part of CIFAR-10 to load.</summary>
public enum Cifar10Split
{
    /// <summary>The 50,000 training images (<c>data_batch_1.bin</c> … <c>data_batch_5.bin</c>).</summary>
    Train,

    /// <summary>The 10,000 test images (<c>test_batch.bin</c>).</summary>
    Test,
}
