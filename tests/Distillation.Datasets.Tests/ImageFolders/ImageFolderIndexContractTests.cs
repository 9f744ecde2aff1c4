using Distillation.Data;
using Distillation.Tests.TestSupport;
using Microsoft.Extensions.Logging;
using static Distillation.Datasets.Tests.ImageFolders.ImageFolderIndexTests;

namespace Distillation.Datasets.Tests.ImageFolders;

/// <summary>
/// The listing's contract where the mutation run of issue 29 found it untested: its arguments and
/// messages, the stratified split, names that differ only in case,
/// undecodable sub-folders, dangling links, folders reached twice, cancellation in each stage, and the
/// real path of a link.
/// </summary>
public sealed class ImageFolderIndexContractTests : IDisposable
{
    private readonly TempFolder folder = new();
    private readonly TempFolder outside = new();

    public void Dispose()
    {
        RemoveUndecodableNames(folder.Path);
        folder.Dispose();
        outside.Dispose();
    }

    private string Root => folder.Path;

    private void Images(string className, int count, string? root = null)
    {
        for (var i = 0; i < count; i++)
        {
            SolidPng(Path.Combine(root ?? Root, className, $"{i}.png"), (byte)i);
        }
    }

    private ImageFolderIndex Scan(ILogger? logger = null, CancellationToken cancellationToken = default) =>
        ImageFolderIndex.Scan(Root, ImageFolderOrder.ClassThenFileName, logger: logger, cancellationToken: cancellationToken);

    [Fact]
    public void A_blank_root_is_an_argument_error_not_a_missing_folder_in_the_working_directory()
    {
        FluentActions.Invoking(() => ImageFolderIndex.Scan("  ", ImageFolderOrder.ClassThenFileName)).Should().Throw<ArgumentException>().WithParameterName("root");
        FluentActions.Invoking(() => ImageFolderIndex.ScanSplits(" ", new ImageFolderOptions())).Should().Throw<ArgumentException>().WithParameterName("root");
    }

    [Fact]
    public void A_folder_without_class_folders_says_so()
    {
        SolidPng(Path.Combine(Root, "loose.png"), 1);

        FluentActions.Invoking(() => Scan()).Should().Throw<DatasetNotFoundException>()
            .Which.Message.Should().Be($"Image folder {Root} holds no class folder; expected {Root}/<class>/<image>, one sub-folder per class.");
    }

    [Fact]
    public void A_test_class_the_training_set_lacks_is_named_with_the_training_classes()
    {
        Images("train/cat", 2);
        Images("train/dog", 2);
        Images("test/cat", 1);
        Images("test/owl", 1);

        FluentActions.Invoking(() => ImageFolderIndex.ScanSplits(Root, new ImageFolderOptions())).Should().Throw<DatasetFormatException>()
            .Which.Message.Should().Be($"Class folder {Path.Combine(Root, "test", "owl")} is not among the training classes (cat, dog).");
    }

    [Fact]
    public void A_test_folder_whose_class_folders_are_all_empty_holds_no_image()
    {
        Images("train/cat", 2);
        Images("train/dog", 2);
        Directory.CreateDirectory(Path.Combine(Root, "test", "cat"));
        Directory.CreateDirectory(Path.Combine(Root, "test", "dog"));
        var test = Path.Combine(Root, "test");

        FluentActions.Invoking(() => ImageFolderIndex.ScanSplits(Root, new ImageFolderOptions())).Should().Throw<DatasetFormatException>()
            .Which.Message.Should().Be($"Image folder {test} holds no image (.jpg, .jpeg, .png, .bmp or .webp) in its class folders.");
    }

    [Fact]
    public void The_split_takes_round_n_times_the_fraction_from_each_class_and_keeps_the_rest_for_training()
    {
        Images("a", 8);
        Images("b", 4);
        Images("c", 2);

        var (train, test) = ImageFolderIndex.Split(Scan(), testFraction: 0.5, seed: 3);

        long[] Count(ImageFolderIndex index) => [.. Enumerable.Range(0, 3).Select(c => index.Labels.LongCount(l => l == c))];
        Count(test).Should().Equal([4L, 2, 1], "half of each class, rounded away from zero");
        Count(train).Should().Equal([4L, 2, 1]);
        train.Files.Intersect(test.Files).Should().BeEmpty();
        train.Files.Concat(test.Files).Should().BeEquivalentTo(Scan().Files);
    }

    [Fact]
    public void A_large_fraction_still_leaves_every_class_an_image_to_train_on()
    {
        Images("a", 2);
        Images("b", 5);

        var (train, test) = ImageFolderIndex.Split(Scan(), testFraction: 0.9, seed: 1);

        train.Labels.Should().Contain(0L, "round(2 · 0.9) = 2 is capped at n − 1 = 1").And.Contain(1L);
        test.Labels.Count(l => l == 0).Should().Be(1);
        test.Labels.Count(l => l == 1).Should().Be(4);
    }

    [Fact]
    public void A_folder_too_small_to_split_says_so()
    {
        Images("a", 1);
        Images("b", 1);

        FluentActions.Invoking(() => ImageFolderIndex.Split(Scan(), testFraction: 0.2, seed: 1)).Should().Throw<DatasetFormatException>()
            .WithMessage($"Image folder {Root} is too small to split: with a test fraction of 0.2 no class gives an image to the test set.*");
    }

    [SkippableFact]
    public void Class_folders_whose_names_differ_only_in_case_are_two_classes_on_Linux()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "names that differ only in case are one folder on Windows and macOS");
        Images("Cat", 2);
        Images("cat", 3);

        var index = Scan();

        index.ClassNames.Should().Equal("Cat", "cat");
        index.Labels.Should().Equal(0, 0, 1, 1, 1);
    }

    [SkippableFact]
    public void A_link_to_a_folder_outside_whose_path_differs_from_the_root_only_in_case_is_followed_on_Linux()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "names that differ only in case are one folder on Windows and macOS");
        var root = Path.Combine(outside.Path, "Photos");
        var twin = Path.Combine(outside.Path, "photos");
        var deeper = Path.Combine(outside.Path, "PHOTOS", "fish");
        Images("cat", 2, root);
        SolidPng(Path.Combine(twin, "0.png"), 7);
        SolidPng(Path.Combine(deeper, "0.png"), 8);
        Directory.CreateSymbolicLink(Path.Combine(root, "bird"), twin);
        Directory.CreateSymbolicLink(Path.Combine(root, "fish"), deeper);
        var logger = new ListLogger();

        var index = ImageFolderIndex.Scan(root, ImageFolderOrder.ClassThenFileName, logger: logger);

        index.ClassNames.Should().Equal("bird", "cat", "fish");
        index.Count.Should().Be(4, "photos/ and PHOTOS/fish are other folders than Photos/ on Linux");
        logger.Entries.Should().BeEmpty();
    }

    [Fact]
    public void A_cancelled_token_stops_the_listing_of_the_class_folders_themselves()
    {
        // Empty class folders: the images' loop has nothing to check, so the class folders' loop must.
        Directory.CreateDirectory(Path.Combine(Root, "a"));
        Directory.CreateDirectory(Path.Combine(Root, "b"));
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();

        FluentActions.Invoking(() => Scan(cancellationToken: cancel.Token)).Should().Throw<OperationCanceledException>();
    }

    [Fact]
    public void A_token_cancelled_after_the_class_folders_stops_the_listing_of_the_images()
    {
        Images("a", 3);
        Images("b", 3);
        File.CreateSymbolicLink(Path.Combine(Root, "zz"), Root);
        using var cancel = new CancellationTokenSource();

        // The last class folder (a link back to the root) logs a warning: the token is cancelled there, after the class folders' loop has checked it.
        var act = () => Scan(new CancelOnWarning(cancel), cancel.Token);

        act.Should().Throw<OperationCanceledException>();
    }

    [SkippableFact]
    public void A_sub_folder_whose_name_is_not_UTF8_is_skipped_with_a_warning_and_the_rest_listed()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Linux file names are bytes; Windows and macOS names are always Unicode.");
        Images("a", 2);
        Images("b", 2);
        CopyIntoByteFolder(Path.Combine(Root, "a", "0.png"), Path.Combine(Root, "a"), "\\351t\\351");
        var logger = new ListLogger();

        var index = Scan(logger);

        index.Count.Should().Be(4);
        logger.Entries.Should().ContainSingle().Which.Message.Should().Contain(Path.Combine(Root, "a", "?t?")).And.Contain("not valid UTF-8");
    }

    [Fact]
    public void A_dangling_file_link_is_skipped_with_a_warning_saying_why()
    {
        Images("a", 2);
        Images("b", 2);
        File.CreateSymbolicLink(Path.Combine(Root, "a", "gone.png"), Path.Combine(outside.Path, "gone.png"));
        var logger = new ListLogger();

        var index = Scan(logger);

        index.Count.Should().Be(4);
        logger.Entries.Should().ContainSingle().Which.Message.Should().Be($"Skipped the link {Path.Combine(Root, "a", "gone.png")}: its target does not exist or is not a file.");
    }

    [Fact]
    public void A_folder_reached_through_two_class_links_is_read_once_with_a_warning()
    {
        Images("a", 2);
        SolidPng(Path.Combine(outside.Path, "x", "0.png"), 1);
        SolidPng(Path.Combine(outside.Path, "x", "sub", "1.png"), 2);
        Directory.CreateSymbolicLink(Path.Combine(Root, "bird"), Path.Combine(outside.Path, "x"));
        Directory.CreateSymbolicLink(Path.Combine(Root, "fish"), Path.Combine(outside.Path, "x", "sub"));
        var logger = new ListLogger();

        var index = Scan(logger);

        // fish's target is taken when the class folders are listed; bird's walk then meets it as its sub-folder.
        index.ClassNames.Should().Equal("a", "bird", "fish");
        index.Labels.Should().Equal(0, 0, 1, 2);
        logger.Entries.Should().ContainSingle().Which.Message.Should().Be($"Skipped {Path.Combine(Root, "bird", "sub")}: the folder was already read under another name (through a link).");
    }

    [Fact]
    public void The_real_path_of_a_link_is_its_targets_and_a_path_through_a_folder_link_follows_it()
    {
        Images("a", 1, outside.Path);
        File.CreateSymbolicLink(Path.Combine(Root, "file.png"), Path.Combine(outside.Path, "a", "0.png"));
        Directory.CreateSymbolicLink(Path.Combine(Root, "folder"), Path.Combine(outside.Path, "a"));

        ImageFolderIndex.RealPath(Path.Combine(Root, "file.png")).Should().Be(Path.Combine(ImageFolderIndex.RealPath(outside.Path), "a", "0.png"));
        ImageFolderIndex.RealPath(Path.Combine(Root, "folder", "0.png")).Should().Be(Path.Combine(ImageFolderIndex.RealPath(outside.Path), "a", "0.png"));
    }

    /// <summary>Cancels at the first warning.</summary>
    private sealed class CancelOnWarning(CancellationTokenSource cancel) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Warning)
            {
                cancel.Cancel();
            }
        }
    }
}
