using System.Globalization;
using Distillation.Evaluation;
using Distillation.IO;
using Distillation.Training;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace Distillation.Cifar10;

/// <summary>
/// The sample's PNG charts (ScottPlot): the training curves of every run, the accuracy of each class
/// per model, and the confusion matrix of the distilled student. Each chart is written atomically
/// and on its own: one that fails is reported and skipped, so the results are never lost to a chart.
/// </summary>
internal static class Charts
{
    /// <summary>Per-epoch training loss and test accuracy of every run.</summary>
    public const string TrainingCurvesFileName = "training-curves.png";

    /// <summary>Accuracy of each class, one bar per model kind.</summary>
    public const string PerClassFileName = "per-class-accuracy.png";

    /// <summary>The distilled student's confusion matrix, row-normalised.</summary>
    public const string ConfusionFileName = "confusion-matrix.png";

    /// <summary>Pixel sizes of the charts.</summary>
    public static readonly PixelSize TrainingCurvesSize = new(1400, 560);

    /// <summary>Pixel size of the per-class chart.</summary>
    public static readonly PixelSize PerClassSize = new(1300, 600);

    /// <summary>Pixel size of the confusion chart.</summary>
    public static readonly PixelSize ConfusionSize = new(960, 840);

    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;
    private static readonly LinePattern[] SeedPatterns = [LinePattern.Solid, LinePattern.Dashed, LinePattern.Dotted, LinePattern.DenselyDashed];
    private static readonly MarkerShape[] SeedMarkers = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond];

    /// <summary>
    /// Writes the charts that the data allows into <paramref name="folder"/>: the training curves
    /// when a run has epochs, the per-class and confusion charts when models were evaluated (the
    /// confusion matrix is that of the first kind trained by distillation, summed over seeds). A chart
    /// that cannot be drawn or written is reported to <paramref name="warn"/> and skipped; this
    /// method does not throw for it.
    /// </summary>
    /// <returns>The paths written.</returns>
    public static IReadOnlyList<string> WriteAll(string folder, SampleResults results, IReadOnlyList<ModelEvaluation> evaluations, Action<string> warn, FileWriter? writer = null)
    {
        try
        {
            UseSansSerifFont();
        }
#pragma warning disable CA1031 // Only the looks change: the charts are drawn in ScottPlot's default font.
        catch (Exception e)
#pragma warning restore CA1031
        {
            warn($"charts: no sans-serif font chosen: {e.GetType().Name}: {e.Message}");
        }

        // Everything, the preparation of the data included, happens inside each chart's own try.
        var written = new List<string>();
        var charts = new List<(string File, Func<byte[]> Render)>();
        if (CurvesOf(results).Count > 0)
        {
            charts.Add((TrainingCurvesFileName, () => TrainingCurves(CurvesOf(results), results)));
        }

        if (evaluations.Count > 0)
        {
            charts.Add((PerClassFileName, () => PerClassAccuracy(KindsOf(evaluations), results)));
        }

        if (evaluations.FirstOrDefault(e => e.Phase == TrainingPhase.Distillation) is { } distilled)
        {
            charts.Add((ConfusionFileName, () => ConfusionHeatmap(KindsOf(evaluations).First(k => k.Name == distilled.Kind))));
        }

        foreach (var (file, render) in charts)
        {
            var path = Path.Combine(folder, file);
            try
            {
                var png = render();
                (writer ?? AtomicFile.Write)(path, stream => stream.Write(png));
                written.Add(path);
            }
#pragma warning disable CA1031 // A chart is a by-product: whatever goes wrong (native Skia, fonts, disk), the results stand.
            catch (Exception e)
#pragma warning restore CA1031
            {
                warn($"chart {file} not written: {e.GetType().Name}: {e.Message}");
            }
        }

        return written;
    }

    /// <summary>One run's epochs, for the training curves.</summary>
    internal sealed record Curve(string Kind, long? Seed, IReadOnlyList<EpochSummary> Epochs, double FinalAccuracy);

    /// <summary>A model kind's evaluations, pooled over seeds.</summary>
    internal sealed record Kind(string Name, TrainingPhase Phase, IReadOnlyList<long?> Seeds, IReadOnlyList<string> ClassNames, ConfusionMatrix Confusion);

    /// <summary>Every run with epochs: the notebook's runs, then each seed's four, or a recipe's control and distilled student per seed.</summary>
    internal static IReadOnlyList<Curve> CurvesOf(SampleResults results)
    {
        var curves = results.Runs.Where(r => r.Epochs.Count > 0).Select(r => new Curve(r.Name, null, r.Epochs, r.TestAccuracy ?? double.NaN)).ToList();
        foreach (var seed in results.Comparison?.Runs ?? [])
        {
            foreach (var run in new[] { seed.Baseline, seed.KdFromBaseline, seed.CeContinued, seed.KdFromScratch })
            {
                if (run.Epochs.Count > 0)
                {
                    curves.Add(new Curve(run.Name, seed.Seed, run.Epochs, run.TestAccuracy ?? double.NaN));
                }
            }
        }

        foreach (var seed in results.Recipe?.Runs ?? [])
        {
            foreach (var run in new[] { seed.Control, seed.Distilled })
            {
                if (run is { Epochs.Count: > 0 })
                {
                    curves.Add(new Curve(run.Name, seed.Seed, run.Epochs, run.TestAccuracy ?? double.NaN));
                }
            }
        }

        return curves;
    }

    /// <summary>The evaluations grouped by kind, in order of first appearance, their confusion matrices summed over seeds.</summary>
    internal static IReadOnlyList<Kind> KindsOf(IReadOnlyList<ModelEvaluation> evaluations) => evaluations
        .GroupBy(e => e.Kind, StringComparer.Ordinal)
        .Select(g => new Kind(
            g.Key,
            g.First().Phase,
            g.Select(e => e.Seed).ToArray(),
            g.First().Report.Evaluation.ClassNames,
            ConfusionMatrix.Sum(g.Select(e => e.Report.Evaluation.Confusion))))
        .ToArray();

    /// <summary>Loss per epoch (left) and test accuracy (right), one line per run: colour by kind, pattern by seed.</summary>
    internal static byte[] TrainingCurves(IReadOnlyList<Curve> curves, SampleResults results)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        var lossPlot = multiplot.GetPlot(0);
        var accuracyPlot = multiplot.GetPlot(1);

        var kindNames = curves.Select(c => c.Kind).Distinct(StringComparer.Ordinal).ToList();
        var seeds = curves.Select(c => c.Seed).Distinct().ToList();
        var palette = new ScottPlot.Palettes.Category10();
        var losses = curves.SelectMany(c => c.Epochs.Select(e => e.MeanLoss)).Where(l => double.IsFinite(l) && l > 0).ToArray();
        var logScale = losses.Length > 0 && losses.Max() / losses.Min() > 10;
        var maxEpoch = curves.Max(c => c.Epochs.Count == 0 ? 1 : c.Epochs.Max(e => e.Epoch));
        var showMarkers = maxEpoch <= 20;

        foreach (var curve in curves)
        {
            var color = palette.GetColor(kindNames.IndexOf(curve.Kind));
            var seedIndex = seeds.IndexOf(curve.Seed);
            var label = ModelEvaluation.NameOf(curve.Kind, curve.Seed);

            var points = curve.Epochs.Where(e => double.IsFinite(e.MeanLoss) && (!logScale || e.MeanLoss > 0)).ToArray();
            var loss = lossPlot.Add.Scatter(
                points.Select(e => (double)e.Epoch).ToArray(),
                points.Select(e => logScale ? Math.Log10(e.MeanLoss) : e.MeanLoss).ToArray(),
                color);
            Style(loss, seedIndex, showMarkers);
            loss.LegendText = label;

            // Every evaluated epoch; without them the final evaluation, at the last epoch.
            var evaluated = curve.Epochs.Where(e => e.Accuracy is { } a && double.IsFinite(a)).Select(e => (X: (double)e.Epoch, Y: e.Accuracy!.Value * 100)).ToList();
            if (evaluated.Count == 0 && double.IsFinite(curve.FinalAccuracy) && curve.Epochs.Count > 0)
            {
                evaluated.Add((curve.Epochs[^1].Epoch, curve.FinalAccuracy * 100));
            }

            if (evaluated.Count > 0)
            {
                var accuracy = accuracyPlot.Add.Scatter(evaluated.Select(p => p.X).ToArray(), evaluated.Select(p => p.Y).ToArray(), color);
                Style(accuracy, seedIndex, showMarkers: true);
                accuracy.MarkerSize = evaluated.Count == 1 ? 10 : accuracy.MarkerSize;
                accuracy.LegendText = label;
            }
        }

        lossPlot.Title("Training loss per epoch");
        lossPlot.XLabel("Epoch");
        lossPlot.YLabel(logScale ? "Mean batch loss (log scale)" : "Mean batch loss");
        if (logScale)
        {
            lossPlot.Axes.Left.TickGenerator = LogTicks(losses.Min(), losses.Max());
        }

        var anyPerEpoch = curves.Any(c => c.Epochs.Count(e => e.Accuracy is not null) > 1);
        var (split, images) = EvaluatedOn(results, anyPerEpoch);
        var subtitle = $"{results.TrainImages:N0} training / {images:N0} {split} images";
        accuracyPlot.Title(anyPerEpoch ? $"{Capitalized(split)} accuracy per epoch ({subtitle})" : $"Final {split} accuracy ({subtitle})");
        accuracyPlot.XLabel("Epoch");
        accuracyPlot.YLabel($"{Capitalized(split)} accuracy (%)");
        accuracyPlot.ShowLegend(Edge.Right);
        lossPlot.HideLegend();

        foreach (var plot in new[] { lossPlot, accuracyPlot })
        {
            plot.Axes.Bottom.TickGenerator = new NumericAutomatic { IntegerTicksOnly = true };
            plot.Axes.AutoScale();
            plot.Axes.SetLimitsX(0.5, maxEpoch + 0.5);
        }

        // Room above and below the points, at least ±1 point of accuracy.
        var limits = accuracyPlot.Axes.GetLimits();
        var pad = Math.Max(1, (limits.Top - limits.Bottom) * 0.1);
        accuracyPlot.Axes.SetLimitsY(Math.Max(0, limits.Bottom - pad), Math.Min(100, limits.Top + pad));
        return Png(multiplot, TrainingCurvesSize);
    }

    /// <summary>Grouped bars: for each class, one bar per model kind (the mean over seeds where there are several).</summary>
    internal static byte[] PerClassAccuracy(IReadOnlyList<Kind> kinds, SampleResults results)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var classNames = kinds[0].ClassNames;
        const double groupWidth = 0.8;
        var barWidth = groupWidth / kinds.Count;
        var bars = new List<Bar>();
        for (var k = 0; k < kinds.Count; k++)
        {
            var kind = kinds[k];
            var color = palette.GetColor(k);
            var fractions = kind.Confusion.ToRowFractions();
            for (var c = 0; c < kind.Confusion.ClassCount; c++)
            {
                var value = fractions[c][c];
                bars.Add(new Bar
                {
                    Position = c - groupWidth / 2 + (k + 0.5) * barWidth,
                    Value = double.IsFinite(value) ? value * 100 : 0,
                    Size = barWidth * 0.92,
                    FillColor = color,
                    LineWidth = 0,
                });
            }

            var overall = (double)kind.Confusion.Correct / Math.Max(1, kind.Confusion.Total) * 100;
            var seeds = kind.Seeds.Count > 1 ? $", mean of {kind.Seeds.Count} seeds" : string.Empty;
            plot.Legend.ManualItems.Add(new LegendItem
            {
                LabelText = string.Create(Invariant, $"{kind.Name} ({overall:F1} %{seeds})"),
                FillColor = color,
            });
        }

        plot.Add.Bars(bars);
        plot.Axes.Bottom.TickGenerator = new NumericManual(
            Enumerable.Range(0, classNames.Count).Select(c => (double)c).ToArray(),
            classNames.ToArray());
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.Bottom.TickLabelStyle.FontSize = 14;
        plot.Axes.SetLimits(-0.6, classNames.Count - 0.4, 0, 100);
        plot.Axes.Left.TickGenerator = new NumericFixedInterval(10);
        plot.Grid.XAxisStyle.MajorLineStyle.Width = 0;
        var (split, images) = EvaluatedOn(results, perEpoch: false);
        plot.Title($"{Capitalized(split)} accuracy per class ({images:N0} {split} images)");
        plot.YLabel("Accuracy (%)");
        plot.XLabel("True class");
        plot.ShowLegend(Edge.Right);
        return Png(plot, PerClassSize);
    }

    /// <summary>
    /// The split an accuracy was measured on, and its size. Per-epoch evaluations use the validation
    /// split when there is one; the final evaluation uses the test set, except in a recipe's choosing
    /// runs (<c>--recipe</c> with <c>--validation</c>), which never touch it.
    /// </summary>
    internal static (string Split, int Images) EvaluatedOn(SampleResults results, bool perEpoch) =>
        perEpoch && results.Settings.ValidationCount is { } validation
            ? ("validation", validation)
            : (results.Recipe?.EvaluatedOn ?? "test", results.TestImages);

    private static string Capitalized(string word) => char.ToUpperInvariant(word[0]) + word[1..];

    /// <summary>The confusion matrix as a heatmap of row percentages (each true class sums to 100 %), with the value in each cell.</summary>
    internal static byte[] ConfusionHeatmap(Kind kind) => Png(ConfusionPlot(kind), ConfusionSize);

    /// <summary>The plot of <see cref="ConfusionHeatmap"/>: cell (true t, predicted p) is centred on x = p, y = n − 1 − t.</summary>
    internal static Plot ConfusionPlot(Kind kind)
    {
        var plot = new Plot();
        var n = kind.Confusion.ClassCount;
        var fractions = kind.Confusion.ToRowFractions();

        // Row 0 of the data is drawn at the top: true class 0 first, as the matrix is read.
        var percent = new double[n, n];
        for (var t = 0; t < n; t++)
        {
            for (var p = 0; p < n; p++)
            {
                percent[t, p] = fractions[t][p] * 100;
            }
        }

        var heatmap = plot.Add.Heatmap(percent);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(0, 100);
        var colorBar = plot.Add.ColorBar(heatmap);
        colorBar.Label = "% of the true class's images";
        colorBar.LabelStyle.FontSize = 14;

        for (var t = 0; t < n; t++)
        {
            for (var p = 0; p < n; p++)
            {
                var value = percent[t, p];
                var text = plot.Add.Text(double.IsFinite(value) ? value.ToString("F0", Invariant) : "–", p, n - 1 - t);
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontSize = 13;
                text.LabelFontColor = value > 60 ? Colors.Black : Colors.White;
            }
        }

        var positions = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        plot.Axes.Bottom.TickGenerator = new NumericManual(positions, kind.ClassNames.ToArray());
        plot.Axes.Left.TickGenerator = new NumericManual(positions.Select(p => n - 1 - p).ToArray(), kind.ClassNames.ToArray());
        plot.Axes.Bottom.TickLabelStyle.Rotation = -40;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.UpperRight;
        plot.Axes.Bottom.MinimumSize = 90;
        plot.Axes.Bottom.TickLabelStyle.FontSize = 13;
        plot.Axes.Left.TickLabelStyle.FontSize = 13;
        plot.Axes.SetLimits(-0.5, n - 0.5, -0.5, n - 0.5);
        plot.Grid.IsVisible = false;

        var images = kind.Confusion.Total;
        var pooled = kind.Seeds.Count > 1 ? $", {kind.Seeds.Count} seeds pooled" : string.Empty;
        plot.Title(string.Create(Invariant, $"Confusion matrix: {kind.Name} ({(double)kind.Confusion.Correct / Math.Max(1, images):P1} of {images:N0}{pooled})"));
        plot.XLabel("Predicted class");
        plot.YLabel("True class");
        return plot;
    }

    /// <summary>
    /// Draws text in the first of a few common sans-serif families that the system has (DejaVu Sans
    /// on Debian); ScottPlot's own choice falls on a serif face there. Unchanged when none is found.
    /// </summary>
    internal static void UseSansSerifFont()
    {
        foreach (var family in new[] { "DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica" })
        {
            using var typeface = SkiaSharp.SKFontManager.Default.MatchFamily(family);
            if (typeface is not null && string.Equals(typeface.FamilyName, family, StringComparison.OrdinalIgnoreCase))
            {
                Fonts.Default = family;
                return;
            }
        }

        // SkiaSharp's self-contained Linux build has no fontconfig and sees no system font, so every
        // label would be blank: register the font files themselves.
        foreach (var (family, regular, bold) in new[]
        {
            ("DejaVu Sans", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
            ("Liberation Sans", "LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
            ("Noto Sans", "NotoSans-Regular.ttf", "NotoSans-Bold.ttf"),
        })
        {
            if (FindFontFile(regular) is { } regularPath)
            {
                Fonts.AddFontFile(family, regularPath);
                if (FindFontFile(bold) is { } boldPath)
                {
                    Fonts.AddFontFile(family, boldPath, bold: true);
                }

                Fonts.Default = family;
                return;
            }
        }
    }

    private static string? FindFontFile(string fileName) =>
        Directory.Exists("/usr/share/fonts")
            ? Directory.EnumerateFiles("/usr/share/fonts", fileName, SearchOption.AllDirectories).FirstOrDefault()
            : null;

    private static void Style(ScottPlot.Plottables.Scatter scatter, int seedIndex, bool showMarkers)
    {
        scatter.LineWidth = 2;
        scatter.LinePattern = SeedPatterns[Math.Max(0, seedIndex) % SeedPatterns.Length];
        scatter.MarkerShape = SeedMarkers[Math.Max(0, seedIndex) % SeedMarkers.Length];
        scatter.MarkerSize = showMarkers ? 6 : 0;
    }

    /// <summary>Ticks for log10-transformed values: majors at 1, 2 and 5 × 10ᵏ, minors at the other integers.</summary>
    private static NumericManual LogTicks(double min, double max)
    {
        var ticks = new NumericManual();
        for (var exponent = (int)Math.Floor(Math.Log10(min)) - 1; exponent <= (int)Math.Ceiling(Math.Log10(max)); exponent++)
        {
            for (var m = 1; m <= 9; m++)
            {
                var value = m * Math.Pow(10, exponent);
                if (m is 1 or 2 or 5)
                {
                    ticks.AddMajor(Math.Log10(value), value.ToString("0.###", Invariant));
                }
                else
                {
                    ticks.AddMinor(Math.Log10(value));
                }
            }
        }

        return ticks;
    }

    private static byte[] Png(Plot plot, PixelSize size) => plot.GetImageBytes((int)size.Width, (int)size.Height, ImageFormat.Png);

    private static byte[] Png(Multiplot multiplot, PixelSize size)
    {
        using var image = multiplot.Render((int)size.Width, (int)size.Height);
        return image.GetImageBytes(ImageFormat.Png);
    }
}
