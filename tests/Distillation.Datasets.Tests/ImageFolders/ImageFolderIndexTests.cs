using System.Diagnostics;
using Distillation.Data;
using Distillation.Tests.TestSupport;
using Microsoft.Extensions.Logging;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Datasets.Tests.ImageFolders;

/// <summary>The listing of an image folder under links, undecodable names, too few classes and cancellation (issue 29).</summary>
public sealed class ImageFolderIndexTests : IDisposable
{
    private readonly TempFolder folder = new();
    private readonly TempFolder outside = new();
    private readonly DisposeScope scope = NewDisposeScope();

    public void Dispose()
    {
        scope.Dispose();
        RemoveUndecodableNames(folder.Path);
        folder.Dispose();
        outside.Dispose();
    }

    private string Root => folder.Path;

    private static ImageFolderOptions Options() => new() { ImageSize = 4, Normalization = ImageNormalization.UnitRange, MaxDegreeOfParallelism = 1 };

    /// <summary>A 4×4 PNG whose red channel is <paramref name="red"/>, so each image can be told apart after loading.</summary>
    internal static void SolidPng(string path, byte red) =>
        ImageFiles.Write(path, ImageFiles.Encode(4, 4, ImageFiles.Solid(4, 4, red, 0, 0), SKEncodedImageFormat.Png));

    private void ThreeClasses()
    {
        for (var i = 0; i < 4; i++)
        {
            SolidPng(Path.Combine(Root, "cat", $"{i}.png"), (byte)(10 + i));
            SolidPng(Path.Combine(Root, "dog", $"{i}.png"), (byte)(20 + i));
            SolidPng(Path.Combine(Root, "owl", $"{i}.png"), (byte)(30 + i));
        }
    }

    private static byte[] Reds(ImageDataset data) => Enumerable.Range(0, data.Count).Select(i => data.Images[i, 0, 0, 0].item<byte>()).ToArray();

    private static long[] Labels(ImageDataset data) => data.Labels.data<long>().ToArray();

    [Fact]
    public void A_link_inside_a_class_folder_to_its_parent_is_skipped_with_a_warning_and_every_image_is_listed_once_under_its_class()
    {
        ThreeClasses();
        File.CreateSymbolicLink(Path.Combine(Root, "cat", "up"), "..");
        var logger = new ListLogger();

        using var data = ImageFolderDataset.Load(Root, Options(), logger: logger);

        data.Count.Should().Be(12);
        Reds(data).Should().Equal(new byte[] { 10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33 });
        Labels(data).Should().Equal(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2);
        logger.Entries.Should().ContainSingle(e => e.Level == LogLevel.Warning && e.Message.Contains(Path.Combine(Root, "cat", "up"), StringComparison.Ordinal));
    }

    [Fact]
    public void Two_links_that_loop_end_the_listing_with_every_image_once()
    {
        ThreeClasses();
        File.CreateSymbolicLink(Path.Combine(Root, "cat", "up"), "..");
        File.CreateSymbolicLink(Path.Combine(Root, "dog", "root"), Root);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var index = ImageFolderIndex.Scan(Root, ImageFolderOrder.ClassThenFileName, cancellationToken: cancel.Token);

        index.Count.Should().Be(12);
        index.Files.Should().OnlyHaveUniqueItems();
    }

    [Fact]
    public void A_link_from_one_class_into_another_does_not_relabel_the_other_classes_images()
    {
        ThreeClasses();
        File.CreateSymbolicLink(Path.Combine(Root, "cat", "dogs"), Path.Combine("..", "dog"));

        using var data = ImageFolderDataset.Load(Root, Options());

        Reds(data).Should().Equal(new byte[] { 10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33 });
        Labels(data).Should().Equal(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2);
    }

    [Fact]
    public void A_class_folder_that_is_a_link_to_images_outside_the_tree_is_followed()
    {
        ThreeClasses();
        SolidPng(Path.Combine(outside.Path, "bird", "0.png"), 40);
        SolidPng(Path.Combine(outside.Path, "bird", "deeper", "1.png"), 41);
        Directory.CreateSymbolicLink(Path.Combine(Root, "bird"), Path.Combine(outside.Path, "bird"));

        using var data = ImageFolderDataset.Load(Root, Options());

        data.ClassNames.Should().Equal("bird", "cat", "dog", "owl");
        Reds(data).Take(2).Should().Equal(new byte[] { 40, 41 });
        data.Count.Should().Be(14);
    }

    [Fact]
    public void A_file_reached_by_two_names_is_listed_once_under_its_first_name()
    {
        ThreeClasses();
        File.CreateSymbolicLink(Path.Combine(Root, "cat", "4.png"), "0.png");
        File.CreateSymbolicLink(Path.Combine(Root, "owl", "9.png"), Path.Combine("..", "dog", "1.png"));
        var logger = new ListLogger();

        using var data = ImageFolderDataset.Load(Root, Options(), logger: logger);

        Reds(data).Should().Equal(new byte[] { 10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33 });
        logger.Entries.Where(e => e.Level == LogLevel.Warning).Should().HaveCount(2);
    }

    [SkippableFact]
    public void A_file_whose_name_is_not_UTF8_is_skipped_with_a_warning_naming_it_and_the_rest_loads()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Linux file names are bytes; Windows and macOS names are always Unicode.");
        ThreeClasses();
        CopyToByteName(Path.Combine(Root, "cat", "0.png"), Path.Combine(Root, "cat"), "bad-\\377\\376.png");
        CopyIntoByteFolder(Path.Combine(Root, "dog", "0.png"), Root, "\\351t\\351");
        var logger = new ListLogger();

        using var data = ImageFolderDataset.Load(Root, Options(), logger: logger);

        data.Count.Should().Be(12);
        data.ClassNames.Should().Equal("cat", "dog", "owl");
        var warnings = logger.Entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Message).ToArray();
        warnings.Should().HaveCount(2);
        warnings.Should().Contain(w => w.Contains(Path.Combine(Root, "cat", "bad-??.png"), StringComparison.Ordinal) && w.Contains("UTF-8", StringComparison.Ordinal));
        warnings.Should().Contain(w => w.Contains(Path.Combine(Root, "?t?"), StringComparison.Ordinal));
    }

    [Fact]
    public void A_folder_of_one_class_is_refused_for_training_in_one_line_naming_the_folder_and_the_class()
    {
        for (var i = 0; i < 6; i++)
        {
            SolidPng(Path.Combine(Root, "cat", $"{i}.png"), (byte)i);
        }

        var act = () => ImageFolderDataset.LoadSplits(Root, Options());

        act.Should().Throw<DatasetFormatException>()
            .Which.Message.Should().Be($"Image folder {Root} holds one class (cat); training a classifier needs at least two class folders.");
    }

    [Fact]
    public void A_split_folder_whose_train_part_has_one_class_is_refused_too()
    {
        SolidPng(Path.Combine(Root, "train", "cat", "0.png"), 1);
        SolidPng(Path.Combine(Root, "test", "cat", "0.png"), 2);

        var act = () => StreamingImageFolder.OpenSplits(Root, Options());

        act.Should().Throw<DatasetFormatException>().WithMessage("*holds one class (cat)*");
    }

    [Fact]
    public void Two_links_to_one_file_outside_the_tree_give_one_image()
    {
        ThreeClasses();
        SolidPng(Path.Combine(outside.Path, "x.png"), 99);
        File.CreateSymbolicLink(Path.Combine(Root, "cat", "x1.png"), Path.Combine(outside.Path, "x.png"));
        File.CreateSymbolicLink(Path.Combine(Root, "dog", "x2.png"), Path.Combine(outside.Path, "x.png"));
        var logger = new ListLogger();

        var index = ImageFolderIndex.Scan(Root, ImageFolderOrder.ClassThenFileName, logger: logger);

        index.Files.Select(f => Path.GetRelativePath(Root, f)).Should().Equal(
            "cat/0.png", "cat/1.png", "cat/2.png", "cat/3.png", "cat/x1.png", "dog/0.png", "dog/1.png", "dog/2.png", "dog/3.png", "owl/0.png", "owl/1.png", "owl/2.png", "owl/3.png");
        logger.Entries.Should().ContainSingle(e => e.Message.Contains(Path.Combine(Root, "dog", "x2.png"), StringComparison.Ordinal));
    }

    [Fact]
    public void A_class_whose_only_image_is_a_link_to_another_class_holds_no_image()
    {
        ThreeClasses();
        Directory.CreateDirectory(Path.Combine(Root, "bee"));
        File.CreateSymbolicLink(Path.Combine(Root, "bee", "0.png"), Path.Combine("..", "dog", "0.png"));

        FluentActions.Invoking(() => ImageFolderIndex.Scan(Root, ImageFolderOrder.ClassThenFileName))
            .Should().Throw<DatasetFormatException>().WithMessage($"Class folder {Path.Combine(Root, "bee")} holds no image*");
    }

    [Fact]
    public void Links_that_point_at_each_other_are_skipped_with_a_warning()
    {
        ThreeClasses();
        File.CreateSymbolicLink(Path.Combine(Root, "cat", "a"), "b");
        File.CreateSymbolicLink(Path.Combine(Root, "cat", "b"), "a");
        File.CreateSymbolicLink(Path.Combine(Root, "cat", "c.png"), "c.png");
        var logger = new ListLogger();

        var index = ImageFolderIndex.Scan(Root, ImageFolderOrder.ClassThenFileName, logger: logger);

        index.Count.Should().Be(12);
        logger.Entries.Should().Contain(e => e.Message.Contains(Path.Combine(Root, "cat", "c.png"), StringComparison.Ordinal));
        FluentActions.Invoking(() => ImageFolderIndex.RealPath(Path.Combine(Root, "cat", "a"))).Should().Throw<IOException>().WithMessage("*nest more than 40 deep*");
    }

    [Fact]
    public void Folders_deeper_than_the_limit_are_skipped_with_a_warning_and_the_limit_itself_is_read()
    {
        ThreeClasses();
        var atLimit = Path.Combine([Root, "cat", .. Enumerable.Repeat("d", ImageFolderIndex.MaxDepth)]);
        SolidPng(Path.Combine(atLimit, "deep.png"), 50);
        SolidPng(Path.Combine(atLimit, "d", "deeper.png"), 51);
        var logger = new ListLogger();

        var index = ImageFolderIndex.Scan(Root, ImageFolderOrder.ClassThenFileName, logger: logger);

        index.Files.Should().Contain(Path.Combine(atLimit, "deep.png")).And.NotContain(Path.Combine(atLimit, "d", "deeper.png"));
        logger.Entries.Should().ContainSingle(e => e.Message.Contains(Path.Combine(atLimit, "d"), StringComparison.Ordinal) && e.Message.Contains("64 levels", StringComparison.Ordinal));
    }

    [Fact]
    public void A_file_given_as_the_folder_is_called_a_file_not_missing()
    {
        ThreeClasses();
        var file = Path.Combine(Root, "cat", "0.png");

        FluentActions.Invoking(() => ImageFolderDataset.LoadSplits(file, Options())).Should().Throw<DatasetNotFoundException>()
            .Which.Message.Should().Be($"Image folder {file} is a file; give the folder whose sub-folders are the classes (<folder>/<class>/<image>).");
    }

    [Fact]
    public void A_cancelled_token_stops_the_listing()
    {
        ThreeClasses();
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();

        FluentActions.Invoking(() => ImageFolderIndex.Scan(Root, ImageFolderOrder.ClassThenFileName, cancellationToken: cancel.Token))
            .Should().Throw<OperationCanceledException>();
        FluentActions.Invoking(() => StreamingImageFolder.Open(Root, Options(), cancellationToken: cancel.Token))
            .Should().Throw<OperationCanceledException>();
    }

    [Fact]
    public void Cancelling_mid_decode_stops_within_two_seconds_having_decoded_only_a_few_more_images()
    {
        // Large sources (512² noise, resized to 4²) make each decode take milliseconds, so a pass
        // that ignored the token would run on for seconds after it.
        for (var i = 0; i < 40; i++)
        {
            ImageFiles.Write(Path.Combine(Root, i % 2 == 0 ? "a" : "b", $"{i:D3}.png"), ImageFiles.Encode(512, 512, ImageFiles.Noise(512, 512, i), SKEncodedImageFormat.Png));
        }

        using var cancel = new CancellationTokenSource();
        var decodedAtCancel = 0;
        var lastSeen = 0;
        var clock = new Stopwatch();
        var progress = new SynchronousProgress<ImageFolderProgress>(p =>
        {
            lastSeen = p.Decoded;
            if (p.Decoded >= 3 && !cancel.IsCancellationRequested)
            {
                decodedAtCancel = p.Decoded;
                clock.Start();
                cancel.Cancel();
            }
        });

        var options = Options();
        options.MaxDegreeOfParallelism = 2;
        var act = () => ImageFolderDataset.Load(Root, options, progress, cancellationToken: cancel.Token);

        act.Should().Throw<OperationCanceledException>();
        // Two seconds, not one: five engineers share this machine's two cores.
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(2));
        decodedAtCancel.Should().BeGreaterThan(0);
        lastSeen.Should().BeLessThan(decodedAtCancel + 5, "only the images already started finish (2 decoders; an image may be picked up as the token turns)");
    }

    /// <summary>Copies <paramref name="source"/> to <paramref name="folder"/>/<paramref name="printfName"/>, a name given as printf octal escapes (bytes that need not be UTF-8).</summary>
    internal static void CopyToByteName(string source, string folder, string printfName) =>
        Shell($"cp \"$1\" \"$2/$(printf '{printfName}')\"", source, folder);

    /// <summary>Makes <paramref name="parent"/>/<paramref name="printfName"/> (printf escapes) holding a copy of <paramref name="source"/>.</summary>
    internal static void CopyIntoByteFolder(string source, string parent, string printfName) =>
        Shell($"d=\"$2/$(printf '{printfName}')\"; mkdir -p \"$d\" && cp \"$1\" \"$d/0.png\"", source, parent);

    /// <summary>Deletes the names .NET cannot open (it would fail to delete the folder holding them).</summary>
    internal static void RemoveUndecodableNames(string root)
    {
        if (OperatingSystem.IsLinux() && Directory.Exists(root))
        {
            Shell("LC_ALL=C find \"$1\" -depth -name '*[! -~]*' -exec rm -rf {} + 2>/dev/null || true", root);
        }
    }

    private static void Shell(string script, params string[] arguments)
    {
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        start.ArgumentList.Add("sh");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        process.ExitCode.Should().Be(0, error);
    }
}
