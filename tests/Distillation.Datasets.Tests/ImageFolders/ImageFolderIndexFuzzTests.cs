using CsCheck;
using Distillation.Data;
using Distillation.Tests.TestSupport;

namespace Distillation.Datasets.Tests.ImageFolders;

/// <summary>
/// Generated image-folder trees (issue 29): odd names, empty and hidden classes, nested folders,
/// links that loop, cross into other classes, lead out of the tree, duplicate files or dangle, and
/// names that are not UTF-8. The listing either refuses the tree with a documented one-line error
/// or lists every real image exactly once, labelled by the class folder it sits in.
/// </summary>
public sealed class ImageFolderIndexFuzzTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose()
    {
        ImageFolderIndexTests.RemoveUndecodableNames(temp.Path);
        temp.Dispose();
    }

    private enum LinkKind
    {
        ToParent,
        ToRoot,
        ToSiblingClass,
        OutsideClass,
        FileDuplicate,
        Dangling,
        NestedToClass,
        ToOtherClassSubfolder,
    }

    private sealed record ClassSpec(string Name, string[] Images, bool Nested);

    private sealed record TreeSpec(ClassSpec[] Classes, (LinkKind Kind, int From, int To)[] Links, int OutsideImages, bool UndecodableFile);

    private static readonly string[] ClassNames = ["a", "B", "c d", "é-ü", "#x", ".hidden", "z_9", "ünïcode"];

    private static readonly string[] ImageNames = ["0.png", "a b.PNG", "ü.jpg", "-x.jpeg", "..bmp", "img.webp", "notes.txt", "x.png.tmp", "(1).Png", "日本.jpg"];

    private static readonly Gen<TreeSpec> Trees =
        from classCount in Gen.Int[0, 5]
        from names in Gen.Shuffle(ClassNames, classCount)
        from classes in Gen.Select(Gen.Shuffle(ImageNames, 0, 4), Gen.Bool).Array[classCount]
        from links in Gen.Select(Gen.Enum<LinkKind>(), Gen.Int[0, 4], Gen.Int[0, 4]).Array[0, 4]
        from outside in Gen.Int[1, 3]
        from undecodable in Gen.Bool
        select new TreeSpec(
            names.Zip(classes, (name, c) => new ClassSpec(name, c.Item1, c.Item2)).ToArray(),
            links, outside, undecodable && OperatingSystem.IsLinux());

    [Fact]
    public void Generated_trees_list_each_real_image_once_under_its_own_class_or_are_refused_in_one_line()
    {
        var listed = 0;
        var refused = 0;
        var iteration = 0;
        Fuzz.ForAll(Trees, seed: 20261206, iterations: 60, check: tree =>
        {
            var root = Path.Combine(temp.Path, $"tree-{iteration}");
            var outside = Path.Combine(temp.Path, $"outside-{iteration++}");
            var expected = Build(tree, root, outside);
            try
            {
                var index = ImageFolderIndex.Scan(root, ImageFolderOrder.ClassThenFileName);
                listed++;
                expected.Should().NotBeNull($"an empty class or a tree without classes is refused; listed {index.Count} in {Describe(tree)}");
                index.ClassNames.Should().Equal(expected!.Keys.Order(StringComparer.Ordinal));
                index.Files.Should().OnlyHaveUniqueItems();
                index.Files.Select(ImageFolderIndex.RealPath).Should().OnlyHaveUniqueItems("no file is listed under two names");
                for (var i = 0; i < index.Count; i++)
                {
                    var className = index.ClassNames[(int)index.Labels[i]];
                    index.Files[i].Should().StartWith(Path.Combine(root, className) + Path.DirectorySeparatorChar, "an image is labelled by the class folder it was found in");
                    ImageFolderIndex.RealPath(index.Files[i]).Should().StartWith(
                        ImageFolderIndex.RealPath(Path.Combine(root, className)) + Path.DirectorySeparatorChar, "and that folder is where the image really is, not reached through a link from another class");
                }

                index.Count.Should().Be(expected.Values.Sum(), "every real image once: {0}", string.Join(", ", expected));
            }
            catch (Exception e) when (e is DatasetFormatException or DatasetNotFoundException)
            {
                refused++;
                expected.Should().BeNull($"the tree holds images in every class, yet was refused: {e.Message}");
                e.Message.Should().NotContainAny("\n", "\r");
            }
        });

        listed.Should().BeGreaterThan(10, "the generator must reach listable trees");
        refused.Should().BeGreaterThan(3, "and refused ones");
    }

    private static string Describe(TreeSpec tree) =>
        string.Join("; ", tree.Classes.Select(c => $"{c.Name}[{string.Join("|", c.Images)}]{(c.Nested ? " nested" : "")}"))
        + " links: " + string.Join(", ", tree.Links.Select(l => $"{l.Kind} {l.From}->{l.To}")) + (tree.UndecodableFile ? " +undecodable" : "");

    /// <summary>Makes the tree; returns the expected image count per class, or null when the listing must refuse it.</summary>
    private static Dictionary<string, int>? Build(TreeSpec tree, string root, string outside)
    {
        Directory.CreateDirectory(root);
        var visible = new List<(string Name, int Images)>();
        foreach (var spec in tree.Classes)
        {
            var folder = Path.Combine(root, spec.Name);
            Directory.CreateDirectory(folder);
            var images = 0;
            foreach (var (image, k) in spec.Images.Select((image, k) => (image, k)))
            {
                var path = spec.Nested && k % 2 == 1 ? Path.Combine(folder, "sub", image) : Path.Combine(folder, image);
                ImageFiles.Write(path, [1, 2, 3]);
                images += ImageDecoder.Extensions.Contains(Path.GetExtension(image)) ? 1 : 0;
            }

            if (!spec.Name.StartsWith('.'))
            {
                visible.Add((spec.Name, images));
            }
        }

        var counts = visible.ToDictionary(v => v.Name, v => v.Images, StringComparer.Ordinal);
        var outsideLinked = false;
        foreach (var (kind, from, to) in tree.Links)
        {
            if (tree.Classes.Length == 0)
            {
                break;
            }

            var source = Path.Combine(root, tree.Classes[from % tree.Classes.Length].Name);
            var target = tree.Classes[to % tree.Classes.Length];
            var name = $"link-{kind}-{from}-{to}";
            switch (kind)
            {
                case LinkKind.ToParent:
                    TryLink(Path.Combine(source, name), "..", directory: true);
                    break;
                case LinkKind.ToRoot:
                    TryLink(Path.Combine(source, name), root, directory: true);
                    break;
                case LinkKind.ToSiblingClass:
                    TryLink(Path.Combine(source, name), Path.Combine("..", target.Name), directory: true);
                    break;
                case LinkKind.NestedToClass:
                    Directory.CreateDirectory(Path.Combine(source, "deep", "er"));
                    TryLink(Path.Combine(source, "deep", "er", name), Path.Combine(root, target.Name), directory: true);
                    break;
                case LinkKind.ToOtherClassSubfolder:
                    // A folder inside the tree that is no class of its own: a hidden class, or another class's sub-folder.
                    TryLink(Path.Combine(source, name), Path.Combine(root, target.Name, target.Nested ? "sub" : string.Empty), directory: true);
                    break;
                case LinkKind.Dangling:
                    TryLink(Path.Combine(source, name + ".png"), Path.Combine(root, "missing.png"), directory: false);
                    break;
                case LinkKind.FileDuplicate when !target.Name.StartsWith('.') && target.Images.FirstOrDefault(i => ImageDecoder.Extensions.Contains(Path.GetExtension(i))) is { } first
                        && !(target.Nested && Array.IndexOf(target.Images, first) % 2 == 1):
                    TryLink(Path.Combine(source, name + ".png"), Path.Combine(root, target.Name, first), directory: false);
                    break;
                case LinkKind.OutsideClass when !outsideLinked:
                    for (var k = 0; k < tree.OutsideImages; k++)
                    {
                        ImageFiles.Write(Path.Combine(outside, $"{k}.png"), [4, 5, 6]);
                    }

                    // Two links to the same outside folder would list it once: only one is made.
                    Directory.CreateSymbolicLink(Path.Combine(root, "zz-outside"), outside);
                    counts["zz-outside"] = tree.OutsideImages;
                    outsideLinked = true;
                    break;
            }
        }

        if (tree.UndecodableFile && visible.Count > 0)
        {
            // Skipped with a warning: it adds nothing to the count.
            var file = Path.Combine(root, visible[0].Name, "u.png");
            ImageFiles.Write(file, [7]);
            ImageFolderIndexTests.CopyToByteName(file, Path.Combine(root, visible[0].Name), "bad\\377.png");
            File.Delete(file);
        }

        // A link's own name can end in .png (dangling and duplicate ones): neither adds an image.
        return counts.Count == 0 || counts.Values.Any(c => c == 0) ? null : counts;
    }

    private static void TryLink(string path, string target, bool directory)
    {
        if (File.Exists(path) || Directory.Exists(path) || new FileInfo(path).LinkTarget is not null)
        {
            return;
        }

        if (directory)
        {
            Directory.CreateSymbolicLink(path, target);
        }
        else
        {
            File.CreateSymbolicLink(path, target);
        }
    }
}
