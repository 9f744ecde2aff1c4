using Distillation.Training;
using ScottPlot;

namespace Distillation.Cifar10.Tests;

public sealed class ChartsTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "distill-charts-" + Guid.NewGuid().ToString("N"));
    private readonly List<string> warnings = [];

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_notebook_gives_three_valid_PNG_files_of_the_declared_sizes(bool perEpochAccuracy)
    {
        var written = Charts.WriteAll(folder, Synthetic.Notebook(perEpochAccuracy), Synthetic.NotebookEvaluations(), warnings.Add);

        warnings.Should().BeEmpty();
        written.Select(Path.GetFileName).Should().Equal(Charts.TrainingCurvesFileName, Charts.PerClassFileName, Charts.ConfusionFileName);
        ShouldBeChart(Charts.TrainingCurvesFileName, Charts.TrainingCurvesSize);
        ShouldBeChart(Charts.PerClassFileName, Charts.PerClassSize);
        ShouldBeChart(Charts.ConfusionFileName, Charts.ConfusionSize);
        Directory.GetFiles(folder).Should().HaveCount(3, "the temporary files are renamed, none is left behind");
    }

    [Fact]
    public void A_seeds_comparison_with_a_loaded_teacher_gives_the_three_charts()
    {
        var evaluations = new List<ModelEvaluation> { Synthetic.Evaluation("Teacher", null, TrainingPhase.Teacher) };
        foreach (var seed in new long[] { 42, 43 })
        {
            evaluations.Add(Synthetic.Evaluation("Student baseline", seed, TrainingPhase.StudentAlone));
            evaluations.Add(Synthetic.Evaluation("(a) KD from baseline", seed, TrainingPhase.Distillation));
            evaluations.Add(Synthetic.Evaluation("(b) CE continued", seed, TrainingPhase.StudentAlone));
            evaluations.Add(Synthetic.Evaluation("(c) KD from scratch", seed, TrainingPhase.Distillation));
        }

        var written = Charts.WriteAll(folder, Synthetic.Seeds(42, 43), evaluations, warnings.Add);

        warnings.Should().BeEmpty();
        written.Should().HaveCount(3);
        ShouldBeChart(Charts.TrainingCurvesFileName, Charts.TrainingCurvesSize);
        ShouldBeChart(Charts.PerClassFileName, Charts.PerClassSize);
        ShouldBeChart(Charts.ConfusionFileName, Charts.ConfusionSize);
    }

    [Fact]
    public void Curves_hold_every_run_with_epochs_and_skip_a_loaded_teacher()
    {
        var curves = Charts.CurvesOf(Synthetic.Seeds(42, 43));

        curves.Select(c => (c.Kind, c.Seed)).Should().Equal(
            ("Student baseline", 42L), ("(a) KD from baseline", 42L), ("(b) CE continued", 42L), ("(c) KD from scratch", 42L),
            ("Student baseline", 43L), ("(a) KD from baseline", 43L), ("(b) CE continued", 43L), ("(c) KD from scratch", 43L));
    }

    [SkippableFact]
    public void Labels_get_a_sans_serif_font_from_its_file_when_skia_sees_no_system_font()
    {
        var dejaVu = Directory.Exists("/usr/share/fonts") ? Directory.EnumerateFiles("/usr/share/fonts", "DejaVuSans.ttf", SearchOption.AllDirectories).FirstOrDefault() : null;
        Skip.If(dejaVu is null, "DejaVu Sans is not installed");

        Charts.UseSansSerifFont();

        ScottPlot.Fonts.Default.Should().Be("DejaVu Sans", "without a font every label of every chart is blank");
    }

    [Fact]
    public void Curves_hold_a_recipes_control_and_distilled_student_per_seed()
    {
        RecipeSeedRuns Seed(long seed, bool control) => new(
            seed,
            control ? Synthetic.Run(RecipeComparison.ControlName, TrainingPhase.StudentAlone, [2.0, 1.0], 0.7) : null,
            Synthetic.Run(RecipeComparison.DistilledName, TrainingPhase.Distillation, [3.0, 2.0], 0.72));
        var results = Synthetic.Notebook() with { Runs = [] };
        results = results with { Recipe = RecipeComparison.Of([Seed(42, control: true), Seed(43, control: true)], "test") };

        Charts.CurvesOf(results).Select(c => (c.Kind, c.Seed)).Should().Equal(
            (RecipeComparison.ControlName, 42L), (RecipeComparison.DistilledName, 42L), (RecipeComparison.ControlName, 43L), (RecipeComparison.DistilledName, 43L));
        Charts.CurvesOf(results with { Recipe = RecipeComparison.Of([Seed(44, control: false)], "validation") })
            .Select(c => (c.Kind, c.Seed)).Should().Equal((RecipeComparison.DistilledName, 44L));
    }

    [Fact]
    public void Accuracy_charts_name_the_split_they_were_measured_on()
    {
        var notebook = Synthetic.Notebook(perEpochAccuracy: true);
        var withValidation = notebook with { Settings = notebook.Settings with { ValidationCount = 50 } };
        var recipeRun = new RecipeSeedRuns(42, null, Synthetic.Run(RecipeComparison.DistilledName, TrainingPhase.Distillation, [3.0, 2.0], 0.72));
        var choosing = withValidation with { TestImages = 50, Recipe = RecipeComparison.Of([recipeRun], "validation") };

        Charts.EvaluatedOn(notebook, perEpoch: true).Should().Be(("test", notebook.TestImages));
        Charts.EvaluatedOn(withValidation, perEpoch: true).Should().Be(("validation", 50), "every epoch is evaluated on the validation split");
        Charts.EvaluatedOn(withValidation, perEpoch: false).Should().Be(("test", notebook.TestImages), "the final evaluation is on the test set");
        Charts.EvaluatedOn(choosing, perEpoch: false).Should().Be(("validation", 50), "a recipe's choosing runs never touch the test set");
    }

    [Fact]
    public void Kinds_pool_their_seeds_and_the_confusion_chart_takes_the_first_distilled_kind()
    {
        var kinds = Charts.KindsOf(
        [
            Synthetic.Evaluation("Teacher", null, TrainingPhase.Teacher),
            Synthetic.Evaluation("Student baseline", 42, TrainingPhase.StudentAlone, 10),
            Synthetic.Evaluation("(a) KD", 42, TrainingPhase.Distillation, 20),
            Synthetic.Evaluation("Student baseline", 43, TrainingPhase.StudentAlone, 30),
            Synthetic.Evaluation("(a) KD", 43, TrainingPhase.Distillation, 40),
        ]);

        kinds.Select(k => k.Name).Should().Equal("Teacher", "Student baseline", "(a) KD");
        kinds[1].Seeds.Should().Equal(42L, 43L);
        kinds[1].Confusion.Total.Should().Be(1000, "two seeds of 500 images");
        kinds[1].Confusion[0, 0].Should().Be(40, "10 + 30 right in class 0");
        kinds[1].Confusion.ToRowFractions()[0][0].Should().Be(0.4);
    }

    [Fact]
    public void The_heatmap_cells_lie_under_their_rows_and_columns()
    {
        // Class 0 is always taken for class 1 (0 % on its diagonal, 100 % right of it); the other
        // classes are always right (100 % on the diagonal).
        var correct = Enumerable.Repeat(50, 10).ToArray();
        correct[0] = 0;
        var kind = Charts.KindsOf([Synthetic.Evaluation("Distilled", null, TrainingPhase.Distillation, correct)])[0];
        var plot = Charts.ConfusionPlot(kind);
        var png = plot.GetImageBytes((int)Charts.ConfusionSize.Width, (int)Charts.ConfusionSize.Height, ImageFormat.Png);

        // Sampled off the cell centre, where the value is written.
        SKColorAt(plot, png, trueClass: 0, predicted: 0).Should().Match<SkiaSharp.SKColor>(c => IsDark(c), "0 % is the low end of the colormap");
        SKColorAt(plot, png, trueClass: 0, predicted: 1).Should().Match<SkiaSharp.SKColor>(c => IsBright(c), "100 % of airplanes went to automobile");
        SKColorAt(plot, png, trueClass: 1, predicted: 1).Should().Match<SkiaSharp.SKColor>(c => IsBright(c));
        SKColorAt(plot, png, trueClass: 1, predicted: 0).Should().Match<SkiaSharp.SKColor>(c => IsDark(c));
        SKColorAt(plot, png, trueClass: 9, predicted: 9).Should().Match<SkiaSharp.SKColor>(c => IsBright(c));
        SKColorAt(plot, png, trueClass: 9, predicted: 0).Should().Match<SkiaSharp.SKColor>(c => IsDark(c));
        SKColorAt(plot, png, trueClass: 8, predicted: 9).Should().Match<SkiaSharp.SKColor>(c => IsDark(c));
    }

    [Fact]
    public void Without_evaluations_only_the_training_curves_are_drawn()
    {
        var written = Charts.WriteAll(folder, Synthetic.Notebook(), [], warnings.Add);

        written.Select(Path.GetFileName).Should().Equal(Charts.TrainingCurvesFileName);
        warnings.Should().BeEmpty();
    }

    [Fact]
    public void A_chart_that_cannot_be_written_is_a_warning_not_an_exception()
    {
        // A file where the output folder should be: nothing can be created in it.
        File.WriteAllText(folder, "not a folder");
        try
        {
            var written = Charts.WriteAll(Path.Combine(folder, "charts"), Synthetic.Notebook(), Synthetic.NotebookEvaluations(), warnings.Add);

            written.Should().BeEmpty();
            warnings.Should().HaveCount(3).And.OnlyContain(w => w.StartsWith("chart ", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(folder);
        }
    }

    [Fact]
    public void A_chart_that_fails_to_render_leaves_the_existing_file_and_the_others()
    {
        Directory.CreateDirectory(folder);
        var previous = Path.Combine(folder, Charts.PerClassFileName);
        File.WriteAllText(previous, "previous chart");

        // Evaluations of different class counts cannot be pooled: the per-class and confusion charts fail.
        var eleven = new Distillation.Evaluation.ConfusionMatrix(Enumerable.Range(0, 11).Select(_ => (IReadOnlyList<long>)new long[11]).ToArray());
        var broken = Synthetic.NotebookEvaluations().Append(Synthetic.Evaluation("Student", null, TrainingPhase.StudentAlone) with
        {
            Report = Synthetic.NotebookEvaluations()[0].Report with
            {
                Evaluation = new Distillation.Evaluation.DetailedEvaluation(Enumerable.Range(0, 11).Select(i => $"c{i}").ToArray(), eleven, 0, 5, TimeSpan.Zero),
            },
        }).ToArray();

        var written = Charts.WriteAll(folder, Synthetic.Notebook(), broken, warnings.Add);

        written.Select(Path.GetFileName).Should().Equal(Charts.TrainingCurvesFileName);
        warnings.Should().NotBeEmpty();
        File.ReadAllText(previous).Should().Be("previous chart", "a failed chart does not replace the last good one");
    }

    private static bool IsBright(SkiaSharp.SKColor c) => c.Red > 180 && c.Green > 180 && c.Blue < 120;

    private static bool IsDark(SkiaSharp.SKColor c) => c.Red < 100 && c.Green < 60 && c.Blue > 50 && c.Blue < 140;

    private static SkiaSharp.SKColor SKColorAt(Plot plot, byte[] png, int trueClass, int predicted)
    {
        var pixel = plot.GetPixel(new Coordinates(predicted + 0.3, 9 - trueClass + 0.3));
        return Png.PixelAt(png, pixel.X, pixel.Y);
    }

    private void ShouldBeChart(string file, PixelSize size)
    {
        var png = File.ReadAllBytes(Path.Combine(folder, file));
        Png.Header(png).Should().Be(((int)size.Width, (int)size.Height));
        Png.DistinctColors(png).Should().BeGreaterThan(20, "a chart has lines or bars, text and antialiasing, not one flat colour");
    }
}
