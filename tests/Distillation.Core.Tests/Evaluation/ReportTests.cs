using System.Globalization;
using System.Text.Json;
using Distillation.Evaluation;
using Distillation.IO;
using Distillation.Tests.TestSupport;
using Distillation.Training;

namespace Distillation.Tests.Evaluation;

public sealed class ReportTests
{
    /// <summary>Three classes, one with a comma in its name and one with no image; 6 images.</summary>
    private static DetailedEvaluation ThreeClasses()
    {
        // Rows: "cat, domestic" 3 images (2 right), "dog" 3 images (1 right), "bird" none.
        // Top-1: 3 / 6 = 0.5. Top-k with k = 3 = all classes: 6 / 6.
        var confusion = new ConfusionMatrix([[2, 1, 0], [1, 1, 1], [0, 0, 0]]);
        return new DetailedEvaluation(["cat, domestic", "dog", "bird"], confusion, top5Correct: 6, topK: 3, TimeSpan.FromSeconds(1.5));
    }

    private static EvaluationReport Teacher() => new(
        "teacher",
        new ModelFootprint(1_186_986, 1_186_986, 4_748_123),
        ThreeClasses(),
        new SpeedMeasurement(256, 1234.5, 1000 / 1234.5, 2.25));

    private static EvaluationReport Student() => new("student \"small\"", new ModelFootprint(267_738, 267_000, 1_071_234), ThreeClasses());

    private static string[] Lines(string csv)
    {
        csv.Should().EndWith("\r\n", "RFC 4180 ends every record with CRLF");
        return csv[..^2].Split("\r\n");
    }

    private static string Write(Action<TextWriter> write)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        write(writer);
        return writer.ToString();
    }

    [Fact]
    public void Json_round_trips_the_key_numbers()
    {
        var report = Teacher();

        var read = EvaluationReport.FromJson(report.ToJson());

        read.ModelName.Should().Be("teacher");
        read.Footprint.Should().Be(report.Footprint);
        read.Speed.Should().Be(report.Speed);
        read.Evaluation.Top1Accuracy.Should().Be(0.5);
        read.Evaluation.Top5Accuracy.Should().Be(1);
        read.Evaluation.TopK.Should().Be(3);
        read.Evaluation.Elapsed.Should().Be(TimeSpan.FromSeconds(1.5));
        read.Evaluation.ClassNames.Should().Equal("cat, domestic", "dog", "bird");
        read.Evaluation.Confusion.ToArray().Should().BeEquivalentTo(report.Evaluation.Confusion.ToArray(), o => o.WithStrictOrdering());
        read.Evaluation.PerClass.Select(c => c.Accuracy).Take(2).Should().Equal(2.0 / 3, 1.0 / 3);
        double.IsNaN(read.Evaluation.PerClass[2].Accuracy).Should().BeTrue();
    }

    [Fact]
    public void Json_is_camel_case_indented_and_writes_nan_by_name()
    {
        var json = Student().ToJson();

        json.Should().Contain("\n  \"modelName\": ");
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        root.GetProperty("modelName").GetString().Should().Be("student \"small\"");
        root.GetProperty("footprint").GetProperty("trainableParameters").GetInt64().Should().Be(267_000);
        root.GetProperty("speed").ValueKind.Should().Be(JsonValueKind.Null);
        var evaluation = root.GetProperty("evaluation");
        evaluation.GetProperty("top1Accuracy").GetDouble().Should().Be(0.5);
        evaluation.GetProperty("confusion")[1].EnumerateArray().Select(e => e.GetInt64()).Should().Equal(1, 1, 1);
        evaluation.GetProperty("perClass")[2].GetProperty("accuracy").GetString().Should().Be("NaN");
        EvaluationReport.FromJson(json).Speed.Should().BeNull();
    }

    [Fact]
    public void Json_with_inconsistent_counts_is_rejected()
    {
        var json = Teacher().ToJson().Replace("\"top5Correct\": 6", "\"top5Correct\": 7", StringComparison.Ordinal);

        var act = () => EvaluationReport.FromJson(json);

        act.Should().Throw<JsonException>().WithMessage("*top-5*");
    }

    [Fact]
    public void Summary_csv_has_one_row_per_model_and_blank_speed_when_unmeasured()
    {
        var csv = Write(w => EvaluationReport.WriteSummaryCsv(w, [Teacher(), Student()]));

        Lines(csv).Should().Equal(
            "model,parameters,trainable_parameters,weight_bytes,images,top1_accuracy,top5_accuracy,top_k,evaluation_seconds,speed_batch_size,images_per_second,ms_per_image_at_batch_size,ms_per_image_at_batch_size_1",
            $"teacher,1186986,1186986,4748123,6,0.5,1,3,1.5,256,1234.5,{(1000 / 1234.5).ToString("R", CultureInfo.InvariantCulture)},2.25",
            "\"student \"\"small\"\"\",267738,267000,1071234,6,0.5,1,3,1.5,,,,");
    }

    [Fact]
    public void Csv_numbers_ignore_the_current_culture()
    {
        var culture = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");

            var csv = Write(w => EvaluationReport.WriteSummaryCsv(w, [Teacher()]));

            Lines(csv)[1].Should().StartWith("teacher,1186986,1186986,4748123,6,0.5,1,3,1.5,256,1234.5,");
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }

    [Fact]
    public void Per_class_csv_quotes_names_with_commas_and_leaves_nan_blank()
    {
        var csv = Write(w => EvaluationReport.WritePerClassCsv(w, [Teacher()]));

        Lines(csv).Should().Equal(
            "model,class,images,correct,accuracy",
            $"teacher,\"cat, domestic\",3,2,{(2.0 / 3).ToString("R", CultureInfo.InvariantCulture)}",
            $"teacher,dog,3,1,{(1.0 / 3).ToString("R", CultureInfo.InvariantCulture)}",
            "teacher,bird,0,0,");
    }

    [Fact]
    public void Confusion_csv_has_every_cell_by_class_name()
    {
        var csv = Write(w => EvaluationReport.WriteConfusionCsv(w, [Teacher(), Student()]));

        var lines = Lines(csv);
        lines[0].Should().Be("model,true,predicted,count");
        lines.Should().HaveCount(1 + 2 * 9);
        lines[1..4].Should().Equal(
            "teacher,\"cat, domestic\",\"cat, domestic\",2",
            "teacher,\"cat, domestic\",dog,1",
            "teacher,\"cat, domestic\",bird,0");
        lines[6].Should().Be("teacher,dog,bird,1");
        lines[10].Should().Be("\"student \"\"small\"\"\",\"cat, domestic\",\"cat, domestic\",2");
    }

    [Fact]
    public void Csv_files_are_written_into_the_folder()
    {
        using var folder = new TempFolder();
        var target = Path.Combine(folder.Path, "reports");

        var paths = EvaluationReport.WriteCsvFiles(target, [Teacher(), Student()]);

        paths.Select(Path.GetFileName).Should().Equal(EvaluationReport.SummaryCsvFileName, EvaluationReport.PerClassCsvFileName, EvaluationReport.ConfusionCsvFileName);
        Directory.GetFiles(target).Should().HaveCount(3);
        File.ReadAllText(paths[1]).Should().Be(Write(w => EvaluationReport.WritePerClassCsv(w, [Teacher(), Student()])));
    }

    [Fact]
    public void History_csv_has_a_column_for_every_loss_part_of_any_run()
    {
        static EpochReport Epoch(TrainingPhase phase, int epoch, double loss, Dictionary<string, double> parts, double? accuracy) =>
            new(phase, epoch, 2, loss, parts, accuracy, Images: 1000, TrainingTime: TimeSpan.FromSeconds(4));

        var student = new TrainingResult(
            TrainingPhase.StudentAlone, "cross-entropy", 100,
            [Epoch(TrainingPhase.StudentAlone, 1, 1.5, new() { ["ce"] = 1.5 }, null), Epoch(TrainingPhase.StudentAlone, 2, 1.25, new() { ["ce"] = 1.25 }, 0.5)],
            null, TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(9));
        var distilled = new TrainingResult(
            TrainingPhase.Distillation, "kd", 100,
            [Epoch(TrainingPhase.Distillation, 1, 3, new() { ["ce"] = 1, ["kd"] = 2 }, 0.25)],
            null, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(5));

        var csv = Write(w => TrainingResult.WriteHistoryCsv(w, [("student", student), ("distilled, T=4", distilled)]));

        Lines(csv).Should().Equal(
            "run,phase,epoch,mean_loss,loss_ce,loss_kd,accuracy,images_per_second,seconds",
            "student,StudentAlone,1,1.5,1.5,,,250,4",
            "student,StudentAlone,2,1.25,1.25,,0.5,250,4",
            "\"distilled, T=4\",Distillation,1,3,1,2,0.25,250,4");
    }

    [Fact]
    public void Atomic_write_replaces_the_file_and_leaves_no_temporary_file()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "sub", "report.json");

        AtomicFile.WriteAllText(path, "old, and longer than the new content");
        AtomicFile.WriteAllText(path, "new é");

        File.ReadAllBytes(path).Should().Equal("new é"u8.ToArray(), "UTF-8 without a byte-order mark");
        Directory.GetFiles(Path.GetDirectoryName(path)!).Should().Equal(path);
    }

    [Fact]
    public void A_failed_atomic_write_keeps_the_old_content()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "weights.bin");
        AtomicFile.WriteAllText(path, "old");

        var act = () => AtomicFile.Write(path, stream =>
        {
            stream.Write([1, 2, 3]);
            throw new IOException("disk full");
        });

        act.Should().Throw<IOException>().WithMessage("*was not written (any previous file is unchanged): disk full");
        File.ReadAllText(path).Should().Be("old");
        Directory.GetFiles(folder.Path).Should().Equal(path);
    }

    [Fact]
    public void An_atomic_writer_may_close_the_stream_it_is_given()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "closed.bin");

        AtomicFile.Write(path, stream =>
        {
            stream.Write([7, 8]);
            stream.Dispose();
        });

        File.ReadAllBytes(path).Should().Equal(7, 8);
    }

    [Theory]
    [InlineData("modelName")]
    [InlineData("footprint")]
    [InlineData("evaluation")]
    public void Json_without_the_model_name_footprint_or_evaluation_is_not_a_report(string missing)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(Teacher().ToJson())!.AsObject();
        node.Remove(missing);

        var act = () => EvaluationReport.FromJson(node.ToJsonString());

        act.Should().Throw<JsonException>().WithMessage("*not an evaluation report*");
    }

    [Fact]
    public void Null_arguments_of_the_writers_are_rejected_by_name()
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        var writes = new (string Name, Action<TextWriter, IEnumerable<EvaluationReport>> Write)[]
        {
            ("summary", EvaluationReport.WriteSummaryCsv), ("per class", EvaluationReport.WritePerClassCsv), ("confusion", EvaluationReport.WriteConfusionCsv),
        };

        foreach (var (name, write) in writes)
        {
            FluentActions.Invoking(() => write(null!, [Teacher()])).Should().Throw<ArgumentNullException>(name).WithParameterName("writer");
            FluentActions.Invoking(() => write(writer, null!)).Should().Throw<ArgumentNullException>(name).WithParameterName("reports");
        }

        writer.ToString().Should().BeEmpty("nothing is written before the checks");
        FluentActions.Invoking(() => EvaluationReport.WriteCsvFiles(" ", [Teacher()])).Should().Throw<ArgumentException>().WithParameterName("folder");
        FluentActions.Invoking(() => EvaluationReport.WriteCsvFiles("somewhere", null!)).Should().Throw<ArgumentNullException>().WithParameterName("reports");
        FluentActions.Invoking(() => EvaluationReport.FromJson(null!)).Should().Throw<ArgumentNullException>().WithParameterName("json");
        FluentActions.Invoking(() => TrainingResult.WriteHistoryCsv(null!, [])).Should().Throw<ArgumentNullException>().WithParameterName("writer");
        FluentActions.Invoking(() => TrainingResult.WriteHistoryCsv(writer, null!)).Should().Throw<ArgumentNullException>().WithParameterName("runs");
    }

    [Fact]
    public void The_history_file_holds_the_table_the_writer_writes()
    {
        var run = new TrainingResult(
            TrainingPhase.Teacher, "cross-entropy", 10,
            [new EpochReport(TrainingPhase.Teacher, 1, 1, 0.75, new Dictionary<string, double> { ["ce"] = 0.75 }, 0.5, Images: 10, TrainingTime: TimeSpan.FromSeconds(2))],
            null, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(3));
        var folder = Path.Combine(Path.GetTempPath(), $"history-{Guid.NewGuid():N}");
        var path = Path.Combine(folder, "history.csv");
        try
        {
            TrainingResult.WriteHistoryCsvFile(path, [("teacher", run)]);

            File.ReadAllText(path).Should().Be(Write(w => TrainingResult.WriteHistoryCsv(w, [("teacher", run)])));
            Lines(File.ReadAllText(path)).Should().HaveCount(2);
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }
}
