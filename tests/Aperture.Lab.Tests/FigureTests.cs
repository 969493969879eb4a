using Aperture.Lab.Report;
using Aperture.Lab.Statistics;
using Aperture.Lab.Store;

namespace Aperture.Lab.Tests;

/// <summary>What the report's figures are made of: declared axes, means with intervals, non-finite values kept.</summary>
public class FigureTests
{
    [Fact]
    public void MetricAcrossSeedsGroupsEachPositionsValuesBySeed()
    {
        static StoredRun Run(int seed, params double[] values) => new($"{seed}".PadRight(32, '0'), "a", seed, 1, new Dictionary<string, double>(),
            new Dictionary<string, IReadOnlyList<(long, double)>> { ["m"] = [.. values.Select((v, i) => ((long)i, v))] }, new Dictionary<string, string>());
        var runs = new RunSet([Run(1, 10, 11, 12), Run(0, 0, 1, 2)]);
        var across = runs.MetricAcrossSeeds("a", "m");
        Assert.Equal(3, across.Count);
        Assert.Equal([0.0, 10.0], across[0]);   // seed order, not the order given
        Assert.Equal([2.0, 12.0], across[2]);
        Assert.Contains("no metric 'x'", Assert.Throws<KeyNotFoundException>(() => runs.MetricAcrossSeeds("a", "x")).Message);
        var ragged = new RunSet([Run(0, 1, 2), Run(1, 1)]);
        Assert.Contains("different numbers", Assert.Throws<InvalidOperationException>(() => ragged.MetricAcrossSeeds("a", "m")).Message);
    }

    private static StoredRun Run(string arm, int seed, string key, params double[] values) =>
        new($"{arm}-{seed}".PadRight(32, '0'), arm, seed, 0, new Dictionary<string, double>(),
            new Dictionary<string, IReadOnlyList<(long, double)>> { [key] = [.. values.Select((v, i) => ((long)i + 1, v))] },
            new Dictionary<string, string>());

    [Fact]
    public void MeanOverSeedsIsTheMeanWithAStudentTInterval()
    {
        var s = Series.MeanOverSeeds("a", [0.0, 1.0], [[1.0, 2.0, 6.0], [5.0]]);
        Assert.Equal(3.0, s.Y[0], 12);
        double sd = Math.Sqrt(((1 - 3.0) * (1 - 3.0) + (2 - 3.0) * (2 - 3.0) + (6 - 3.0) * (6 - 3.0)) / 2);
        double half = StudentT.Quantile(0.975, 2) * sd / Math.Sqrt(3);
        Assert.Equal(3 - half, s.Low![0], 12);
        Assert.Equal(3 + half, s.High![0], 12);
        Assert.Equal(5.0, s.Y[1]);
        Assert.True(double.IsNaN(s.Low[1]) && double.IsNaN(s.High[1])); // one seed: no band
    }

    [Fact]
    public void ANonFiniteSeedMakesTheMeanNonFiniteInsteadOfBeingAveragedAway()
    {
        var s = Series.MeanOverSeeds("a", [0.0], [[1.0, double.NaN, 3.0]]);
        Assert.True(double.IsNaN(s.Y[0]));
    }

    [Fact]
    public void CurvesUseTheDeclaredAxesAndKeepADivergedArm()
    {
        var runs = new RunSet([
            Run("stable", 0, "train_loss", 2.0, 1.0, 0.5), Run("stable", 1, "train_loss", 2.2, 1.2, 0.7),
            Run("nan", 0, "train_loss", double.NaN, double.NaN, double.NaN), Run("nan", 1, "train_loss", double.NaN, double.NaN, double.NaN),
            Run("other", 0, "depth_signal", 1.0), Run("other", 1, "depth_signal", 1.0),
        ]);
        var declared = new[] { new Metric("train_loss", Axis.Epochs, "training loss (cross-entropy)") };
        var figures = ReportWriter.CurveFigures(runs, declared).ToList();
        var loss = figures.Single(f => f.Name == "curve-train-loss");
        Assert.Equal("epoch", loss.XLabel);
        Assert.Equal("training loss (cross-entropy)", loss.YLabel);
        // Logged but NaN: kept as NaN for the renderer to count and mark, not called "not logged".
        var nan = loss.Series.Single(s => s.Group == "nan" && !s.Faint);
        Assert.All(nan.Y, y => Assert.True(double.IsNaN(y)));
        var stable = loss.Series.Single(s => s.Group == "stable" && !s.Faint);
        Assert.Equal([2.1, 1.1, 0.6], stable.Y.Select(y => Math.Round(y, 12)));
        Assert.NotNull(stable.Low);
        // A metric the phenomenon did not declare is not passed off as a training step.
        Assert.Contains("not declared", figures.Single(f => f.Name == "curve-depth-signal").XLabel);
    }

    [Fact]
    public void EveryLoggedMetricOfTheCatalogueIsDeclaredOnce()
    {
        foreach (var p in Catalogue.All)
            Assert.Equal(p.Metrics.Select(m => m.Key).Distinct().Count(), p.Metrics.Count);
    }

    [Fact]
    public void MatrixAbbreviationsAreShortAndUnique()
    {
        var ids = Catalogue.All.Select(p => p.Id).Concat(["batch-norm-speedup-x", "batch-norm-speedup-y"]).ToList();
        var a = ReportWriter.Abbreviations(ids);
        Assert.Equal(ids.Count, a.Values.Distinct().Count());
        Assert.Equal("ABR", a["adam-beta2-rounding"]);
        Assert.All(a.Values, v => Assert.True(v.Length <= 8, v));
    }

    [Fact]
    public void LogAxesGetTicksToReadAValueOffAtEveryRange()
    {
        // Three decades: 1-3 steps, not four bare powers of ten.
        var (ticks, labels) = PlotRenderer.LogTickMarks(-1.05, 2.05);
        Assert.Equal(["0.1", "0.3", "1", "3", "10", "30", "100"], labels);
        Assert.Equal(Math.Log10(3) - 1, ticks[1], 12);
        // Six decades: powers of ten, in one notation.
        Assert.Equal(["10⁻⁶", "10⁻⁵", "10⁻⁴", "10⁻³", "10⁻²", "10⁻¹", "10⁰"], PlotRenderer.LogTickMarks(-6, 0).Labels);
        // Under two decades 1-2-5; under 0.6 every mantissa; an empty range none.
        Assert.Equal(["1", "2", "5", "10", "20", "50"], PlotRenderer.LogTickMarks(0, Math.Log10(60)).Labels);
        Assert.Equal(["1", "2", "3"], PlotRenderer.LogTickMarks(0, Math.Log10(3.5)).Labels);
        Assert.Empty(PlotRenderer.LogTickMarks(1, 1).Ticks);
        // On a phone's width, 1-3 steps over three and a half decades would run "1,000" into "3,000": powers of ten only.
        Assert.Equal(["1", "3", "10", "30", "100", "300", "1,000", "3,000"], PlotRenderer.LogTickMarks(-0.1, 3.6, 1000).Labels);
        Assert.Equal(["1", "10", "100", "1,000"], PlotRenderer.LogTickMarks(-0.1, 3.6, 320).Labels);
        Assert.Equal(["10⁰", "10⁵", "10¹⁰"], PlotRenderer.LogTickMarks(-0.1, 12, 150).Labels);
        // A vertical axis of 90 decades 250 px tall: ticks a line of text apart at least.
        var (tall, _) = PlotRenderer.LogTickMarks(-90.5, 2, 250, vertical: true);
        Assert.True(tall.Length >= 3 && tall.Zip(tall.Skip(1)).All(p => (p.Second - p.First) / 92.5 * 250 >= 19), string.Join(", ", tall));
    }

    [Fact]
    public void RendererDrawsNonFiniteAndCensoredSeriesWithoutThrowing()
    {
        using var dir = new TempDir();
        var figure = new Figure("f", "F", "learning rate", "steps", [
            new Series("ok", [0.01, 0.1, 1], [10.0, 5, 2]) { Censored = [false, false, true] },
            new Series("all nan", [0.01, 0.1, 1], [double.NaN, double.NaN, double.NaN]),
            new Series("zero on log", [0.01, 0.1, 1], [0.0, 0, 0]),
        ], LogX: true, LogY: true);
        var o = PlotRenderer.Render(figure, dir.File("f"));
        string svg = File.ReadAllText(o.Svg);
        Assert.Contains("all nan", svg);
        Assert.Contains("NaN", svg);
        Assert.Contains("censored", svg);
        Assert.Contains("off the log scale", svg);
    }

    [Fact]
    public void CurvesFollowTheProtocolsArmOrderAndTitleTheirAxisInItsOwnWords()
    {
        var runs = new RunSet([
            Run("b-arm", 0, "lambda", 1.0, 2.0), Run("a-arm", 0, "lambda", 1.5, 2.5), Run("c-arm", 0, "lambda", 1.0, 1.0),
        ]);
        var declared = new[] { new Metric("lambda", new Axis(AxisKind.Step, "SGLD draw"), "λ̂") };
        var f = ReportWriter.CurveFigures(runs, declared, ["c-arm", "b-arm"]).Single();
        // The protocol's order first, an arm it does not name after them.
        Assert.Equal(["c-arm", "b-arm", "a-arm"], f.Series.Where(s => !s.Faint).Select(s => s.Group));
        Assert.Equal("λ̂ per SGLD draw", f.Title); // a Greek symbol keeps its case
        var epochs = ReportWriter.CurveFigures(runs, [new Metric("lambda", Axis.Epochs, "loss")]).Single();
        Assert.Equal("Loss per epoch", epochs.Title);
    }

    [Fact]
    public void AnArmKeepsItsColourInEveryFigureOfItsPhenomenon()
    {
        string[] arms = ["bfloat16-nearest", "bfloat16-nearest-folded", "float64"];
        var curve = PlotRenderer.Colours(["float64", "bfloat16-nearest-folded  [all values NaN/∞]"], arms);
        var custom = PlotRenderer.Colours(["fit", "bfloat16-nearest-folded: β2 = 1", "float64: β2 = 0.999", "bfloat16-nearest: β2 = 1"], arms);
        Assert.Equal(curve["float64"], custom["float64: β2 = 0.999"]);
        Assert.Equal(curve["bfloat16-nearest-folded  [all values NaN/∞]"], custom["bfloat16-nearest-folded: β2 = 1"]);
        // The longest matching arm name wins, and a group that is no arm takes a colour no arm has.
        Assert.NotEqual(custom["bfloat16-nearest: β2 = 1"], custom["bfloat16-nearest-folded: β2 = 1"]);
        Assert.DoesNotContain(custom["fit"], new[] { custom["float64: β2 = 0.999"], custom["bfloat16-nearest: β2 = 1"], custom["bfloat16-nearest-folded: β2 = 1"] });
        // Beyond ten arms no two share a colour.
        var many = Enumerable.Range(0, 14).Select(i => $"arm-{i}").ToList();
        Assert.Equal(14, PlotRenderer.Colours(many, many).Values.Distinct().Count());
    }

    [Fact]
    public void ArmsWhoseEverySeedLiesUnderAnotherArmAreNamedAndNaNLossesAreMarked()
    {
        using var dir = new TempDir();
        double[] x = [0, 1, 2], zero = [0, 0, 0], other = [0, 0, 1e-3];
        var figure = new Figure("f", "F", "epoch", "test disagreement", [
            new Series("exact-rerun", x, zero), new Series("exact-rerun", x, other),
            new Series("reversed-order", x, zero), new Series("reversed-order", x, other),
            new Series("different-seed", x, [0.2, 0.1, 0.05]),
            new Series("bfloat16-nearest", x, [2.3, double.NaN, double.NaN]),
        ]);
        var texts = SvgLayout.Read(PlotRenderer.Render(figure, dir.File("f")).Svg).Texts.Select(t => t.Content).ToList();
        // The note goes on a line of its own under the arm's name, so it does not widen the legend by its length.
        int name = texts.IndexOf("exact-rerun");
        Assert.True(name >= 0 && texts[name + 1] == "[= reversed-order, drawn under it]", string.Join(" | ", texts));
        Assert.DoesNotContain(texts, t => t.StartsWith("different-seed [=", StringComparison.Ordinal));
        Assert.Contains("[2 of 3 points NaN/∞: ×]", texts);
    }

    [Fact]
    public void SeedsDrawnOneLineEachBecomeTheirArmsMeanWithItsIntervalAndPaleSeedsBehind()
    {
        double[] x = [1, 2, 3];
        var perSeed = new[]
        {
            new Series("a", x, [1.0, 2, 3]), new Series("b", x, [5.0, 5, 5]), new Series("a", x, [3.0, 4, 5]), new Series("a", [1.0, 2], [2.0, 3]),
            new Series("alone", x, [7.0, 8, 9], SeriesStyle.Markers),
        };
        var s = Series.MeansOverSeeds(perSeed);
        // Seeds first (pale, behind), then one mean per group in the order the groups first appear.
        Assert.Equal(["a", "b", "alone"], s.Where(q => !q.Faint).Select(q => q.Group));
        Assert.Equal(3, s.Count(q => q.Faint));
        Assert.Equal(3, s.TakeWhile(q => q.Faint).Count());
        var a = s.Single(q => q.Group == "a" && !q.Faint);
        Assert.Equal([2.0, 3.0, 4.0], a.Y);  // at x = 3 only two seeds have a value
        var expected = Series.MeanOverSeeds("a", [1.0], [[1.0, 3, 2]]);
        Assert.Equal(expected.Low![0], a.Low![0], 12);
        Assert.Equal(expected.High![0], a.High![0], 12);
        Assert.Same(perSeed[4], s.Single(q => q.Group == "alone")); // a single series is left as it is
        Assert.Equal(SeriesStyle.Line, a.Style);
        Assert.DoesNotContain(Series.MeansOverSeeds(perSeed, keepSeeds: false), q => q.Faint);
    }

    [Fact]
    public void LongTitlesWrapLongAxisLabelsShrinkOrHeightenTheFigureAndNoTextIsCutOffOrOverdrawn()
    {
        using var dir = new TempDir();
        string longY = "share of seeds on which the two runs classify more than half the test images differently at the end";
        var figure = new Figure("f", "A title long enough that one line would run past the edges of the figure at the title's size, however wide", "x",
            longY, [new Series("an arm whose name is longer than one legend line allows", [0.0, 1], [0.0, 1]), new Series("b", [0.0, 1], [1.0, 0])]);
        var o = PlotRenderer.Render(figure, dir.File("f"));
        var (w, h, texts) = SvgLayout.Read(o.Svg);
        Assert.True(h > PlotRenderer.Height, $"height {h}");
        Assert.Equal(o.Height, h);
        Assert.Equal(2, texts.Count(t => figure.Title.Contains(t.Content, StringComparison.Ordinal) && t.Content.Length > 20));
        Assert.Contains(texts, t => t.Content == longY && t.Rotated && t.FontSize < 15);
        Assert.Empty(SvgLayout.Clipped(o.Svg));
        Assert.Empty(SvgLayout.Overlapping(o.Svg));
        // A forest plot's estimate name fits its width too.
        var check = Check.Above(Estimate.Mean("share of seeds where batch norm's largest non-diverging rate exceeds the Glorot-initialized plain net's, by far",
            Unit.Share, [0.5, 1, 1]), 0.5, 0.2);
        var forest = PlotRenderer.RenderCheck(check, 0, 3, dir.File("c"));
        Assert.Empty(SvgLayout.Clipped(forest.Svg));
        Assert.Empty(SvgLayout.Overlapping(forest.Svg));
    }

    [Fact]
    public void ALegendOfManyNotedArmsStaysInOneColumnInsideATallerFigure()
    {
        using var dir = new TempDir();
        double[] x = [0, 1, 2];
        var series = Enumerable.Range(0, 8).Select(i => new Series($"arm-{i}", x, i % 2 == 0 ? [1.0 + i, double.NaN, 2] : [2.0, 1, 0.5 * i])).ToList();
        series.AddRange(series.Where((_, i) => i % 2 == 1).Select(s => s with { Group = s.Group + "-copy" }).ToList());
        var o = PlotRenderer.Render(new Figure("f", "F", "epoch", "loss", series), dir.File("f"));
        Assert.Single(SvgLayout.LegendColumns(o.Svg));
        Assert.True(o.Height > PlotRenderer.Height, $"height {o.Height}");
        Assert.Empty(SvgLayout.Clipped(o.Svg));
        Assert.Empty(SvgLayout.Overlapping(o.Svg));
    }

    [Fact]
    public void WideBandsOfManyArmsAreLeftOutAndSaidSoButThinOnesStay()
    {
        using var dir = new TempDir();
        double[] x = [0, 1, 2];
        Series Arm(int i, double half) => new($"arm-{i}", x, [i, i + 0.5, i + 1.0]) { Low = [i - half, i + 0.5 - half, i + 1 - half], High = [i + half, i + 0.5 + half, i + 1 + half] };
        string Texts(double half) => string.Join(" ", SvgLayout.Read(PlotRenderer.Render(new Figure("f", "F", "epoch", "y", [.. Enumerable.Range(0, 7).Select(i => Arm(i, half))]), dir.File("f")).Svg).Texts.Select(t => t.Content));
        Assert.Contains("no 95% bands (7 arms overlap)", Texts(2.0));
        Assert.Contains("band: 95% interval", Texts(0.05));
    }

    [Fact]
    public void MarkersOfSeveralArmsOnACategoryAxisStandSideBySide()
    {
        double[] x = [0, 1];
        var figure = new Figure("f", "F", "method", "accuracy", [new Series("a", x, [0.5, 0.6], SeriesStyle.Markers), new Series("b", x, [0.5, 0.6], SeriesStyle.Markers)])
            { XCategories = ["one", "two"] };
        var d = PlotRenderer.Dodges(figure);
        Assert.True(d["a"] < 0 && d["b"] > 0 && Math.Abs(d["a"] + d["b"]) < 1e-12);
        Assert.Empty(PlotRenderer.Dodges(figure with { XCategories = null }));
        Assert.Empty(PlotRenderer.Dodges(figure with { Series = [figure.Series[0]] }));
    }

    // The numeric tick labels of the y axis (left of the data area, not turned).
    private static List<double> YTicks(string svg)
    {
        var doc = System.Xml.Linq.XDocument.Load(svg);
        System.Xml.Linq.XNamespace ns = "http://www.w3.org/2000/svg";
        var clip = doc.Descendants(ns + "clipPath").Select(c => c.Element(ns + "rect")).First(r => r is not null)!;
        double left = double.Parse(clip.Attribute("x")!.Value.Split(',')[0], System.Globalization.CultureInfo.InvariantCulture);
        return [.. SvgLayout.Read(svg).Texts.Where(t => !t.Rotated && t.Right < left + 1)
            .Select(t => double.TryParse(t.Content.Replace('−', '-'), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : double.NaN)
            .Where(double.IsFinite)];
    }

    [Fact]
    public void AnAccuracysBandAndAxisStopAtItsDeclaredRange()
    {
        // Three seeds near 1: the t-interval reaches past 1 unless the range clips it.
        double[][] samples = [[0.97, 0.99, 1.0], [0.98, 1.0, 1.0]];
        var open = Series.MeanOverSeeds("a", [0.0, 1.0], samples);
        Assert.True(open.High![0] > 1, $"the unclipped band ends at {open.High[0]}");
        var clipped = Series.MeanOverSeeds("a", [0.0, 1.0], samples, range: ValueRange.Fraction);
        Assert.All(clipped.High!, h => Assert.True(h <= 1));
        Assert.Equal(open.Low![0], clipped.Low![0]);
        Assert.Equal(1.0, ValueRange.Fraction.Clip(1.2));
        Assert.Equal(0.0, ValueRange.NonNegative.Clip(-3));
        Assert.True(double.IsNaN(ValueRange.Fraction.Clip(double.NaN)));
        Assert.Equal("[0, 1]", ValueRange.Fraction.ToString());
        Assert.Equal("[0, ∞)", ValueRange.NonNegative.ToString());

        // Drawn: with the range declared no tick names an accuracy above 1; without it the axis runs past 1.
        using var dir = new TempDir();
        double[] x = [0, 1, 2, 3];
        var series = new Series("a", x, [0.6, 0.9, 0.97, 0.99]) { Low = [0.5, 0.8, 0.93, 0.95], High = [0.7, 1.0, 1.01, 1.03] };
        var figure = new Figure("f", "F", "epoch", "accuracy", [series]);
        Assert.Contains(YTicks(PlotRenderer.Render(figure, dir.File("open")).Svg), t => t > 1);
        var bounded = PlotRenderer.Render(figure with { YRange = ValueRange.Fraction }, dir.File("bounded"));
        Assert.DoesNotContain(YTicks(bounded.Svg), t => t > 1);
        Assert.DoesNotContain(YTicks(bounded.Narrow!.Svg), t => t > 1);
        // An epoch axis starting at 0 has no negative tick.
        var xTicks = SvgLayout.Read(bounded.Svg).Texts.Where(t => t.Content.StartsWith('-') || t.Content.StartsWith('−')).Select(t => t.Content).ToList();
        Assert.Empty(xTicks);
    }

    [Fact]
    public void CurvesTakeTheirMetricsDeclaredRange()
    {
        var runs = new RunSet([Run("a", 0, "acc", 0.97, 0.99), Run("a", 1, "acc", 0.99, 1.0), Run("a", 2, "acc", 1.0, 1.0)]);
        var declared = new[] { new Metric("acc", Axis.Epochs, "test accuracy") { Range = ValueRange.Fraction } };
        var curve = ReportWriter.CurveFigures(runs, declared).Single();
        Assert.Equal(ValueRange.Fraction, curve.YRange);
        Assert.Equal(ValueRange.Unbounded, ReportWriter.CurveFigures(runs, [new Metric("acc", Axis.Epochs, "test accuracy")]).Single().YRange);
    }

    [Fact]
    public void EveryAccuracyShareAndLossTheCatalogueLogsDeclaresItsRange()
    {
        foreach (var p in Catalogue.All)
            foreach (var m in p.Metrics)
            {
                string label = m.Label.ToLowerInvariant();
                if (label.StartsWith("log10", StringComparison.Ordinal) || label.StartsWith("λ̂", StringComparison.Ordinal)) continue;
                if (label.Contains("accuracy") || label.Contains("share") || label.Contains("precision"))
                    Assert.True(m.Range == ValueRange.Fraction, $"{p.Id}: metric '{m.Key}' ({m.Label}) is a fraction but declares {m.Range}");
                else if (label.Contains("loss") || label.Contains("norm") || label.Contains("distance") || label.Contains("error") || label.Contains("difference") || label.Contains("change"))
                    Assert.True(m.Range.Low >= 0, $"{p.Id}: metric '{m.Key}' ({m.Label}) cannot be negative but declares {m.Range}");
            }
    }

    [Fact]
    public void TwoQuantitiesOfOneArmShareItsHueAndDifferByShade()
    {
        double[] x = [0, 1];
        Series S(string group, string hue) => new(group, x, [0.5, 0.6], SeriesStyle.LineAndMarkers) { Hue = hue };
        var figure = new Figure("f", "F", "p", "accuracy", [S("training, shallow", "shallow"), S("test, shallow", "shallow"), S("training, deep", "deep"), S("test, deep", "deep")]);
        var (colour, shade) = PlotRenderer.GroupColours(figure, []);
        // One hue per arm: the test curve is the training curve's colour, lighter.
        Assert.Equal(PlotRenderer.Lighter(colour["training, shallow"], 0.45), colour["test, shallow"]);
        Assert.Equal(PlotRenderer.Lighter(colour["training, deep"], 0.45), colour["test, deep"]);
        Assert.NotEqual(colour["training, shallow"], colour["training, deep"]);
        Assert.Equal([0, 1, 0, 1], new[] { "training, shallow", "test, shallow", "training, deep", "test, deep" }.Select(g => shade[g]));
        // Without hues every group is a colour of its own.
        var plain = PlotRenderer.GroupColours(figure with { Series = [.. figure.Series.Select(s => s with { Hue = null })] }, []).Colour;
        Assert.Equal(4, plain.Values.Distinct().Count());
        using var dir = new TempDir();
        var texts = SvgLayout.Read(PlotRenderer.Render(figure, dir.File("f")).Svg).Texts.Select(t => t.Content).ToList();
        Assert.Contains("training, shallow", texts);
        Assert.Contains("test, deep", texts);
    }

    [Fact]
    public void ANarrowRenderingPutsTheLegendBelowTheDataAndFitsAPhone()
    {
        using var dir = new TempDir();
        double[] x = [0, 1, 2];
        var figure = new Figure("f", "A title long enough to need two lines on a phone's narrow figure", "epoch", "training loss (cross-entropy)",
            [.. Enumerable.Range(0, 6).Select(i => new Series($"arm-{i} with a longer name", x, [i, i + 1.0, i + 0.5]))]);
        var o = PlotRenderer.Render(figure, dir.File("f"));
        var n = o.Narrow!;
        Assert.Equal(PlotRenderer.NarrowWidth, n.Width);
        Assert.True(File.Exists(n.Svg) && File.Exists(n.Png));
        Assert.Single(SvgLayout.LegendColumns(o.Svg));
        Assert.Empty(SvgLayout.LegendColumns(n.Svg));   // nothing to the right of the data
        Assert.Empty(SvgLayout.Clipped(n.Svg));
        Assert.Empty(SvgLayout.Overlapping(n.Svg));
        var (_, _, texts) = SvgLayout.Read(n.Svg);
        var axisLabel = texts.Single(t => t.Content == "epoch");
        Assert.All(texts.Where(t => t.Content.StartsWith("arm-", StringComparison.Ordinal)), t => Assert.True(t.Top > axisLabel.Bottom, $"'{t.Content}' is not below the x-axis label"));
        var check = Check.Above(Estimate.Share("share of seeds that held", [true, true, true, true, true, true]), 0.5);
        var c = PlotRenderer.RenderCheck(check, 0, 1, dir.File("check"));
        Assert.Equal(PlotRenderer.NarrowWidth, c.Narrow!.Width);
        Assert.Empty(SvgLayout.Clipped(c.Narrow.Svg));
        // A share of seeds is at most 1: the forest plot's axis names no share above it.
        Assert.DoesNotContain(SvgLayout.Read(c.Svg).Texts, t => double.TryParse(t.Content, System.Globalization.CultureInfo.InvariantCulture, out var v) && v > 1);
    }

    [Fact]
    public void AnArmDrawnWithinALinesWidthOfAnotherIsNamedAsUnderIt()
    {
        using var dir = new TempDir();
        double[] x = [0, 0.5, 1];
        var figure = new Figure("f", "F", "p", "accuracy", [
            new Series("training, shallow", x, [0.990, 0.991, 0.992]), new Series("training, deep", x, [0.992, 0.990, 0.993]),
            new Series("test, deep", x, [0.75, 0.5, 0.1]),
        ]) { YRange = ValueRange.Fraction };
        var texts = SvgLayout.Read(PlotRenderer.Render(figure, dir.File("f")).Svg).Texts.Select(t => t.Content).ToList();
        Assert.Contains("[≈ training, deep, drawn under it]", texts);
        Assert.DoesNotContain(texts, t => t.Contains("test, deep, drawn under", StringComparison.Ordinal));
    }

    [Fact]
    public void ACurveAtOneValueThroughoutSaysSoInTheLegend()
    {
        using var dir = new TempDir();
        var flat = new Figure("f", "F", "training step", "largest difference between two hidden units", [new Series("constant-tanh", [0, 1, 2], [0, 0, 0])]) { YRange = ValueRange.NonNegative };
        var o = PlotRenderer.Render(flat, dir.File("f"));
        Assert.Contains("[0 at every point]", SvgLayout.Read(o.Svg).Texts.Select(t => t.Content));
        Assert.Empty(SvgLayout.Clipped(o.Svg));
        var moving = flat with { Series = [new Series("constant-tanh", [0, 1, 2], [0, 0.5, 0])] };
        Assert.DoesNotContain(SvgLayout.Read(PlotRenderer.Render(moving, dir.File("g")).Svg).Texts, t => t.Content.Contains("at every point"));
        // Every seed at 0: the band has no width, and the legend names none.
        var seeds = flat with { Series = [Series.MeanOverSeeds("constant-tanh", [0, 1, 2], [[0.0, 0, 0], [0.0, 0, 0], [0.0, 0, 0]], SeriesStyle.Line)] };
        Assert.DoesNotContain("band: 95% interval", SvgLayout.Read(PlotRenderer.Render(seeds, dir.File("h")).Svg).Texts.Select(t => t.Content));
        var spread = flat with { Series = [Series.MeanOverSeeds("constant-tanh", [0, 1, 2], [[0.0, 0.1, 0], [0.0, 0.2, 0.1], [0.0, 0, 0.3]], SeriesStyle.Line), new Series("other", [0, 1, 2], [0.5, 0.5, 0.4])] };
        Assert.Contains("band: 95% interval", SvgLayout.Read(PlotRenderer.Render(spread, dir.File("i")).Svg).Texts.Select(t => t.Content));
    }

    [Fact]
    public void OnALogAxisACurvesCentreIsTheGeometricMeanOfItsSeeds()
    {
        // Two arms a thousandfold apart put the curves on a log axis; one arm's seeds differ a hundredfold.
        var runs = new RunSet([Run("a", 0, "loss", 1.0, 0.01), Run("a", 1, "loss", 100.0, 1.0), Run("b", 0, "loss", 1e-3, 1e-4), Run("b", 1, "loss", 1e-3, 1e-4)]);
        var curve = ReportWriter.CurveFigures(runs, [new Metric("loss", Axis.Steps, "training loss") { Range = ValueRange.NonNegative }]).Single();
        Assert.True(curve.LogY);
        var a = curve.Series.Single(s => s.Group == "a" && !s.Faint);
        Assert.Equal(10.0, a.Y[0], 9);   // √(1 · 100), not 50.5
        Assert.Equal(0.1, a.Y[1], 9);
        double half = StudentT.Quantile(0.975, 1) * Math.Sqrt(2 * Math.Pow(Math.Log(10), 2)) / Math.Sqrt(2);
        Assert.Equal(10 * Math.Exp(-half), a.Low![0], 6);
        Assert.Contains("geometric mean of 2 seeds", curve.Caption);
        // On a linear axis the arithmetic mean stays.
        var linear = ReportWriter.CurveFigures(new RunSet([Run("a", 0, "loss", 1.0, 2.0), Run("a", 1, "loss", 3.0, 4.0)]), null).Single();
        Assert.False(linear.LogY);
        Assert.Equal(2.0, linear.Series.Single(s => !s.Faint).Y[0], 12);
    }

    [Fact]
    public void NarrowCategoryNamesAndLegendNotesBreakIntoLinesInsteadOfRunningTogetherOrOffTheEdge()
    {
        Assert.Equal(["gaussian-", "dropout"], PlotRenderer.BreakName("gaussian-dropout", 9));
        Assert.Equal(["2,2,2,", "2,2 r1"], PlotRenderer.BreakName("2,2,2,2,2 r1", 7));
        Assert.Equal(["3CosAdd"], PlotRenderer.BreakName("3CosAdd", 7));
        using var dir = new TempDir();
        string[] kinds = ["none", "dropout", "gaussian-dropout", "drop-connect", "input-noise"];
        double[] x = [0, 1, 2, 3, 4];
        var figure = new Figure("f", "F", "regularizer", "test accuracy", [
            new Series("float16-nearest-long-beta2", x, [0.8, 0.81, 0.8, 0.82, 0.8], SeriesStyle.Markers),
            new Series("float64", x, [0.8, 0.81, 0.8, 0.82, 0.8], SeriesStyle.Markers),
            new Series("float16-nearest-long-beta2", x, [0.8, 0.81, 0.8, 0.82, 0.8], SeriesStyle.Markers),
        ]) { XCategories = kinds, YRange = ValueRange.Fraction };
        var n = PlotRenderer.Render(figure, dir.File("f")).Narrow!;
        Assert.Empty(SvgLayout.Overlapping(n.Svg));
        Assert.Empty(SvgLayout.Clipped(n.Svg));
    }

    [Fact]
    public void ArmsOfAVariantBySettingGridTakeAHuePerVariantAndAShadePerSetting()
    {
        var p = Catalogue.Get("dropout-vs-randomization");
        var protocol = p.Defaults(Tier.Quick);
        var armList = p.ArmsFor(protocol);
        var grid = ArmCell.Grid(armList);
        string[] arms = [.. armList.Select(a => a.Name)];
        Assert.Equal(arms.Length, grid.Count);
        Assert.Equal(new ArmCell("none", ""), grid["none"]);  // an arm of no grid stands alone as its own variant
        var colours = PlotRenderer.Colours(arms, arms, grid);
        var dropout = arms.Where(a => grid[a].Variant == "dropout").ToList();
        var gaussian = arms.Where(a => grid[a].Variant == "gaussian-dropout").ToList();
        Assert.True(dropout.Count >= 2 && gaussian.Count == dropout.Count);
        // Every arm a colour of its own; one setting of two variants differs in hue, two settings of one in lightness.
        Assert.Equal(arms.Length, colours.Values.Distinct().Count());
        static double Lightness(ScottPlot.Color c) => (c.Red + c.Green + c.Blue) / 3.0;
        static double Hue(ScottPlot.Color c) => Math.Atan2(Math.Sqrt(3) * (c.Green - c.Blue), 2.0 * c.Red - c.Green - c.Blue);
        for (int j = 1; j < dropout.Count; j++)
            Assert.True(Lightness(colours[dropout[j]]) < Lightness(colours[dropout[j - 1]]), "settings run light to dark in the protocol's order");
        Assert.True(Math.Abs(Hue(colours[dropout[0]]) - Hue(colours[dropout[^1]])) < 0.1, "a variant keeps one hue");
        Assert.True(Math.Abs(Hue(colours[dropout[0]]) - Hue(colours[gaussian[0]])) > 0.5, "variants differ in hue");
        // A group named after an arm keeps its colour; a group that is no arm takes a hue no variant has.
        var named = PlotRenderer.Colours([dropout[1] + "  [nothing logged after epoch 3]", "fit"], arms, grid);
        Assert.Equal(colours[dropout[1]], named[dropout[1] + "  [nothing logged after epoch 3]"]);
        Assert.DoesNotContain(named["fit"], colours.Values);
        // A group named after a variant as a whole takes its hue, between its settings' shades.
        var variantWide = PlotRenderer.Colours(["gaussian-dropout", "dropout: tuned"], arms, grid);
        Assert.True(Math.Abs(Hue(variantWide["gaussian-dropout"]) - Hue(colours[gaussian[0]])) < 0.1);
        Assert.True(Math.Abs(Hue(variantWide["dropout: tuned"]) - Hue(colours[dropout[0]])) < 0.1);
        Assert.DoesNotContain(variantWide["dropout: tuned"], colours.Values);
        // Arms without a grid (one setting a variant) form none.
        Assert.Empty(ArmCell.Grid([new NamedArm("a"), new NamedArm("b")]));

        // The legend reads variant by variant: each variant named once, above its settings.
        using var dir = new TempDir();
        double[] x = [1, 2, 3];
        var series = arms.Select((a, i) => new Series(a, x, [0.5 + 0.01 * i, 0.6, 0.7])).ToList();
        var figure = new Figure("f", "F", "epoch", "validation accuracy", series) { YRange = ValueRange.Fraction };
        var o = PlotRenderer.Render(figure, dir.File("f"), arms, grid);
        foreach (var svg in new[] { o.Svg, o.Narrow!.Svg })
        {
            var texts = SvgLayout.Read(svg).Texts.Select(t => t.Content).ToList();
            Assert.Single(texts, "dropout:");
            Assert.Single(texts, "gaussian-dropout:");
            Assert.Contains("none", texts);
            int head = texts.IndexOf("dropout:");
            Assert.Equal(grid[dropout[0]].Setting, texts[head + 1]);
            Assert.Equal(grid[dropout[1]].Setting, texts[head + 2]);
            Assert.DoesNotContain(dropout[0], texts);
            Assert.Empty(SvgLayout.Clipped(svg));
        }
    }

    [Fact]
    public void GeometricMeansOverSeedsCentreALossSpanningDecadesAndStopWhereASeedStops()
    {
        double[] x = [1, 2, 3];
        var perSeed = new[] { new Series("gd", x, [1.0, 1e-2, 1e-4]), new Series("gd", x, [1.0, 1e-4, 1e-8]), new Series("lm", [1.0, 2], [1.0, 1e-10]), new Series("lm", x, [1.0, 1e-12, 1e-16]) };
        var means = Series.MeansOverSeeds(perSeed, keepSeeds: false, geometric: true);
        Assert.DoesNotContain(means, s => s.Faint);
        var gd = means.Single(s => s.Group == "gd");
        Assert.Equal(1e-3, gd.Y[1], 1e-15);                // √(1e-2 · 1e-4), not their arithmetic mean 5e-3
        Assert.Equal(1e-6, gd.Y[2], 1e-18);
        var direct = Series.GeometricMeanOverSeeds("gd", [2.0], [[1e-2, 1e-4]]);
        Assert.Equal(direct.Low![0], gd.Low![1], 1e-15);
        Assert.True(gd.Low[1] < gd.Y[1] && gd.Y[1] < gd.High![1]);
        Assert.Equal(Math.Sqrt(gd.Low[1] * gd.High[1]), gd.Y[1], 1e-15); // symmetric on the log scale
        // The second lm seed logs x = 3 alone: the mean stops where both seeds log, not jump to one seed's value.
        Assert.Equal([1.0, 2.0], means.Single(s => s.Group == "lm").X);
        // A zero or NaN seed leaves the point NaN (marked), not dropped.
        Assert.True(double.IsNaN(Series.GeometricMeanOverSeeds("z", [1.0], [[0.0, 1e-3]]).Y[0]));
    }

    [Fact]
    public void ACheckOfAShareStopsItsAxisAtTheShareRange()
    {
        static Check Of(Estimate e, double above) => Check.Above(e, above);
        var share = Of(Estimate.Share("share of seeds", [true, true, true, true, true]), 0.5);
        Assert.Equal(ValueRange.Fraction, PlotRenderer.CheckRange(share));
        var accuracy = Of(Estimate.Mean("test accuracy", Unit.Accuracy, [0.96, 0.99, 1.0]), 0.9);
        Assert.Equal(ValueRange.Fraction, PlotRenderer.CheckRange(accuracy));
        var difference = Of(Estimate.Mean("accuracy, a − b", Unit.Accuracy, [-0.02, 0.01, 0.03]), 0.01);
        Assert.Equal(new ValueRange(-1, 1), PlotRenderer.CheckRange(difference));
        Assert.Equal(ValueRange.NonNegative, PlotRenderer.CheckRange(Of(Estimate.Ratio("speed-up", [1.5, 2, 3]), 1.2)));

        // The axis ends at 1 (and at 0), not a few hundredths past it, but for the room of a dot at 1, and holds the
        // estimate and its interval.
        foreach (var check in new[] { share, accuracy })
        {
            var (min, max) = PlotRenderer.CheckLimits(check, 0.01);
            Assert.InRange(min, 0, check.Estimate.Low);
            Assert.InRange(max, 1, 1 + 0.011 * (max - min));
        }
        // A difference of two shares, every number positive, contradicted below 0: the axis shows the region below 0
        // (a sixth of the axis or more), not a sliver at the edge of an axis stopped at 0.
        foreach (var unit in new[] { Unit.Share, Unit.Ratio })
        {
            var gain = Estimate.Mean("precision@10, trained − pixels", unit, [0.08, 0.09, 0.095]);
            var wrongWay = Check.Above(gain, 0.02, 0);
            var (gmin, gmax) = PlotRenderer.CheckLimits(wrongWay);
            Assert.True(-gmin >= 0.1 * (gmax - gmin), $"{unit.Name}: [{gmin}, {gmax}]");
        }
        var (dmin, dmax) = PlotRenderer.CheckLimits(difference);
        Assert.True(dmin < -0.02 && dmax < 1, $"[{dmin}, {dmax}]");
        using var dir = new TempDir();
        foreach (var (check, name) in new[] { (share, "share"), (accuracy, "accuracy") })
        {
            var o = PlotRenderer.RenderCheck(check, 0, 1, dir.File(name));
            foreach (var svg in new[] { o.Svg, o.Narrow!.Svg })
            {
                Assert.Empty(SvgLayout.Clipped(svg));
                var ticks = SvgLayout.Read(svg).Texts.Where(t => !t.Rotated)
                    .Select(t => double.TryParse(t.Content.Replace('−', '-'), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : double.NaN)
                    .Where(double.IsFinite).ToList();
                Assert.NotEmpty(ticks);
                Assert.All(ticks, t => Assert.InRange(t, 0, 1));
            }
        }
    }

    [Fact]
    public void AHatOverTheFirstLegendEntryIsNotCutOffByTheLegendsEdge()
    {
        Assert.True(PlotRenderer.MarkAbove("λ̂ per seed"));
        Assert.False(PlotRenderer.MarkAbove("λ per seed"));
        using var dir = new TempDir();
        double[] x = [0, 1];
        var figure = new Figure("f", "λ̂ against λ", "architecture", "learning coefficient",
            [new Series("λ̂ per seed", x, [1.0, 2.0], SeriesStyle.Markers), new Series("exact λ", x, [1.1, 2.1], SeriesStyle.Markers)]);
        var o = PlotRenderer.Render(figure, dir.File("f"));
        foreach (var svg in new[] { o.Svg, o.Narrow!.Svg })
        {
            // The legend's text lies in one group clipped to a rectangle: the hat rises about an em above the baseline.
            var doc = System.Xml.Linq.XDocument.Load(svg);
            System.Xml.Linq.XNamespace ns = "http://www.w3.org/2000/svg";
            var text = doc.Descendants(ns + "text").First(t => t.Value.Trim() == "λ̂ per seed");
            var group = text.Ancestors(ns + "g").First(g => g.Attribute("clip-path") is not null);
            string id = group.Attribute("clip-path")!.Value.Replace("url(#", "").TrimEnd(')');
            var rect = doc.Descendants(ns + "clipPath").Single(c => c.Attribute("id")!.Value == id).Element(ns + "rect")!;
            double clipTop = double.Parse(rect.Attribute("y")!.Value, System.Globalization.CultureInfo.InvariantCulture);
            var layout = SvgLayout.Read(svg).Texts.Single(t => t.Content == "λ̂ per seed");
            double baseline = layout.Bottom - 0.24 * layout.FontSize;
            Assert.True(baseline - 1.05 * layout.FontSize >= clipTop, $"the hat's top {baseline - 1.05 * layout.FontSize} is above the legend's clip at {clipTop}");
        }
    }

    [Fact]
    public void AGroupDrawnUnderAnotherDrawsNeitherItsSeedsNorItsBand()
    {
        // The same three seeds in both groups ("first run" is the same network in every arm): only the group on top
        // draws its pale seeds and band, so the hidden group's do not blend with them into a colour of no group.
        double[] x = [1, 2, 3];
        double[][] seeds = [[0.5, 0.6, 0.7], [0.52, 0.63, 0.71], [0.49, 0.58, 0.69]];
        var perSeed = new[] { "first run", "second run" }.SelectMany(g => seeds.Select(y => new Series(g, x, y))).ToList();
        var figure = new Figure("f", "F", "epoch", "test accuracy", Series.MeansOverSeeds(perSeed)) { YRange = ValueRange.Fraction };
        var colour = PlotRenderer.Colours(["first run", "second run"], []);
        using var dir = new TempDir();
        string svg = File.ReadAllText(PlotRenderer.Render(figure, dir.File("f")).Svg);
        int Strokes(ScottPlot.Color c) => System.Text.RegularExpressions.Regex.Matches(svg, $"stroke=\"{c.ToHex()[..7]}\"", System.Text.RegularExpressions.RegexOptions.IgnoreCase).Count;
        int Fills(ScottPlot.Color c) => System.Text.RegularExpressions.Regex.Matches(svg, $"fill=\"{c.ToHex()[..7]}\"", System.Text.RegularExpressions.RegexOptions.IgnoreCase).Count;
        Assert.Equal(2, Strokes(colour["first run"]));                // its mean and its legend symbol
        Assert.Equal(2 + seeds.Length, Strokes(colour["second run"]));
        Assert.Equal(0, Fills(colour["first run"]));
        Assert.True(Fills(colour["second run"]) >= 1);
        Assert.Contains("[= second run, drawn under it]", SvgLayout.Read(dir.File("f") + ".svg").Texts.Select(t => t.Content));
    }

    [Fact]
    public void ACheckIntervalNarrowerThanItsDotShowsItsEndsAndADegenerateOneSaysItCannotDecide()
    {
        using var dir = new TempDir();
        // A tight interval (about a hundredth of the axis, narrower than the 14 px dot) far from the regions' edges.
        var loss = Estimate.Mean("log10 relative loss", Unit.Log10, [-30.5, -30.6, -30.55, -30.52]);
        var tight = Verdict.From(loss, Check.Below(loss, -24, -16)).Checks[0];
        Assert.Equal(Outcome.Held, tight.Outcome);
        var o = PlotRenderer.RenderCheck(tight, 0, 1, dir.File("tight"));
        foreach (var svg in new[] { o.Svg, o.Narrow!.Svg })
        {
            var caps = VerticalStrokes(File.ReadAllText(svg), "#1E7B34");
            Assert.True(caps.Count == 2, $"{caps.Count} end caps");
            Assert.All(caps, c => Assert.True(c > 14, $"a cap {c:F1} px tall hides under the 14 px dot"));
            Assert.DoesNotContain(PlotRenderer.DegenerateNote, SvgLayout.Read(svg).Texts.Select(t => t.Content));
        }
        // A zero-width interval is inconclusive by rule wherever its dot lies; the plot says why.
        var ratio = Estimate.Ratio("bit-flip / different-seed disagreement", [1e-9, 1e-9, 1e-9]);
        var zero = Verdict.From(ratio, Check.Above(ratio, 0.5, 0.25)).Checks[0];
        Assert.True(zero.Degenerate);
        var z = PlotRenderer.RenderCheck(zero, 0, 1, dir.File("zero"));
        foreach (var svg in new[] { z.Svg, z.Narrow!.Svg })
        {
            Assert.Contains(PlotRenderer.DegenerateNote, SvgLayout.Read(svg).Texts.Select(t => t.Content));
            Assert.Empty(SvgLayout.Clipped(svg));
        }
    }

    [Fact]
    public void ACheckAxisIsAScaleNotARuler()
    {
        using var dir = new TempDir();
        // An accuracy from 0.46 to 0.85: ScottPlot's default density labels every 0.02 (20 labels) on the wide plot.
        var accuracy = Estimate.Mean("test accuracy, true labels, deep", Unit.Accuracy, [0.72, 0.76, 0.81, 0.77]);
        var o = PlotRenderer.RenderCheck(Check.Above(accuracy, 0.7, 0.5), 0, 1, dir.File("accuracy"));
        foreach (var svg in new[] { o.Svg, o.Narrow!.Svg })
        {
            int ticks = SvgLayout.Read(svg).Texts.Count(t => !t.Rotated && double.TryParse(t.Content, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _));
            Assert.InRange(ticks, 3, 12);
        }
    }

    [Fact]
    public void FiguresThatDeclareOneYSpanShareTheirAxis()
    {
        using var dir = new TempDir();
        double[] x = [0, 1, 2];
        // One quantity under two conditions: one falls from 0.86 to 0.72, the other barely moves around 0.86.
        var span = Figure.SpanOf([0.86, 0.85, 0.72, 0.87, 0.86, 0.855, double.NaN]);
        Assert.Equal((0.72, 0.87), span);
        Assert.Null(Figure.SpanOf([double.NaN]));
        var frozen = new Figure("frozen", "Frozen", "depth", "accuracy", [new Series("a", x, [0.86, 0.85, 0.72])]) { YRange = ValueRange.Fraction, YSpan = span };
        var tuned = new Figure("tuned", "Fine-tuned", "depth", "accuracy", [new Series("a", x, [0.87, 0.86, 0.855])]) { YRange = ValueRange.Fraction, YSpan = span };
        static List<string> YTicks(string svg) => [.. SvgLayout.Read(svg).Texts.Where(t => !t.Rotated && double.TryParse(t.Content, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) && v < 1 && v > 0.5).Select(t => $"{t.Content}@{t.Top:F0}")];
        var a = PlotRenderer.Render(frozen, dir.File("frozen"));
        var b = PlotRenderer.Render(tuned, dir.File("tuned"));
        Assert.NotEmpty(YTicks(a.Svg));
        Assert.Equal(YTicks(a.Svg), YTicks(b.Svg));   // the same labels at the same heights
        Assert.Contains(YTicks(b.Svg), t => t.StartsWith("0.72@", StringComparison.Ordinal));   // the fine-tuned axis reaches down to the frozen one's least value
    }

    [Fact]
    public void AutomaticCurvesDrawSingleSeedsOnlyWhileTheyAreFew()
    {
        static RunSet Runs(int seeds) => new([.. new[] { "relu", "tanh" }.SelectMany(arm => Enumerable.Range(0, seeds).Select(s => Run(arm, s, "loss", 1.0 + s, 0.5 + s, 0.25 + s)))]);
        int Faint(int seeds) => ReportWriter.CurveFigures(Runs(seeds)).Single().Series.Count(s => s.Faint);
        Assert.Equal(2 * 8, Faint(8));
        Assert.True(2 * 16 > ReportWriter.MaxFaintCurves);
        Assert.Equal(0, Faint(16));   // 32 noisy curves would hide the two means
    }

    [Fact]
    public void ALongLegendNoteDoesNotSpaceEveryOtherEntryApart()
    {
        using var dir = new TempDir();
        double[] x = [0, 1, 2];
        // The first arm's note runs to three lines on a phone; the other four entries have one line each.
        var figure = new Figure("f", "F", "epoch", "test disagreement", [
            new Series("exact-rerun lr=0.01", x, [0, 0, 0]), new Series("reversed-order lr=0.01", x, [0, 0, 0]),
            new Series("different-seed lr=0.01", x, [0.2, 0.1, 0.05]), new Series("bit-flip lr=0.01", x, [0.15, 0.1, 0.06]),
            new Series("no-flip lr=0.01", x, [0.3, 0.2, 0.1]),
        ]);
        var o = PlotRenderer.Render(figure, dir.File("f"));
        foreach (var svg in new[] { o.Svg, o.Narrow!.Svg })
        {
            var texts = SvgLayout.Read(svg).Texts;
            var note = texts.Single(t => t.Content.StartsWith("[= reversed-order", StringComparison.Ordinal));
            var rows = texts.Where(t => Math.Abs(t.Left - note.Left) < 1 && t.Top >= note.Top - 200).OrderBy(t => t.Top).ToList();
            Assert.True(rows.Count >= 5, $"{rows.Count} legend rows");
            // One line a row: consecutive rows about a line and a gap apart, not three lines.
            var gaps = rows.Zip(rows.Skip(1), (a, b) => b.Top - a.Top).ToList();
            Assert.All(gaps, g => Assert.InRange(g, 10, 2 * 17));
            Assert.Empty(SvgLayout.Clipped(svg));
        }
        // The first row of a split entry keeps its symbol; its notes are text alone.
        var split = PlotRenderer.SplitLines([new ScottPlot.LegendItem { LabelText = "arm\n[note]", LineWidth = 2 }]);
        Assert.Equal(["arm", "[note]"], split.Select(i => i.LabelText));
        Assert.Equal([2f, 0f], split.Select(i => i.LineWidth));
    }

    /// <summary>The heights in px of the vertical strokes of one colour in an SVG (single-segment paths "Mx yLx y").</summary>
    private static List<double> VerticalStrokes(string svg, string colour) =>
        [.. System.Text.RegularExpressions.Regex.Matches(svg, $"<path fill=\"none\" stroke=\"{colour}\"[^>]* d=\"M([-\\d.]+) ([-\\d.]+)L([-\\d.]+) ([-\\d.]+)\"")
            .Select(m => m.Groups.Cast<System.Text.RegularExpressions.Group>().Skip(1).Select(g => double.Parse(g.Value, System.Globalization.CultureInfo.InvariantCulture)).ToArray())
            .Where(v => Math.Abs(v[0] - v[2]) < 0.01)
            .Select(v => Math.Abs(v[3] - v[1]))];
}
