using Distillation.Data;
using Distillation.Tests.TestSupport;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Distillation.Datasets.Tests.Cifar10;

public sealed class Cifar10DatasetTests : IDisposable
{
    private readonly TempFolder temp = new();

    private static readonly Cifar10LoadOptions AnyCount = new() { ExpectedRecordsPerFile = null };

    public void Dispose() => temp.Dispose();

    [Fact]
    public void Loads_all_training_files_in_order_into_one_uint8_tensor()
    {
        SyntheticCifar.WriteFolder(temp.Path, recordsPerTrainFile: 7, testRecords: 5);

        using var train = Cifar10Dataset.Load(temp.Path, Cifar10Split.Train, AnyCount);

        train.Count.Should().Be(35);
        train.Images.dtype.Should().Be(ScalarType.Byte);
        train.Images.shape.Should().Equal(35, 3, 32, 32);
        train.Labels.dtype.Should().Be(ScalarType.Int64);
        train.Labels.data<long>().ToArray().Should().Equal(Enumerable.Range(0, 35).Select(i => (long)(i % 10)));
        // Record 20 (third file, first record): red plane 20, green 21, blue 22; row-major planes.
        train.Images[20, 0, 31, 31].item<byte>().Should().Be(20);
        train.Images[20, 1, 0, 0].item<byte>().Should().Be(21);
        train.Images[20, 2, 16, 5].item<byte>().Should().Be(22);
        train.ClassNames.Should().Equal(Cifar10Dataset.DefaultClassNames);
    }

    [Fact]
    public void Loads_the_test_split_from_test_batch()
    {
        SyntheticCifar.WriteFolder(temp.Path, recordsPerTrainFile: 2, testRecords: 13);

        using var test = Cifar10Dataset.Load(temp.Path, Cifar10Split.Test, AnyCount);

        test.Count.Should().Be(13);
    }

    [Fact]
    public void Accepts_the_batches_folder_itself_as_root()
    {
        var folder = SyntheticCifar.WriteFolder(temp.Path, recordsPerTrainFile: 2, testRecords: 3);

        using var test = Cifar10Dataset.Load(folder, Cifar10Split.Test, AnyCount);

        test.Count.Should().Be(3);
    }

    [Fact]
    public void Missing_folder_names_the_expected_path_and_how_to_get_the_data()
    {
        var act = () => Cifar10Dataset.Load(temp.Path, Cifar10Split.Train);

        var error = act.Should().Throw<DatasetNotFoundException>().Which;
        error.ExpectedPath.Should().Be(Path.Combine(temp.Path, "cifar-10-batches-bin"));
        error.Message.Should().Contain(error.ExpectedPath).And.Contain("cifar-10-binary.tar.gz").And.Contain("Cifar10Downloader");
    }

    [Fact]
    public void A_missing_batches_folder_given_by_name_is_not_doubled()
    {
        var folder = Path.Combine(temp.Path, "cifar-10-batches-bin");

        Cifar10Dataset.ResolveFolder(folder).Should().Be(folder);
        Cifar10Dataset.ResolveFolder(folder + Path.DirectorySeparatorChar).Should().Be(folder);
    }

    [Fact]
    public void Missing_batch_file_is_named()
    {
        var folder = SyntheticCifar.WriteFolder(temp.Path, recordsPerTrainFile: 2, testRecords: 2);
        File.Delete(Path.Combine(folder, "data_batch_4.bin"));

        var act = () => Cifar10Dataset.Load(temp.Path, Cifar10Split.Train, AnyCount);

        act.Should().Throw<DatasetNotFoundException>().Which.ExpectedPath.Should().EndWith("data_batch_4.bin");
    }

    [Fact]
    public void Truncated_file_names_the_file_and_the_partial_record()
    {
        var folder = SyntheticCifar.WriteFolder(temp.Path, recordsPerTrainFile: 4, testRecords: 2);
        var file = Path.Combine(folder, "data_batch_2.bin");
        File.WriteAllBytes(file, File.ReadAllBytes(file)[..(3 * 3073 + 100)]);

        var act = () => Cifar10Dataset.Load(temp.Path, Cifar10Split.Train, AnyCount);

        var error = act.Should().Throw<DatasetFormatException>().Which;
        error.FilePath.Should().Be(file);
        error.RecordIndex.Should().Be(3);
        error.Message.Should().Contain("data_batch_2.bin").And.Contain("truncated").And.Contain("record 3");
    }

    [Fact]
    public void A_file_with_fewer_records_than_an_official_one_is_rejected_by_default()
    {
        SyntheticCifar.WriteFolder(temp.Path, recordsPerTrainFile: 4, testRecords: 2);

        var act = () => Cifar10Dataset.Load(temp.Path, Cifar10Split.Test);

        act.Should().Throw<DatasetFormatException>().WithMessage("*test_batch.bin holds 2 records*10,000*");
    }

    [Fact]
    public void Label_outside_0_to_9_names_file_and_record()
    {
        var folder = SyntheticCifar.WriteFolder(temp.Path, recordsPerTrainFile: 4, testRecords: 6);
        var file = Path.Combine(folder, "test_batch.bin");
        var bytes = File.ReadAllBytes(file);
        bytes[5 * 3073] = 10;
        File.WriteAllBytes(file, bytes);

        var act = () => Cifar10Dataset.Load(temp.Path, Cifar10Split.Test, AnyCount);

        var error = act.Should().Throw<DatasetFormatException>().Which;
        error.RecordIndex.Should().Be(5);
        error.Message.Should().Contain("test_batch.bin").And.Contain("record 5").And.Contain("label 10");
    }

    [Fact]
    public void Missing_meta_file_falls_back_to_the_official_names_with_a_warning()
    {
        SyntheticCifar.WriteFolder(temp.Path, recordsPerTrainFile: 2, testRecords: 2, withMeta: false);
        var logger = new ListLogger();

        using var test = Cifar10Dataset.Load(temp.Path, Cifar10Split.Test, AnyCount, logger);

        test.ClassNames.Should().Equal(Cifar10Dataset.DefaultClassNames);
        logger.Entries.Should().ContainSingle(e => e.Level == LogLevel.Warning && e.Message.Contains("batches.meta.txt"));
    }

    [Fact]
    public void Meta_file_naming_the_wrong_number_of_classes_is_rejected()
    {
        var folder = SyntheticCifar.WriteFolder(temp.Path, recordsPerTrainFile: 2, testRecords: 2);
        File.WriteAllText(Path.Combine(folder, "batches.meta.txt"), "cat\ndog\n");

        var act = () => Cifar10Dataset.Load(temp.Path, Cifar10Split.Test, AnyCount);

        act.Should().Throw<DatasetFormatException>().WithMessage("*names 2 classes*");
    }

    [SkippableFact]
    public void Shared_copy_loads_all_60000_records_balanced_by_class()
    {
        var root = SharedData.Cifar10RootOrSkip("it checks the shared copy itself (60,000 records, balanced, the first labels its README gives).");

        using var train = Cifar10Dataset.Load(root, Cifar10Split.Train);
        using var test = Cifar10Dataset.Load(root, Cifar10Split.Test);

        train.Count.Should().Be(50_000);
        test.Count.Should().Be(10_000);
        train.Labels.bincount(null).data<long>().ToArray().Should().AllBeEquivalentTo(5_000L);
        test.Labels.bincount(null).data<long>().ToArray().Should().AllBeEquivalentTo(1_000L);
        train.ClassNames.Should().Equal(Cifar10Dataset.DefaultClassNames);
        // The README of the copy: data_batch_1 starts frog, truck, truck, deer, automobile.
        train.Labels[..5].data<long>().ToArray().Should().Equal(6, 9, 9, 4, 1);
    }
}
