using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace Distillation.Data;

/// <summary>The files and labels of an image folder, in reading order; what the resident and the streamed loaders share.</summary>
internal sealed partial class ImageFolderIndex
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

    /// <summary>Sub-folders deeper than this below a class folder are not read (a guard against link chains the loop check cannot see).</summary>
    internal const int MaxDepth = 64;

    /// <summary>
    /// Lists <c>root/&lt;class&gt;/…/&lt;image&gt;</c>. A directory link is followed when it leads out
    /// of the tree (a class folder linked to images kept elsewhere is common); one that leads back
    /// into it (to the root, an ancestor, another class, or a folder already read) is skipped with a
    /// warning, since it would list images twice, under the wrong class, or without end. A file link
    /// whose target is listed under its own name is dropped (the image keeps its own class); links
    /// to one file listed nowhere else give one image, the first in reading order; a dangling link is
    /// skipped with a warning. A name that is not valid UTF-8 cannot be opened through .NET's string
    /// paths: it is skipped with a warning that shows it with '?' for the bad bytes.
    /// </summary>
    /// <param name="root">The folder.</param>
    /// <param name="order">The order of the images.</param>
    /// <param name="knownClasses">
    /// The classes to label with (a test folder takes its training folder's); the folder may lack
    /// some but not add one. Null takes the folder's own classes, each of which must hold an image.
    /// </param>
    /// <param name="logger">Receives a warning per skipped link, duplicate or unreadable name; none when null.</param>
    /// <param name="cancellationToken">Stops the listing (checked per folder and file).</param>
    public static ImageFolderIndex Scan(string root, ImageFolderOrder order, IReadOnlyList<string>? knownClasses = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        logger ??= NullLogger.Instance;
        var full = Path.GetFullPath(root);
        if (File.Exists(full))
        {
            throw new DatasetNotFoundException(full, $"Image folder {full} is a file; give the folder whose sub-folders are the classes (<folder>/<class>/<image>).");
        }

        if (!Directory.Exists(full))
        {
            throw new DatasetNotFoundException(full, $"Image folder {full} does not exist; expected {full}/<class>/<image> (jpg, jpeg, png, bmp or webp).");
        }

        var walk = new Walk(full, logger, cancellationToken);
        var classFolders = walk.ClassFolders();
        if (classFolders.Count == 0)
        {
            throw new DatasetNotFoundException(full, $"Image folder {full} holds no class folder; expected {full}/<class>/<image>, one sub-folder per class.");
        }

        var classNames = knownClasses ?? classFolders.Select(c => c.Name).ToArray();
        var labelOf = classNames.Select((name, label) => (name, label)).ToDictionary(p => p.name, p => (long)p.label, StringComparer.Ordinal);
        // Every class is listed before any is kept: a file link is dropped when its target is listed
        // under its own name anywhere, whichever class comes first.
        var listings = new List<(string Folder, long Label, List<Found> Files)>();
        foreach (var (className, real) in classFolders)
        {
            var folder = Path.Combine(full, className);
            if (!labelOf.TryGetValue(className, out var label))
            {
                throw new DatasetFormatException(folder, null,
                    $"Class folder {folder} is not among the training classes ({string.Join(", ", classNames)}).");
            }

            listings.Add((folder, label, walk.Images(folder, real)));
        }

        var comparer = Walk.PathComparer;
        var listed = new Dictionary<string, string>(comparer);
        foreach (var file in listings.SelectMany(l => l.Files).Where(f => !f.IsLink))
        {
            listed.TryAdd(file.Real, file.File);
        }

        var entries = new List<(string File, string Name, long Label)>();
        foreach (var (folder, label, files) in listings)
        {
            var any = false;
            foreach (var file in files)
            {
                if (file.IsLink && !listed.TryAdd(file.Real, file.File))
                {
                    LogDuplicate(logger, file.File, listed[file.Real]);
                    continue;
                }

                entries.Add((file.File, file.Relative, label));
                any = true;
            }

            if (!any && knownClasses is null)
            {
                throw new DatasetFormatException(folder, null,
                    $"Class folder {folder} holds no image (.jpg, .jpeg, .png, .bmp or .webp); remove it or add its images.");
            }
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
    /// <exception cref="DatasetFormatException">Besides the listing's errors: the training classes are fewer than two.</exception>
    public static (ImageFolderIndex Train, ImageFolderIndex Test) ScanSplits(string root, ImageFolderOptions options, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        if (ImageFolderDataset.HasSplitFolders(root))
        {
            var train = RequireClasses(Scan(Path.Combine(root, ImageFolderDataset.TrainFolderName), options.Order, null, logger, cancellationToken));
            var test = Scan(Path.Combine(root, ImageFolderDataset.TestFolderName), options.Order, train.ClassNames, logger, cancellationToken);
            return (train, test);
        }

        return Split(RequireClasses(Scan(root, options.Order, null, logger, cancellationToken)), options.TestFraction, options.SplitSeed);
    }

    /// <summary>Refuses a training folder of one class: a classifier trained on it reaches 100 % and learns nothing.</summary>
    private static ImageFolderIndex RequireClasses(ImageFolderIndex index) => index.ClassNames.Count >= 2 ? index
        : throw new DatasetFormatException(index.Root, null,
            $"Image folder {index.Root} holds one class ({index.ClassNames[0]}); training a classifier needs at least two class folders.");

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

    /// <summary>An image found below a class folder: its path, its path relative to the class folder, its real path, and whether the name is a link.</summary>
    private sealed record Found(string File, string Relative, string Real, bool IsLink);

    /// <summary>One listing: the real path of every folder read, so that none is read twice.</summary>
    private sealed class Walk(string root, ILogger logger, CancellationToken cancellationToken)
    {
        private readonly string rootReal = RealPath(root);
        private readonly HashSet<string> foldersRead = new(PathComparer);
        internal static StringComparer PathComparer => OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

        /// <summary>The class folders, ordinal by name, each with its real path; skipped: hidden, undecodable and looping ones.</summary>
        public List<(string Name, string Real)> ClassFolders()
        {
            foldersRead.Add(rootReal);
            var classes = new List<(string Name, string Real)>();
            foreach (var folder in new DirectoryInfo(root).EnumerateDirectories().OrderBy(d => d.Name, StringComparer.Ordinal))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (folder.Name.StartsWith('.') || !Decodable(folder, Directory.Exists))
                {
                    continue;
                }

                if (Follow(folder, rootReal) is { } real)
                {
                    classes.Add((folder.Name, real));
                }
            }

            return classes;
        }

        /// <summary>The images below a class folder, ordinal by their path relative to it, each with its real path; dangling links are left out.</summary>
        public List<Found> Images(string classFolder, string classReal)
        {
            var found = new List<Found>();
            var pending = new Stack<(DirectoryInfo Folder, string Real, int Depth)>();
            pending.Push((new DirectoryInfo(classFolder), classReal, 0));
            while (pending.Count > 0)
            {
                var (folder, real, depth) = pending.Pop();
                foreach (var entry in folder.EnumerateFileSystemInfos())
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (entry is DirectoryInfo sub)
                    {
                        if (!Decodable(sub, Directory.Exists))
                        {
                            continue;
                        }

                        if (depth + 1 > MaxDepth)
                        {
                            LogTooDeep(logger, sub.FullName, MaxDepth);
                            continue;
                        }

                        if (Follow(sub, real) is { } subReal)
                        {
                            pending.Push((sub, subReal, depth + 1));
                        }
                    }
                    else if (ImageDecoder.Extensions.Contains(Path.GetExtension(entry.Name)) && Decodable(entry, File.Exists))
                    {
                        var relative = Path.GetRelativePath(classFolder, entry.FullName);
                        if (entry.LinkTarget is null)
                        {
                            found.Add(new Found(entry.FullName, relative, Path.Combine(real, entry.Name), IsLink: false));
                        }
                        else if (TryRealPath(entry.FullName) is { } fileReal && File.Exists(fileReal))
                        {
                            // File.Exists of the link itself is true even when it dangles: the resolved path is asked.
                            found.Add(new Found(entry.FullName, relative, fileReal, IsLink: true));
                        }
                        else
                        {
                            LogLinkUnresolved(logger, entry.FullName, "its target does not exist or is not a file");
                        }
                    }
                }
            }

            found.Sort((x, y) => string.CompareOrdinal(x.Relative, y.Relative));
            return found;
        }

        /// <summary>The real path of a folder to read, or null (with a warning) when it was read already or is the root or one of its ancestors.</summary>
        private string? Follow(DirectoryInfo folder, string parentReal)
        {
            if (folder.LinkTarget is null)
            {
                var real = Path.Combine(parentReal, folder.Name);
                if (foldersRead.Add(real))
                {
                    return real;
                }

                LogFolderReadTwice(logger, folder.FullName);
                return null;
            }

            var target = TryRealPath(folder.FullName);
            if (target is null || !Directory.Exists(target))
            {
                LogLinkUnresolved(logger, folder.FullName, "its target does not exist");
                return null;
            }

            if (IsWithin(target, rootReal) || IsWithin(rootReal, target) || !foldersRead.Add(target))
            {
                LogLinkBack(logger, folder.FullName, target);
                return null;
            }

            return target;
        }

        /// <summary>The real path, or null when the links nest too deep to resolve (a cycle).</summary>
        private static string? TryRealPath(string path)
        {
            try
            {
                return RealPath(path);
            }
            catch (IOException)
            {
                return null;
            }
        }

        private bool Decodable(FileSystemInfo entry, Func<string, bool> exists)
        {
            // .NET decodes names as UTF-8, putting U+FFFD for bytes that are not: such a path then names no file.
            if (!entry.Name.Contains('\uFFFD', StringComparison.Ordinal) || exists(entry.FullName))
            {
                return true;
            }

            LogUndecodableName(logger, entry.FullName.Replace('\uFFFD', '?'));
            return false;
        }

        private static bool IsWithin(string path, string folder) =>
            string.Equals(path, folder, OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase)
            || path.StartsWith(Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar, OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// <paramref name="path"/> with every link along it resolved, component by component (as
    /// POSIX <c>realpath</c>), so that two names of one folder or file compare equal.
    /// </summary>
    /// <exception cref="IOException">The links nest more than 40 deep (a cycle).</exception>
    internal static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        for (var hops = 0; hops <= 40; hops++)
        {
            var top = Path.GetPathRoot(full) ?? string.Empty;
            var parts = full[top.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
            var current = top;
            var resolved = true;
            for (var i = 0; i < parts.Length; i++)
            {
                var next = Path.Combine(current, parts[i]);
                if (new FileInfo(next).LinkTarget is { } target)
                {
                    // Relative targets count from the link's folder; the rest of the path follows the target.
                    full = Path.GetFullPath(Path.Combine([Path.GetFullPath(target, current), .. parts[(i + 1)..]]));
                    resolved = false;
                    break;
                }

                current = next;
            }

            if (resolved)
            {
                return current;
            }
        }

        throw new IOException($"The links of {path} nest more than 40 deep (a cycle).");
    }

    [LoggerMessage(EventId = 32, Level = LogLevel.Warning, Message = "Skipped {Path}: its name is not valid UTF-8 (shown with ? for the bad bytes), so it cannot be opened; rename it to read it.")]
    private static partial void LogUndecodableName(ILogger logger, string path);

    [LoggerMessage(EventId = 33, Level = LogLevel.Warning, Message = "Skipped the link {Link}: it leads back into the image folder ({Target}), which would list images twice or without end.")]
    private static partial void LogLinkBack(ILogger logger, string link, string target);

    [LoggerMessage(EventId = 34, Level = LogLevel.Warning, Message = "Skipped the link {Link}: {Reason}.")]
    private static partial void LogLinkUnresolved(ILogger logger, string link, string reason);

    [LoggerMessage(EventId = 35, Level = LogLevel.Warning, Message = "Skipped {Path}: it is another name (a link) of {First}, which is already listed.")]
    private static partial void LogDuplicate(ILogger logger, string path, string first);

    [LoggerMessage(EventId = 37, Level = LogLevel.Warning, Message = "Skipped {Path}: the folder was already read under another name (through a link).")]
    private static partial void LogFolderReadTwice(ILogger logger, string path);

    [LoggerMessage(EventId = 36, Level = LogLevel.Warning, Message = "Skipped {Path}: folders more than {Depth} levels below a class folder are not read.")]
    private static partial void LogTooDeep(ILogger logger, string path, int depth);
}
