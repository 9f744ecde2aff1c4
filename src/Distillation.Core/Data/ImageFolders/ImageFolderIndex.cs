using static TorchSharp.torch;

namespace Distillation.Data;

/// <summary>The files and labels of an image folder, in reading order; what the resident and the streamed loaders share.</summary>
internal sealed class ImageFolderIndex
{
    private ImageFolderIndex(string root, IReadOnlyList<string> classNames, string[] files, long[] labels)
    {
        Root = root;
        ClassNames = classNames;
        Files = files;
        Labels = labels;
    }

    public string Root { get; }

    public IReadOnlyList<string> ClassNames { get; }

    public string[] Files { get; }

    public long[] Labels { get; }

    public int Count => Files.Length;

    /// <summary>Lists <c>root/&lt;class&gt;/…/&lt;image&gt;</c>.</summary>
    /// <param name="root">The folder.</param>
    /// <param name="order">The order of the images.</param>
    /// <param name="knownClasses">
    /// The classes to label with (a test folder takes its training folder's); the folder may lack
    /// some but not add one. Null takes the folder's own classes, each of which must hold an image.
    /// </param>
    public static ImageFolderIndex Scan(string root, ImageFolderOrder order, IReadOnlyList<string>? knownClasses = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        var full = Path.GetFullPath(root);
        if (!Directory.Exists(full))
        {
            throw new DatasetNotFoundException(full, $"Image folder {full} does not exist; expected {full}/<class>/<image> (jpg, jpeg, png, bmp or webp).");
        }

        var classFolders = Directory.GetDirectories(full)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(name => !name.StartsWith('.'))
            .Order(StringComparer.Ordinal)
            .ToArray();
        if (classFolders.Length == 0)
        {
            throw new DatasetNotFoundException(full, $"Image folder {full} holds no class folder; expected {full}/<class>/<image>, one sub-folder per class.");
        }

        var classNames = knownClasses ?? classFolders;
        var labelOf = classNames.Select((name, label) => (name, label)).ToDictionary(p => p.name, p => (long)p.label, StringComparer.Ordinal);
        var entries = new List<(string File, string Name, long Label)>();
        foreach (var className in classFolders)
        {
            if (!labelOf.TryGetValue(className, out var label))
            {
                throw new DatasetFormatException(Path.Combine(full, className), null,
                    $"Class folder {Path.Combine(full, className)} is not among the training classes ({string.Join(", ", classNames)}).");
            }

            var folder = Path.Combine(full, className);
            var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
                .Where(file => ImageDecoder.Extensions.Contains(Path.GetExtension(file)))
                .Select(file => (File: file, Relative: Path.GetRelativePath(folder, file)))
                .OrderBy(f => f.Relative, StringComparer.Ordinal)
                .ToArray();
            if (files.Length == 0 && knownClasses is null)
            {
                throw new DatasetFormatException(folder, null,
                    $"Class folder {folder} holds no image (.jpg, .jpeg, .png, .bmp or .webp); remove it or add its images.");
            }

            entries.AddRange(files.Select(f => (f.File, f.Relative, label)));
        }

        if (entries.Count == 0)
        {
            throw new DatasetFormatException(full, null, $"Image folder {full} holds no image (.jpg, .jpeg, .png, .bmp or .webp) in its class folders.");
        }

        if (order == ImageFolderOrder.FileName)
        {
            // Stable sort on the name alone: ties keep the class order.
            entries = entries.OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
        }

        return new ImageFolderIndex(full, classNames.ToArray(), entries.Select(e => e.File).ToArray(), entries.Select(e => e.Label).ToArray());
    }

    /// <summary>The training and test files: <c>train/</c> and <c>test/</c> where both exist, else a seeded stratified split of the folder.</summary>
    public static (ImageFolderIndex Train, ImageFolderIndex Test) ScanSplits(string root, ImageFolderOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        if (ImageFolderDataset.HasSplitFolders(root))
        {
            var train = Scan(Path.Combine(root, ImageFolderDataset.TrainFolderName), options.Order);
            var test = Scan(Path.Combine(root, ImageFolderDataset.TestFolderName), options.Order, train.ClassNames);
            return (train, test);
        }

        return Split(Scan(root, options.Order), options.TestFraction, options.SplitSeed);
    }

    /// <summary>From each class, round(n·fraction) images (at most n − 1) drawn from the seed go to the test set; both keep this index's order.</summary>
    public static (ImageFolderIndex Train, ImageFolderIndex Test) Split(ImageFolderIndex index, double testFraction, long seed)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)seed);
        var isTest = new bool[index.Count];
        for (var label = 0L; label < index.ClassNames.Count; label++)
        {
            var members = Enumerable.Range(0, index.Count).Where(i => index.Labels[i] == label).ToArray();
            if (members.Length == 0)
            {
                continue;
            }

            var testCount = Math.Min(members.Length - 1, (int)Math.Round(members.Length * testFraction, MidpointRounding.AwayFromZero));
            var draw = randperm(members.Length, generator: generator).data<long>().ToArray();
            foreach (var d in draw.Take(testCount))
            {
                isTest[members[d]] = true;
            }
        }

        if (!isTest.Any(t => t))
        {
            throw new DatasetFormatException(index.Root, null,
                $"Image folder {index.Root} is too small to split: with a test fraction of {testFraction} no class gives an image to the test set. Add images, raise the fraction, or provide train/ and test/ folders.");
        }

        return (index.Where(i => !isTest[i]), index.Where(i => isTest[i]));
    }

    /// <summary>The images at the given positions, in this index's order.</summary>
    public ImageFolderIndex Where(Func<int, bool> keep)
    {
        var kept = Enumerable.Range(0, Count).Where(keep).ToArray();
        return new ImageFolderIndex(Root, ClassNames, kept.Select(i => Files[i]).ToArray(), kept.Select(i => Labels[i]).ToArray());
    }
}
