namespace Distillation.Tests.TestSupport;

/// <summary>Finds the repository's shared CIFAR-10 copy (../shared/datasets beside the checkout).</summary>
internal static class SharedData
{
    public static string? Cifar10Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Distillation.sln")))
            {
                var root = System.IO.Path.GetFullPath(System.IO.Path.Combine(dir.FullName, "..", "shared", "datasets"));
                return Directory.Exists(System.IO.Path.Combine(root, "cifar-10-batches-bin")) ? root : null;
            }
        }

        return null;
    }

    /// <summary>The shared CIFAR-10 root; the calling test is reported as skipped (not passed) where the copy is absent.</summary>
    public static string Cifar10RootOrSkip()
    {
        var root = Cifar10Root();
        Skip.If(root is null, "The shared CIFAR-10 copy (../shared/datasets/cifar-10-batches-bin) is not beside this checkout.");
        return root!;
    }
}
