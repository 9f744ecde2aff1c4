using Distillation.Evaluation;
using Distillation.Training;

namespace Distillation.Cifar10.Tests;

public sealed class RunReportsTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "distill-reports-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("Teacher", "report-teacher.json")]
    [InlineData("Distilled student", "report-distilled-student.json")]
    [InlineData("(a) KD from baseline, seed 42", "report-a-kd-from-baseline-seed-42.json")]
    [InlineData("(c) KD from scratch, seed -7", "report-c-kd-from-scratch-seed-7.json")]
    public void Report_file_names_are_lower_case_words_joined_by_hyphens(string run, string file) =>
        RunReports.ReportFileName(run).Should().Be(file);

    [Fact]
    public void Run_names_carry_the_seed_when_there_is_one()
    {
        ModelEvaluation.NameOf("Student baseline", 42).Should().Be("Student baseline, seed 42");
        ModelEvaluation.NameOf("Student", null).Should().Be("Student");
    }

    [Fact]
    public void Every_model_gets_a_JSON_report_and_all_runs_share_the_CSV_tables()
    {
        var reports = new RunReports();
        reports.AddHistory("Teacher", History(TrainingPhase.Teacher, 1.5, 0.9));
        reports.AddHistory("Student, seed 42", History(TrainingPhase.StudentAlone, 2.0, 1.7));
        foreach (var evaluation in Synthetic.NotebookEvaluations())
        {
            reports.Add(evaluation);
        }

        var written = reports.WriteFiles(folder);

        written.Select(Path.GetFileName).Should().BeEquivalentTo(
            "report-teacher.json", "report-student.json", "report-distilled-student.json",
            RunReports.HistoryFileName, EvaluationReport.SummaryCsvFileName, EvaluationReport.PerClassCsvFileName, EvaluationReport.ConfusionCsvFileName);
        var teacher = EvaluationReport.FromJson(File.ReadAllText(Path.Combine(folder, "report-teacher.json")));
        teacher.ModelName.Should().Be("Teacher");
        teacher.Evaluation.Confusion.ToArray().Should().BeEquivalentTo(Synthetic.NotebookEvaluations()[0].Report.Evaluation.Confusion.ToArray());
        teacher.Speed.Should().NotBeNull();

        var history = File.ReadAllLines(Path.Combine(folder, RunReports.HistoryFileName));
        history.Should().HaveCount(1 + 4, "a header and two epochs of each run");
        history[1].Should().StartWith("Teacher,Teacher,1,1.5,");
        history[4].Should().StartWith("\"Student, seed 42\",StudentAlone,2,1.7,");
        File.ReadAllLines(Path.Combine(folder, EvaluationReport.SummaryCsvFileName)).Should().HaveCount(1 + 3);
        File.ReadAllLines(Path.Combine(folder, EvaluationReport.PerClassCsvFileName)).Should().HaveCount(1 + 3 * 10);
        File.ReadAllLines(Path.Combine(folder, EvaluationReport.ConfusionCsvFileName)).Should().HaveCount(1 + 3 * 100);
    }

    [Fact]
    public void Without_runs_nothing_is_written()
    {
        new RunReports().WriteFiles(folder).Should().BeEmpty();
        Directory.Exists(folder).Should().BeFalse();
    }

    private static TrainingResult History(TrainingPhase phase, params double[] losses) => new(
        phase,
        "cross-entropy",
        1000,
        losses.Select((l, i) => new EpochReport(phase, i + 1, losses.Length, l, new Dictionary<string, double>(), i == losses.Length - 1 ? 0.5 : null, 1000, TimeSpan.FromSeconds(2), 0.001)).ToArray(),
        new EvaluationResult(50, 100, TimeSpan.FromSeconds(1)),
        TimeSpan.FromSeconds(4),
        TimeSpan.FromSeconds(5));
}
