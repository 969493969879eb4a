using System.Globalization;
using ScottPlot;

namespace Aperture.Lab.Report;

/// <summary>Renders <see cref="Figure"/>s and effect plots to PNG with ScottPlot.</summary>
internal static class PlotRenderer
{
    private const int Width = 760, Height = 440;
    private static IPalette Palette => new ScottPlot.Palettes.Category10();

    /// <summary>Draws a figure; series of one group share a colour and one legend entry.</summary>
    public static void Render(Figure figure, string path)
    {
        var plt = new Plot();
        var groups = figure.Series.Select(s => s.Group).Distinct().ToList();
        foreach (var x in figure.VerticalLines)
            plt.Add.VerticalLine(figure.LogX ? Math.Log10(x) : x, 1, Colors.Gray.WithAlpha(0.6), LinePattern.Dotted);
        if (figure.Band is var (bandLow, bandHigh))
        {
            // Unbounded sides of the band end at the data's range (a band to infinity has nothing to draw to).
            var ys = figure.Series.SelectMany(s => s.Y.Concat(s.Low ?? []).Concat(s.High ?? [])).Where(double.IsFinite).ToList();
            var xs = figure.Series.SelectMany(s => s.X).Where(double.IsFinite).Select(x => figure.LogX ? Math.Log10(x) : x).Where(double.IsFinite).ToList();
            if (ys.Count > 0 && xs.Count > 0)
            {
                double pad = Math.Max(1e-12, 0.1 * (ys.Max() - ys.Min()));
                double lo = double.IsFinite(bandLow) ? bandLow : ys.Min() - pad, hi = double.IsFinite(bandHigh) ? bandHigh : ys.Max() + pad;
                if (!figure.LogY && lo < hi)
                {
                    double xPad = Math.Max(1e-12, 0.05 * (xs.Max() - xs.Min()));
                    var band = plt.Add.Rectangle(xs.Min() - xPad, xs.Max() + xPad, lo, hi);
                    band.FillColor = Colors.Green.WithAlpha(0.12);
                    band.LineWidth = 0;
                }
            }
        }
        var labelled = new HashSet<string>();
        foreach (var s in figure.Series)
        {
            var (xs, ys) = Clean(s.X, s.Y, figure.LogX, figure.LogY);
            if (xs.Length == 0) continue;
            var color = Palette.GetColor(groups.IndexOf(s.Group));
            if (s.Low is { } lows && s.High is { } highs)
                for (int i = 0; i < Math.Min(s.X.Length, Math.Min(lows.Length, highs.Length)); i++)
                {
                    double x = figure.LogX ? (s.X[i] > 0 ? Math.Log10(s.X[i]) : double.NaN) : s.X[i];
                    double lo = figure.LogY ? (lows[i] > 0 ? Math.Log10(lows[i]) : double.NaN) : lows[i];
                    double hi = figure.LogY ? (highs[i] > 0 ? Math.Log10(highs[i]) : double.NaN) : highs[i];
                    if (!double.IsFinite(x) || !double.IsFinite(lo) || !double.IsFinite(hi)) continue;
                    var bar = plt.Add.Line(x, lo, x, hi);
                    bar.LineWidth = 2;
                    bar.LineColor = color.WithAlpha(0.7);
                }
            var sc = plt.Add.Scatter(xs, ys, color);
            sc.LineWidth = s.Style is SeriesStyle.Markers ? 0 : 1.5f;
            sc.MarkerSize = s.Style is SeriesStyle.Markers or SeriesStyle.LineAndMarkers ? 7 : 0;
            if (s.Style == SeriesStyle.Dashed) sc.LinePattern = LinePattern.Dashed;
            if (labelled.Add(s.Group)) sc.LegendText = s.Group;
        }
        Decorate(plt, figure.Title, figure.XLabel, figure.YLabel, figure.LogX, figure.LogY);
        if (labelled.Count > 1) plt.ShowLegend(Alignment.UpperLeft);
        Save(plt, path);
    }

    /// <summary>A forest plot: each checked estimate as a point with its 95% interval, over its band (shaded).</summary>
    public static void RenderEffect(Verdict verdict, string path)
    {
        var plt = new Plot();
        var checks = verdict.Checks;
        var finite = checks.SelectMany(c => new[] { c.Estimate.Low, c.Estimate.High, c.Estimate.Value, c.Supports.Low, c.Supports.High }).Where(double.IsFinite).ToList();
        double min = finite.Count > 0 ? finite.Min() : 0, max = finite.Count > 0 ? finite.Max() : 1;
        double pad = Math.Max(1e-12, 0.15 * (max - min));
        min -= pad;
        max += pad;
        var positions = new double[checks.Count];
        var labels = new string[checks.Count];
        for (int i = 0; i < checks.Count; i++)
        {
            var c = checks[i];
            double y = checks.Count - 1 - i;
            positions[i] = y;
            labels[i] = c.Estimate.Name;
            var bandColor = Colors.Green.WithAlpha(0.18);
            var band = plt.Add.Rectangle(double.IsFinite(c.Supports.Low) ? c.Supports.Low : min, double.IsFinite(c.Supports.High) ? c.Supports.High : max, y - 0.3, y + 0.3);
            band.FillColor = bandColor;
            band.LineWidth = 0;
            var color = c.Outcome switch { Outcome.Held => Colors.DarkGreen, Outcome.DidNotHold => Colors.DarkRed, _ => Colors.DarkOrange };
            if (double.IsFinite(c.Estimate.Low) && double.IsFinite(c.Estimate.High))
            {
                var line = plt.Add.Line(c.Estimate.Low, y, c.Estimate.High, y);
                line.LineWidth = 3;
                line.LineColor = color;
            }
            if (double.IsFinite(c.Estimate.Value)) plt.Add.Marker(c.Estimate.Value, y, MarkerShape.FilledCircle, 11, color);
        }
        plt.Axes.Left.SetTicks(positions, labels);
        plt.Axes.SetLimits(min, max, -0.7, checks.Count - 0.3);
        plt.Title("Each check with its 95% interval; shaded: the region that supports the claim");
        plt.XLabel("estimate");
        Save(plt, path, Width, 150 + 70 * checks.Count);
    }

    private static (double[] X, double[] Y) Clean(double[] x, double[] y, bool logX, bool logY)
    {
        var xs = new List<double>();
        var ys = new List<double>();
        for (int i = 0; i < Math.Min(x.Length, y.Length); i++)
        {
            double a = x[i], b = y[i];
            if (logX) a = a > 0 ? Math.Log10(a) : double.NaN;
            if (logY) b = b > 0 ? Math.Log10(b) : double.NaN;
            if (double.IsFinite(a) && double.IsFinite(b)) { xs.Add(a); ys.Add(b); }
        }
        return ([.. xs], [.. ys]);
    }

    // Log axes: the data are plotted as log10 and the tick labels show the powers of ten.
    private static void Decorate(Plot plt, string title, string xLabel, string yLabel, bool logX, bool logY)
    {
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
        if (logX) plt.Axes.Bottom.TickGenerator = LogTicks();
        if (logY) plt.Axes.Left.TickGenerator = LogTicks();
    }

    private static ScottPlot.TickGenerators.NumericAutomatic LogTicks() => new()
    {
        MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
        IntegerTicksOnly = true,
        LabelFormatter = PowerOfTen,
    };

    // 0.001 … 100000 in plain digits, beyond that as 1e6, 1e-4.
    private static string PowerOfTen(double exponent)
    {
        int k = (int)Math.Round(exponent);
        return k is >= -3 and <= 5 ? Math.Pow(10, k).ToString("0.###", CultureInfo.InvariantCulture) : "1e" + k.ToString(CultureInfo.InvariantCulture);
    }

    private static void Save(Plot plt, string path, int width = Width, int height = Height)
    {
        using var image = plt.GetImage(width, height);
        Aperture.IO.AtomicFile.WriteAllBytes(path, image.GetImageBytes(ImageFormat.Png));
    }
}
