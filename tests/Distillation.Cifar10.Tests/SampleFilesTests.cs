using Distillation.Evaluation;

namespace Distillation.Cifar10.Tests;

/// <summary>Issue 14, item 3: every output goes through AtomicFile; a full disk costs only the file it hits, reported in one line.</summary>
public sealed class SampleFilesTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "distill-files-" + Guid.NewGuid().ToString("N"));
    private readonly List<string> warnings = [];
    private readonly List<string> infos = [];

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static RunReports Reports()
    {
        var reports = new RunReports();
        foreach (var evaluation in Synthetic.NotebookEvaluations())
        {
            reports.Add(evaluation);
        }

        return reports;
    }

    [Fact]
    public void A_full_disk_while_writing_results_json_keeps_the_previous_file_and_still_writes_the_reports_and_charts()
    {
        Directory.CreateDirectory(folder);
        var results = Path.Combine(folder, "results.json");
        File.WriteAllText(results, "{\"previous\":true}");
        var disk = new FullDisk(name => name == "results.json");

        var failures = SampleFiles.WriteOutputs(folder, Synthetic.Notebook(perEpochAccuracy: true), Reports(), charts: true, infos.Add, warnings.Add, disk.Write);

        failures.Should().Be(1);
        warnings.Should().ContainSingle().Which.Should().Match("results.json not written: *results.json was not written*No space left on device*")
            .And.NotContain("\n");
        File.ReadAllText(results).Should().Be("{\"previous\":true}", "the previous results are never replaced by a cut file");
        Directory.EnumerateFiles(folder).Select(Path.GetFileName).Should().NotContain(n => n!.EndsWith(".tmp", StringComparison.Ordinal), "no temporary file is left")
            .And.Contain(["report-teacher.json", EvaluationReport.SummaryCsvFileName, Charts.PerClassFileName, Charts.TrainingCurvesFileName]);
    }

    [Fact]
    public void A_disk_that_fills_up_reports_each_file_once_and_leaves_nothing_behind()
    {
        var disk = new FullDisk(_ => true);

        var failures = SampleFiles.WriteOutputs(folder, Synthetic.Notebook(perEpochAccuracy: true), Reports(), charts: true, infos.Add, warnings.Add, disk.Write);

        failures.Should().Be(1 + 3 + 3 + 3, "results.json, three reports, three tables and three charts");
        warnings.Should().HaveCount(failures).And.OnlyContain(w => w.Contains("No space left on device") && !w.Contains('\n'));
        Directory.EnumerateFiles(folder).Should().BeEmpty();
    }

    [Fact]
    public void Results_json_is_written_with_a_unique_temporary_name_even_when_a_stale_tmp_exists()
    {
        Directory.CreateDirectory(folder);
        var stale = Path.Combine(folder, "results.json.tmp");
        File.WriteAllText(stale, "left by an older version");

        Synthetic.Notebook().WriteTo(Path.Combine(folder, "results.json"));

        File.ReadAllText(Path.Combine(folder, "results.json")).Should().Contain("\"runs\"");
        File.ReadAllText(stale).Should().Be("left by an older version", "the fixed name is no longer used");
    }
}
