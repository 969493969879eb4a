using Aperture.Lab.Report;
using Aperture.Lab.Statistics;
using Aperture.Lab.Store;

namespace Aperture.Lab.Tests;

/// <summary>What the report's figures are made of: declared axes, means with intervals, non-finite values kept.</summary>
public class FigureTests
{
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
        string svg = File.ReadAllText(PlotRenderer.Render(figure, dir.File("f")).Svg);
        Assert.Contains("exact-rerun [= reversed-order, drawn under it]", svg); // the SVG writes one space for two
        Assert.DoesNotContain("different-seed [=", svg);
        Assert.Contains("2 of 3 points NaN/∞", svg);
    }
}
