namespace Distillation.Tests.TestSupport;

/// <summary>
/// Finds the repository's shared CIFAR-10 copy (../shared/datasets beside the checkout), for the few
/// tests that assert something of the real images; every other test writes its own files
/// (<see cref="CifarFiles"/>). <c>DISTILLATION_HIDE_SHARED_DATA=1</c> hides the copy, to run the tests
/// as on a machine without it.
/// </summary>
internal static class SharedData
{
    /// <summary>The environment variable that hides the shared copy when set to 1.</summary>
    public const string HideVariable = "DISTILLATION_HIDE_SHARED_DATA";

    public static string? Cifar10Root()
    {
        if (Environment.GetEnvironmentVariable(HideVariable) == "1")
        {
            return null;
        }

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

    /// <summary>
    /// The shared CIFAR-10 root; the calling test is reported as skipped (not passed) where the copy is
    /// absent, with <paramref name="whyRealImages"/>: why synthetic files would not do.
    /// </summary>
    public static string Cifar10RootOrSkip(string whyRealImages)
    {
        var root = Cifar10Root();
        Skip.If(root is null, $"Needs the real CIFAR-10 images (../shared/datasets/cifar-10-batches-bin, absent here): {whyRealImages}");
        return root!;
    }
}
