using System.Globalization;
using System.Text;
using Aperture.Lab.Statistics;
using ScottPlot;

namespace Aperture.Lab.Report;

/// <summary>
/// Renders <see cref="Figure"/>s and effect plots with ScottPlot, each to SVG and to PNG at twice the pixel density, in
/// one style: a sans-serif face, the legend outside the data (to the right), category axes for arms, log axes ticked
/// at 1-2-5 or at powers of ten, interval bands, and non-finite or censored points marked and named in the legend.
/// </summary>
internal static partial class PlotRenderer
{
    /// <summary>The figure's size in CSS pixels; the PNG has twice as many in each direction.</summary>
    public const int Width = 820, Height = 460;
    private const float Density = 2;
    private static readonly Color Ink = Color.FromHex("#222222"), Grid = Color.FromHex("#e6e6e6"), Missing = Color.FromHex("#c0392b");
    // Ten well-separated colours while they suffice; beyond ten keys, 25 (Tsitsulin's), so no two arms share one.
    private static IPalette PaletteFor(int keys) => keys <= 10 ? new ScottPlot.Palettes.Category10() : new ScottPlot.Palettes.Tsitsulin();
    private static readonly Lazy<SansFont?> Sans = new(RegisterSans);

    /// <summary>The figures' sans-serif face: its family name as registered with ScottPlot, and its regular-weight file.</summary>
    private sealed record SansFont(string Family, string File);

    /// <summary>The file of the figures' sans-serif face (regular weight), for drawings made without ScottPlot; null where none was found.</summary>
    internal static string? SansFontFile => Sans.Value?.File;

    /// <summary>The files an image was written to.</summary>
    public sealed record Output(string Svg, string Png, int Width, int Height)
    {
        /// <summary>The narrow rendering for a phone's width (legend below the data); null for none.</summary>
        public Output? Narrow { get; init; }
    }

    /// <summary>
    /// Draws a figure; series of one group share a colour and one legend entry. With <paramref name="arms"/> (the
    /// phenomenon's arm names, in its order) a group named after an arm ("float64", "float64: β2 = 0.999",
    /// "float64  [note]") takes that arm's colour, so an arm has one colour in every figure of its page; other groups
    /// take the colours no arm uses.
    /// </summary>
    /// <remarks>
    /// Two renderings are written: the figure at a desktop page's width with its legend to the right, and a narrow
    /// one (<see cref="Output.Narrow"/>, "-narrow" after the name) for a phone, <see cref="NarrowWidth"/> wide with the
    /// legend below the data, so that neither is shrunk to unreadable text nor scrolled sideways.
    /// </remarks>
    /// <param name="figure">The figure.</param>
    /// <param name="pathWithoutExtension">Where to write it; ".svg" and ".png" are added.</param>
    /// <param name="arms">The phenomenon's arm names, in its order.</param>
    /// <param name="grid">
    /// The variant × setting grid the arms form (<see cref="ArmCell.Grid"/>), if any: an arm's colour is then its
    /// variant's hue at its setting's shade (light to dark), and the legend names each variant once, above its settings.
    /// </param>
    public static Output Render(Figure figure, string pathWithoutExtension, IReadOnlyList<string>? arms = null, IReadOnlyDictionary<string, ArmCell>? grid = null)
    {
        ArgumentNullException.ThrowIfNull(figure);
        // A band past the values the quantity can take (an accuracy's t-interval above 1) is clipped to them.
        if (figure.YRange.IsBounded)
            figure = figure with
            {
                Series = [.. figure.Series.Select(s => s with { Low = s.Low?.Select(figure.YRange.Clip).ToArray(), High = s.High?.Select(figure.YRange.Clip).ToArray() })],
            };
        var narrow = Draw(figure, pathWithoutExtension + "-narrow", arms, grid, narrow: true);
        return Draw(figure, pathWithoutExtension, arms, grid, narrow: false) with { Narrow = narrow };
    }

    /// <summary>The narrow rendering's width in CSS pixels: a phone's (about 390 px of page) at nearly its full size.</summary>
    public const int NarrowWidth = 400, NarrowHeight = 330;

    private static Output Draw(Figure figure, string pathWithoutExtension, IReadOnlyList<string>? arms, IReadOnlyDictionary<string, ArmCell>? grid, bool narrow)
    {
        var plt = NewPlot();
        var groups = figure.Series.Where(s => !s.Faint).Select(s => s.Group).Concat(figure.Series.Select(s => s.Group)).Distinct().ToList();
        var (colorOf, shade) = GroupColours(figure, arms ?? [], grid);
        int hues = figure.Series.Select(s => s.Hue ?? s.Group).Distinct().Count();
        Color ColorOf(string g) => colorOf[g];
        // Skia's SVG writer cannot draw dash patterns (it drops them and prints a warning per line): dashed and dotted
        // lines are dashed in the PNG and drawn solid, paler, in the SVG.
        var undash = new List<Action>();
        foreach (var x in figure.VerticalLines)
        {
            var line = plt.Add.VerticalLine(figure.LogX ? Math.Log10(x) : x, 1, Colors.Gray.WithAlpha(0.6), LinePattern.Dotted);
            undash.Add(() => { line.LinePattern = LinePattern.Solid; line.LineColor = Colors.Gray.WithAlpha(0.3); });
        }
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

        var nonFinite = new Dictionary<string, (List<double> Xs, int Count, int Total, bool OffLog)>();
        var censored = new HashSet<string>();
        var drawn = new HashSet<string>();
        var finiteY = new List<double>();
        var markers = new List<(double X, Color Color)>();
        var dodge = Dodges(figure);
        var shapeOf = MarkerShapes(figure);
        // Within a hue, the groups differ by marker as well as by shade (a filled square for the second quantity).
        MarkerShape[] byShade = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp];
        foreach (var g in groups.Where(g => hues < groups.Count && figure.Series.Any(s => s.Group == g && s.Hue is not null && s.Style is SeriesStyle.Markers or SeriesStyle.LineAndMarkers)))
            shapeOf[g] = byShade[Math.Min(shade[g], byShade.Length - 1)];
        // Interval bands of many arms laid over one another make a mud in which no arm can be followed: paler bands
        // beyond three arms, none beyond five (the legend says so), unless they are thin.
        // A band of zero width everywhere (every seed the same) is none, and the legend does not name it.
        var bands = figure.Series.Where(s => !s.Faint && s.Low is not null && s.High is not null && s.Style != SeriesStyle.Markers
            && s.Low.Zip(s.High).Any(p => p.Second > p.First)).ToList();
        int banded = bands.Select(s => s.Group).Distinct().Count();
        // Bands thin beside the spread of the data (under 3% of it on average) stay drawn, however many arms.
        double Y(double v) => figure.LogY ? (v > 0 ? Math.Log10(v) : double.NaN) : v;
        var spread = figure.Series.Where(s => !s.Faint).SelectMany(s => s.Y).Select(Y).Where(double.IsFinite).ToList();
        var widths = bands.SelectMany(s => s.Low!.Zip(s.High!, (l, h) => Y(h) - Y(l))).Where(double.IsFinite).ToList();
        bool thin = spread.Count > 1 && widths.Count > 0 && widths.Average() < 0.03 * (spread.Max() - spread.Min());
        float bandAlpha = banded <= 3 || thin ? 0.18f : banded <= 5 ? 0.11f : 0;
        // A group drawn under another draws its mean alone: its single seeds and band would lie under the other's,
        // and many such would blend into a colour of none (the same network as the first run of every arm).
        double dataSpan = spread.Count > 1 ? Math.Max(spread.Max() - spread.Min(), Math.Abs(spread.Max()) * 1e-6 + 1e-12) : 1;
        // A group whose only series equals one drawn later lies wholly under it: say so rather than let it vanish.
        var solid = figure.Series.Where(s => !s.Faint).ToList();
        // A group is hidden when every one of its series (one per seed, say) has an identical twin in one later group.
        var under = new Dictionary<string, string>();
        foreach (var g in groups)
        {
            var own = solid.Where(s => s.Group == g).ToList();
            // A group with nothing drawn (every value NaN) hides under nothing: its × marks say what it is.
            if (own.Count == 0 || !own.Any(s => s.Y.Any(double.IsFinite))) continue;
            int last = own.Max(solid.IndexOf);
            var cover = solid.Skip(last + 1).Select(o => o.Group).Where(o => o != g).Distinct()
                .LastOrDefault(o => own.All(s => solid.Any(t => t.Group == o && t.X.SequenceEqual(s.X) && Hidden([.. s.Y.Select(Y)], [.. t.Y.Select(Y)], dataSpan))));
            if (cover is not null)
                under[g] = (own.All(s => solid.Any(t => t.Group == cover && t.X.SequenceEqual(s.X) && t.Y.SequenceEqual(s.Y))) ? "= " : "≈ ") + Shorten(cover);
        }
        // A line lies under another when every point of it is within a line's width of the other's (0.6% of the
        // axis): training accuracies of 0.990 and 0.992 on an axis from 0 to 1 are drawn as one line.
        static bool Hidden(double[] a, double[] b, double span) => a.Length == b.Length
            && a.Zip(b).All(p => p.First.Equals(p.Second) || (double.IsFinite(p.First) && double.IsFinite(p.Second) && Math.Abs(p.First - p.Second) <= 0.006 * span));
        foreach (var s in figure.Series)
        {
            if (s.Faint && under.ContainsKey(s.Group)) continue;
            var color = ColorOf(s.Group);
            double shift = dodge.GetValueOrDefault(s.Group);
            int n = Math.Min(s.X.Length, s.Y.Length);
            var tx = new double[n];
            var ty = new double[n];
            for (int i = 0; i < n; i++)
            {
                tx[i] = figure.LogX ? (s.X[i] > 0 ? Math.Log10(s.X[i]) : double.NaN) : s.X[i] + shift;
                ty[i] = figure.LogY ? (s.Y[i] > 0 ? Math.Log10(s.Y[i]) : double.NaN) : s.Y[i];
            }
            // Intervals of points (markers only) are error bars; along a line, a band.
            if (s.Low is { } elo && s.High is { } ehi && !s.Faint && s.Style == SeriesStyle.Markers)
                for (int i = 0; i < n; i++)
                    if (double.IsFinite(tx[i]) && Finite(elo, i, figure.LogY) && Finite(ehi, i, figure.LogY))
                    {
                        var bar = plt.Add.Line(tx[i], T(elo[i], figure.LogY), tx[i], T(ehi[i], figure.LogY));
                        bar.LineWidth = 2.5f;
                        bar.LineColor = color.WithAlpha(0.55);
                    }
            if (s.Low is { } lo && s.High is { } hi && !s.Faint && s.Style != SeriesStyle.Markers && bandAlpha > 0 && !under.ContainsKey(s.Group))
                foreach (var seg in Segments(n, i => double.IsFinite(tx[i]) && Finite(lo, i, figure.LogY) && Finite(hi, i, figure.LogY)))
                {
                    var band = plt.Add.FillY(seg.Select(i => tx[i]).ToArray(), seg.Select(i => T(lo[i], figure.LogY)).ToArray(), seg.Select(i => T(hi[i], figure.LogY)).ToArray());
                    band.FillColor = color.WithAlpha(bandAlpha);
                    band.LineWidth = 0;
                }
            // Lines are broken where a value is missing rather than drawn across the gap.
            foreach (var seg in Segments(n, i => double.IsFinite(tx[i]) && double.IsFinite(ty[i])))
            {
                var sc = plt.Add.Scatter(seg.Select(i => tx[i]).ToArray(), seg.Select(i => ty[i]).ToArray(), s.Faint ? color.WithAlpha(0.28) : color);
                sc.LineWidth = s.Style is SeriesStyle.Markers ? 0 : s.Faint ? 1f : 2.2f;
                sc.MarkerSize = s.Faint ? (s.Style is SeriesStyle.Markers ? 5 : 0) : s.Style is SeriesStyle.Markers or SeriesStyle.LineAndMarkers ? 8 : seg.Count == 1 ? 8 : 0;
                if (shapeOf.TryGetValue(s.Group, out var shape)) sc.MarkerShape = shape;
                if (s.Style == SeriesStyle.Dashed)
                {
                    sc.LinePattern = LinePattern.Dashed;
                    var c0 = sc.LineColor;
                    undash.Add(() => { sc.LinePattern = LinePattern.Solid; sc.LineColor = c0.WithAlpha(0.5); sc.LineWidth = 1.2f; });
                }
                finiteY.AddRange(seg.Select(i => ty[i]));
                if (!s.Faint) drawn.Add(s.Group);
                if (s.Censored is { } c && seg.Any(i => i < c.Length && c[i]))
                {
                    var open = plt.Add.Scatter(seg.Where(i => i < c.Length && c[i]).Select(i => tx[i]).ToArray(), seg.Where(i => i < c.Length && c[i]).Select(i => ty[i]).ToArray(), color);
                    open.LineWidth = 0;
                    open.MarkerShape = MarkerShape.OpenCircle;
                    open.MarkerSize = 13;
                    censored.Add(s.Group);
                }
            }
            if (s.Faint) continue;
            var bad = Enumerable.Range(0, n).Where(i => !double.IsFinite(s.Y[i]) || (figure.LogY && !(s.Y[i] > 0))).ToList();
            if (bad.Count > 0)
            {
                bool offLog = bad.All(i => double.IsFinite(s.Y[i]));
                var prior = nonFinite.GetValueOrDefault(s.Group, ([], 0, 0, true));
                prior.Xs.AddRange(bad.Select(i => tx[i]).Where(double.IsFinite));
                nonFinite[s.Group] = (prior.Xs, prior.Count + bad.Count, prior.Total + n, prior.OffLog && offLog);
                foreach (var i in bad) if (double.IsFinite(tx[i])) markers.Add((tx[i], color));
            }
        }

        // Non-finite values: a cross at the top edge at each x where they occur, in the series' colour.
        double top = finiteY.Count > 0 ? finiteY.Max() : 1, bottom = finiteY.Count > 0 ? finiteY.Min() : 0;
        double span = Math.Max(top - bottom, Math.Abs(top) * 1e-6 + 1e-12);
        // One row per colour, so several broken arms at the same x stay apart instead of overdrawing each other.
        int rows = markers.Select(m => m.Color).Distinct().Count();
        if (markers.Count > 0)
        {
            int row = 0;
            foreach (var group in markers.GroupBy(m => m.Color))
            {
                double y = top + (0.08 + 0.05 * row++) * span;
                // At most 40 crosses a row, evenly spread over the points they stand for: hundreds would merge into a bar.
                double[] at = [.. group.Select(m => m.X).Distinct().Order()];
                if (at.Length > 40) at = [.. Enumerable.Range(0, 40).Select(i => at[(int)Math.Round(i * (at.Length - 1) / 39.0)]).Distinct()];
                var sc = plt.Add.Scatter(at, [.. at.Select(_ => y)], group.Key);
                sc.LineWidth = 0;
                sc.MarkerShape = MarkerShape.Eks;
                sc.MarkerSize = 11;
                sc.MarkerLineWidth = 2.5f;
            }
            var edge = plt.Add.HorizontalLine(top + 0.04 * span, 1, Missing.WithAlpha(0.35), LinePattern.Dotted);
            undash.Add(() => { edge.LinePattern = LinePattern.Solid; edge.LineColor = Missing.WithAlpha(0.18); });
        }

        // The legend: one entry per group, saying when its values are missing or censored.
        bool flat = finiteY.Count > 1 && finiteY.Max() == finiteY.Min();
        var items = new List<LegendItem>();
        // In a variant × setting grid each arm's entry names its setting alone, below a heading naming its variant.
        var cellOf = new Dictionary<string, (string Arm, ArmCell Cell)>();
        if (grid is { Count: > 0 } && arms is not null)
            foreach (var g in groups)
                if (ArmIndex(g, arms) is { } a && grid.TryGetValue(arms[a], out var cell) && cell.Setting.Length > 0)
                    cellOf[g] = (arms[a], cell);
        var headed = new List<(string? Variant, LegendItem Item)>();
        foreach (var g in groups.Where(g => figure.Series.Any(s => s.Group == g && !s.Faint)))
        {
            // The group's name, then each note on a line of its own, so a note does not widen the legend (and shrink
            // the data) by its whole length.
            string name = cellOf.TryGetValue(g, out var gc) ? gc.Cell.Setting + g[gc.Arm.Length..] : g;
            var lines = Wrap(name, narrow ? NarrowLegendLine : LegendLine);
            if (under.TryGetValue(g, out var above)) lines.Add($"[{above}, drawn under it]");
            if (nonFinite.TryGetValue(g, out var nf))
                lines.Add(nf.Count == nf.Total
                    ? (nf.OffLog ? "[all ≤ 0: off the log scale, marked ×]" : "[all values NaN/∞: no line, marked ×]")
                    : (nf.OffLog ? $"[{nf.Count} of {nf.Total} points ≤ 0: ×]" : $"[{nf.Count} of {nf.Total} points NaN/∞: ×]"));
            if (censored.Contains(g)) lines.Add("[○ censored: not reached]");
            // Every value the same (a symmetry never broken, a distance of exactly 0): said in words, since an axis
            // drawn around one value has no scale to read it from.
            if (flat && solid.Any(s => s.Group == g && s.Y.Any(double.IsFinite)))
                lines.Add($"[{(figure.LogY ? Math.Pow(10, finiteY[0]) : finiteY[0]).ToString("G4", CultureInfo.InvariantCulture)} at every point]");
            // A narrow figure's legend sits below the data in a column its width allows: every line wraps to fit.
            if (narrow) lines = [.. lines.SelectMany(l => l.Length > NarrowLegendLine ? Wrap(l, NarrowLegendLine) : [l])];
            string text = string.Join("\n", lines);
            var style = figure.Series.First(s => s.Group == g && !s.Faint).Style;
            headed.Add((cellOf.TryGetValue(g, out var hc) ? hc.Cell.Variant : null, new LegendItem
            {
                LabelText = text,
                LineColor = ColorOf(g),
                LineWidth = style is SeriesStyle.Markers || !drawn.Contains(g) ? 0 : 2.2f,
                LinePattern = style == SeriesStyle.Dashed ? LinePattern.Dashed : LinePattern.Solid,
                MarkerShape = !drawn.Contains(g) ? MarkerShape.Eks : shapeOf.TryGetValue(g, out var shape) ? shape
                    : style is SeriesStyle.Markers or SeriesStyle.LineAndMarkers ? MarkerShape.FilledCircle : MarkerShape.None,
                MarkerFillColor = ColorOf(g),
                MarkerLineColor = ColorOf(g),
                MarkerSize = 8,
            }));
        }
        // The grid's entries gathered by variant (in the order the variants first appear), each variant headed once,
        // with a colon (the legend sets every entry in one face, so a heading cannot be told by its weight).
        foreach (var variant in headed.Select(e => e.Variant).Distinct())
        {
            if (variant is not null) items.Add(new LegendItem { LabelText = variant + ":", LineWidth = 0, MarkerShape = MarkerShape.None });
            items.AddRange(headed.Where(e => e.Variant == variant).Select(e => e.Item));
        }
        int footer = items.Count;
        if (figure.Series.Any(s => s.Faint && s.Style != SeriesStyle.Markers))
            items.Add(new LegendItem { LabelText = "single seeds (pale)", LineColor = Colors.Gray.WithAlpha(0.5), LineWidth = 1 });
        if (figure.Series.Any(s => s.Faint && s.Style == SeriesStyle.Markers))
            items.Add(new LegendItem { LabelText = "single seeds (pale dots)", LineWidth = 0, MarkerShape = MarkerShape.FilledCircle, MarkerFillColor = Colors.Gray.WithAlpha(0.45), MarkerLineColor = Colors.Gray.WithAlpha(0.45), MarkerSize = 5 });
        if (banded > 0 && bandAlpha > 0)
            items.Add(new LegendItem { LabelText = "band: 95% interval", FillColor = Colors.Gray.WithAlpha(0.25), LineWidth = 0 });
        else if (banded > 0)
            items.Add(new LegendItem { LabelText = $"no 95% bands ({banded} arms overlap)", LineWidth = 0 });
        if (figure.Series.Any(s => s.Low is not null && !s.Faint && s.Style == SeriesStyle.Markers))
            items.Add(new LegendItem { LabelText = "bar: 95% interval", LineColor = Colors.Gray.WithAlpha(0.6), LineWidth = 2.5f });

        // Wide: the legend sits to the right of the data, and the figure widens by its text so the data keep their
        // width. Narrow: the legend sits below the data, one entry a row, and the figure grows taller by it.
        bool legend = items.Count > 1 || nonFinite.Count > 0 || censored.Count > 0 || flat;
        // Once notes stand in rows of their own, an empty row keeps the notes on the figure as a whole (bands, seeds)
        // from reading as the last arm's.
        if (footer > 0 && footer < items.Count && items.Take(footer).Any(i => (i.LabelText ?? "").Contains('\n')))
            items.Insert(footer, new LegendItem { LabelText = " ", LineWidth = 0, MarkerShape = MarkerShape.None });
        items = SplitLines(items);
        // ScottPlot clips the legend's text to its box, whose top is the first line's ascent: a mark set above a
        // letter there (the hat of λ̂) would be cut off, so such a legend starts with an empty row.
        if (items.Count > 0 && MarkAbove((items[0].LabelText ?? "").Split('\n')[0]))
            items.Insert(0, new LegendItem { LabelText = " ", LineWidth = 0, MarkerShape = MarkerShape.None });
        int longest = items.Count == 0 ? 0 : items.Max(i => (i.LabelText ?? "").Split('\n').Max(l => l.Length));
        int width = narrow ? NarrowWidth : legend ? Width + 40 + (int)(7.2 * longest) : Width;
        int height = Decorate(plt, figure.Title, figure.XLabel, figure.YLabel, narrow ? NarrowWidth - 80 : Width - 90, narrow ? NarrowHeight : Height);
        // Every legend row is as tall as its tallest entry (about 17 px a line, and 9 between entries): a legend taller
        // than the figure would break into a second column past the figure's right edge, so the figure grows to hold
        // it in one.
        int legendHeight = LegendHeight(items);
        if (narrow && legend) height += legendHeight + 8;
        else if (legend) height = Math.Max(height, legendHeight + 90);
        if (figure.XCategories is { } categories)
        {
            // Narrow, a category's name breaks onto lines (at a space, a hyphen or a comma) that fit its share of the
            // axis, in a smaller face, rather than run into its neighbour's.
            int slot = (int)((narrow ? NarrowWidth - 80 : Width - 90) / Math.Max(1, categories.Count) / (CharWidth * (narrow ? 11 : 13)));
            if (narrow) plt.Axes.Bottom.TickLabelStyle.FontSize = 11;
            string[] names = [.. categories.Select(c => c.Length > slot ? string.Join("\n", BreakName(c, Math.Max(4, slot - 1))) : c)];
            plt.Axes.Bottom.SetTicks([.. Enumerable.Range(0, categories.Count).Select(i => (double)i)], names);
            height += 15 * (names.Max(n => n.Split('\n').Length) - 1);
            plt.Axes.Bottom.MajorTickStyle.Length = 0;
            plt.Axes.SetLimitsX(-0.5, categories.Count - 0.5);
        }
        // Counts (steps, epochs, layers) have no halves: integer ticks only when every x is a whole number.
        var allX = figure.Series.SelectMany(s => s.X).Where(double.IsFinite).ToList();
        bool counts = figure.XCategories is null && !figure.LogX && allX.Count > 0 && allX.All(x => x == Math.Round(x));
        if (counts)
            plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plt.Axes.AutoScale();
        if (figure.XCategories is { } cats) plt.Axes.SetLimitsX(-0.5, cats.Count - 0.5);
        // A count that starts at 0 gets no tick below it (no "epoch −2"): the axis starts just short of its least value.
        if (counts && allX.Min() >= 0 && allX.Max() > allX.Min())
        {
            double xSpan = allX.Max() - allX.Min();
            plt.Axes.SetLimitsX(allX.Min() - 0.02 * xSpan, allX.Max() + 0.02 * xSpan);
        }
        if (markers.Count > 0) plt.Axes.SetLimitsY(bottom - 0.06 * span, top + (0.09 + 0.05 * rows) * span);
        // A declared span shared with a sibling figure: both get the same axis wherever their own data lie within it.
        if (figure.YSpan is { } shared && !figure.LogY && markers.Count == 0 && shared.High >= shared.Low)
        {
            var own = finiteY.Concat(figure.Series.SelectMany(s => (s.Low ?? []).Concat(s.High ?? [])).Where(double.IsFinite)).ToList();
            double lo = Math.Min(shared.Low, own.DefaultIfEmpty(shared.Low).Min()), hi = Math.Max(shared.High, own.DefaultIfEmpty(shared.High).Max());
            double pad = 0.05 * (hi > lo ? hi - lo : Math.Max(Math.Abs(hi), 1));
            plt.Axes.SetLimitsY(lo - pad, hi + pad);
        }
        // The axis stops just past the values the quantity can take (an accuracy's axis at 1, not 1.05), beyond what
        // the × marks of non-finite values need above the data.
        if (figure.YRange.IsBounded && !figure.LogY)
        {
            var l = plt.Axes.GetLimits();
            double ySpan = l.Top - l.Bottom, lo = l.Bottom, hi = l.Top;
            if (lo < figure.YRange.Low) lo = Math.Min(figure.YRange.Low - 0.02 * ySpan, finiteY.DefaultIfEmpty(figure.YRange.Low).Min());
            if (markers.Count == 0 && hi > figure.YRange.High) hi = Math.Max(figure.YRange.High + 0.02 * ySpan, finiteY.DefaultIfEmpty(figure.YRange.High).Max());
            if (hi > lo) plt.Axes.SetLimitsY(lo, hi);
        }
        var limits = plt.Axes.GetLimits();
        if (figure.LogX && figure.XCategories is null) LogTicks(plt.Axes.Bottom, limits.Left, limits.Right, narrow ? NarrowWidth - 80 : Width - 90);
        if (figure.LogY) LogTicks(plt.Axes.Left, limits.Bottom, limits.Top, height - 130, vertical: true);
        if (legend)
        {
            plt.Legend.ManualItems.AddRange(items);
            ShowLegend(plt, narrow);
        }
        undash.Add(() => { foreach (var item in plt.Legend.ManualItems) item.LinePattern = LinePattern.Solid; });
        return Save(plt, pathWithoutExtension, width, height, undash);
    }

    /// <summary>A name broken into lines of at most <paramref name="max"/> characters after spaces, hyphens and commas.</summary>
    internal static List<string> BreakName(string name, int max)
    {
        var tokens = System.Text.RegularExpressions.Regex.Matches(name, @"[^ ,\-]+[,\-]?|\s+").Select(m => m.Value).ToList();
        var lines = new List<string>();
        var line = new StringBuilder();
        foreach (var t in tokens)
        {
            if (line.Length > 0 && line.ToString().TrimEnd().Length + t.TrimEnd().Length > max) { lines.Add(line.ToString().Trim()); line.Clear(); }
            if (line.Length == 0 && string.IsNullOrWhiteSpace(t)) continue;
            line.Append(t);
        }
        if (line.ToString().Trim().Length > 0) lines.Add(line.ToString().Trim());
        return lines.Count > 0 ? lines : [name];
    }

    /// <summary>The legend's height: a row per entry as tall as its lines (about 17 px each), 9 px between entries.</summary>
    /// <summary>
    /// Each entry of several lines split into rows of one: the first keeps the symbol, the rest (its notes) are text
    /// alone. ScottPlot sets every row of a legend as tall as its tallest entry, so one entry with a three-line note
    /// would space all the others three lines apart (and stretch a band's swatch to three lines' height).
    /// </summary>
    internal static List<LegendItem> SplitLines(IEnumerable<LegendItem> items) =>
        [.. items.SelectMany(item => (item.LabelText ?? "").Split('\n') is { Length: > 1 } lines
            ? lines.Select((line, i) => i == 0 ? CopyWithLabel(item, line) : new LegendItem { LabelText = line, LineWidth = 0, MarkerShape = MarkerShape.None })
            : [item])];

    private static LegendItem CopyWithLabel(LegendItem item, string label) => new()
    {
        LabelText = label, LineColor = item.LineColor, LineWidth = item.LineWidth, LinePattern = item.LinePattern, MarkerShape = item.MarkerShape,
        MarkerFillColor = item.MarkerFillColor, MarkerLineColor = item.MarkerLineColor, MarkerSize = item.MarkerSize, FillColor = item.FillColor,
    };

    private static int LegendHeight(IReadOnlyList<LegendItem> items) =>
        items.Count == 0 ? 0 : items.Count * (items.Max(i => (i.LabelText ?? "").Split('\n').Length) * 17 + 9);

    /// <summary>Whether <paramref name="text"/> holds a combining mark set above a letter (U+0300 to U+0315: a hat, a bar, a tilde).</summary>
    internal static bool MarkAbove(string text) => text.Any(c => c is >= '\u0300' and <= '\u0315');

    /// <summary>The legend outside the data: to the right, or (narrow) below them with one entry a row.</summary>
    private static void ShowLegend(Plot plt, bool narrow)
    {
        plt.ShowLegend(narrow ? Edge.Bottom : Edge.Right);
        plt.Legend.Orientation = Orientation.Vertical;
        StyleLegend(plt);
    }

    /// <summary><paramref name="c"/> mixed with white by <paramref name="amount"/> (0: itself, 1: white).</summary>
    internal static Color Lighter(Color c, double amount) => amount <= 0 ? c : new Color(
        (byte)Math.Round(c.Red + (255 - c.Red) * amount), (byte)Math.Round(c.Green + (255 - c.Green) * amount), (byte)Math.Round(c.Blue + (255 - c.Blue) * amount), c.Alpha);

    /// <summary>
    /// On a category axis, groups drawn as markers at the same positions stand side by side instead of on top of one
    /// another: each group's shift along x, centred on the category (none unless every x is a category's whole-number
    /// position and two or more groups are drawn as markers).
    /// </summary>
    internal static Dictionary<string, double> Dodges(Figure figure)
    {
        var dodge = new Dictionary<string, double>();
        if (figure.XCategories is null || !figure.Series.All(s => s.X.All(x => !double.IsFinite(x) || x == Math.Round(x)))) return dodge;
        var marked = figure.Series.Where(s => !s.Faint && s.Style is SeriesStyle.Markers).Select(s => s.Group).Distinct().ToList();
        if (marked.Count < 2) return dodge;
        double step = Math.Min(0.18, 0.7 / marked.Count);
        for (int j = 0; j < marked.Count; j++) dodge[marked[j]] = (j - (marked.Count - 1) / 2.0) * step;
        return dodge;
    }

    /// <summary>
    /// Where two or more groups are drawn as markers alone, each takes a marker shape of its own (circle, square,
    /// triangle, diamond, in turn), so that points of different groups differ by more than their colour.
    /// </summary>
    internal static Dictionary<string, MarkerShape> MarkerShapes(Figure figure)
    {
        MarkerShape[] shapes = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond, MarkerShape.FilledTriangleDown];
        var marked = figure.Series.Where(s => !s.Faint && s.Style is SeriesStyle.Markers).Select(s => s.Group).Distinct().ToList();
        return marked.Count < 2 ? [] : marked.Select((g, i) => (g, i)).ToDictionary(p => p.g, p => shapes[p.i % shapes.Length]);
    }

    // A group's name cut for a note: at its arm (before ':' or a bracketed note) when that is short, else at 29 characters.
    private static string Shorten(string group)
    {
        int cut = group.IndexOfAny([':', '[']);
        if (cut > 0 && cut <= 30) return group[..cut].TrimEnd();
        return group.Length <= 30 ? group : group[..29] + "…";
    }

    /// <summary>The longest line of a legend entry, in characters; longer names wrap at a space.</summary>
    internal const int LegendLine = 44;

    /// <summary>The longest line of a legend entry in the narrow rendering, in characters; names and notes wrap.</summary>
    internal const int NarrowLegendLine = 38;

    /// <summary>
    /// <paramref name="text"/> broken at spaces into lines of at most <paramref name="max"/> characters (a word longer
    /// than that keeps a line of its own); a bracketed note ("name  [note]") starts a line of its own.
    /// </summary>
    internal static List<string> Wrap(string text, int max)
    {
        var lines = new List<string>();
        foreach (var part in text.Split("  [", StringSplitOptions.RemoveEmptyEntries).Select((p, i) => i == 0 ? p : "[" + p))
        {
            var line = new StringBuilder();
            foreach (var word in part.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (line.Length > 0 && line.Length + 1 + word.Length > max) { lines.Add(line.ToString()); line.Clear(); }
                if (line.Length > 0) line.Append(' ');
                line.Append(word);
            }
            if (line.Length > 0) lines.Add(line.ToString());
        }
        return lines.Count > 0 ? lines : [text];
    }

    private static bool Finite(double[] values, int i, bool log) => i < values.Length && double.IsFinite(values[i]) && (!log || values[i] > 0);

    private static double T(double v, bool log) => log ? Math.Log10(v) : v;

    /// <summary>Maximal runs of consecutive indices that pass <paramref name="keep"/>.</summary>
    private static List<List<int>> Segments(int n, Func<int, bool> keep)
    {
        var result = new List<List<int>>();
        List<int>? current = null;
        for (int i = 0; i < n; i++)
        {
            if (keep(i)) (current ??= []).Add(i);
            else if (current is not null) { result.Add(current); current = null; }
        }
        if (current is not null) result.Add(current);
        return result;
    }

    private static Plot NewPlot()
    {
        var plt = new Plot();
        if (Sans.Value is { } face) plt.Font.Set(face.Family);
        plt.Grid.MajorLineColor = Grid;
        plt.Axes.Color(Ink);
        plt.Axes.Right.FrameLineStyle.Width = 0;
        plt.Axes.Top.FrameLineStyle.Width = 0;
        // Major ticks and grid lines only: minor ticks on every axis read as noise at slide size.
        plt.Axes.Left.MinorTickStyle.Length = 0;
        plt.Axes.Bottom.MinorTickStyle.Length = 0;
        return plt;
    }

    /// <summary>The average advance of a character of the sans-serif face, as a share of its size (DejaVu Sans: about 0.58).</summary>
    internal const double CharWidth = 0.58;

    /// <summary>
    /// Titles and labels the figure; returns its height. Text is fitted to the figure rather than cut off at its edge:
    /// a title longer than the data are wide wraps onto a second line, an axis label longer than its axis is set
    /// smaller (down to 12 px), an x label still too long then wraps onto a second line, and a y label still too long
    /// makes the figure taller.
    /// </summary>
    /// <param name="plt">The plot.</param>
    /// <param name="title">The title.</param>
    /// <param name="xLabel">The x-axis label.</param>
    /// <param name="yLabel">The y-axis label ("" for none).</param>
    /// <param name="dataWidth">The width of the data area the title and the x label are centred on, in pixels.</param>
    /// <param name="height">The figure's height before any growth, in pixels.</param>
    private static int Decorate(Plot plt, string title, string xLabel, string yLabel, int dataWidth, int height)
    {
        int extra = 0;
        // A narrow figure (a phone's) sets its title a size smaller.
        float titleSize = dataWidth < 500 ? 15 : 17;
        int titleLine = (int)(dataWidth / (CharWidth * titleSize * 1.05));
        // Wrapped into lines of about equal length rather than a full line and a stray word.
        var titleLines = title.Length > titleLine ? Wrap(title, Math.Min(titleLine, (title.Length + 1) / 2 + 6)) : [title];
        if (titleLines.Count > 2) titleLines = Wrap(title, titleLine);
        extra += (int)(1.3 * titleSize) * (titleLines.Count - 1);
        plt.Title(string.Join("\n", titleLines));
        double FitSize(string label, double room) => label.Length == 0 ? 15 : Math.Clamp(room / (CharWidth * label.Length), 12, 15);
        float xSize = (float)FitSize(xLabel, dataWidth), ySize = (float)FitSize(yLabel, height - 130);
        bool wrapX = CharWidth * xSize * xLabel.Length > dataWidth;
        var xLines = wrapX ? Wrap(xLabel, Math.Min((int)(dataWidth / (CharWidth * xSize)), (xLabel.Length + 1) / 2 + 8)) : [xLabel];
        extra += 18 * (xLines.Count - 1);
        plt.XLabel(string.Join("\n", xLines));
        plt.YLabel(yLabel);
        plt.Axes.Title.Label.FontSize = titleSize;
        plt.Axes.Title.Label.Bold = true;
        plt.Axes.Bottom.Label.FontSize = xSize;
        plt.Axes.Left.Label.FontSize = ySize;
        int tallest = (int)Math.Ceiling(CharWidth * ySize * yLabel.Length) + 130;
        plt.Axes.Bottom.Label.Bold = false;
        plt.Axes.Left.Label.Bold = false;
        plt.Axes.Bottom.TickLabelStyle.FontSize = 13;
        plt.Axes.Left.TickLabelStyle.FontSize = 13;
        return Math.Max(height + extra, tallest + extra);
    }

    private static void StyleLegend(Plot plt)
    {
        plt.Legend.FontSize = 13;
        plt.Legend.OutlineColor = Colors.Transparent;
        plt.Legend.ShadowColor = Colors.Transparent;
        plt.Legend.BackgroundColor = Colors.White;
    }

    /// <summary>
    /// Log-axis ticks (the data are drawn as log10): every power of ten over a wide range (every second or fifth
    /// beyond 8 or 20 decades), 1-3 steps over two to four decades (powers of ten alone left too few labels to read a
    /// value off), 1-2-5 steps within a narrower one, so a log axis never shows a single tick.
    /// </summary>
    private static void LogTicks(IAxis axis, double low, double high, double pixels = double.PositiveInfinity, bool vertical = false)
    {
        var (ticks, labels) = LogTickMarks(low, high, pixels, vertical);
        if (ticks.Length >= 2) axis.SetTicks(ticks, labels);
    }

    /// <summary>
    /// The ticks <see cref="LogTicks"/> sets, as log10 positions with their labels; none for an empty range. On a
    /// horizontal axis <paramref name="pixels"/> long, ticks whose labels would run into each other ("1,000" and "3,000"
    /// on a phone's width) give way to fewer: powers of ten alone, then every second, fifth, tenth … power; on a
    /// <paramref name="vertical"/> one, ticks closer than a line of text.
    /// </summary>
    internal static (double[] Ticks, string[] Labels) LogTickMarks(double low, double high, double pixels = double.PositiveInfinity, bool vertical = false)
    {
        for (int sparser = 0; ; sparser++)
        {
            var (ticks, labels) = LogTickMarksAt(low, high, sparser);
            bool crowded = false;
            for (int i = 1; i < ticks.Length && !crowded; i++)
                crowded = (ticks[i] - ticks[i - 1]) / (high - low) * pixels < (vertical ? 19 : CharWidth * 13 * (labels[i].Length + labels[i - 1].Length) / 2 + 8);
            if (!crowded || sparser == Every.Length - 1) return (ticks, labels);
        }
    }

    // The least step between powers of ten at each density: 0 as the data's range asks, 1 powers of ten alone, then
    // every second, fifth, tenth … power.
    private static ReadOnlySpan<int> Every => [1, 1, 2, 5, 10, 20, 50];

    // The ticks at a density (Every).
    private static (double[] Ticks, string[] Labels) LogTickMarksAt(double low, double high, int sparser)
    {
        if (!(high > low) || !double.IsFinite(low) || !double.IsFinite(high)) return ([], []);
        var ticks = new List<double>();
        double decades = high - low;
        if (decades >= 4 || (sparser > 0 && decades >= 1))
        {
            int every = Math.Max(decades > 20 ? 5 : decades > 8 ? 2 : 1, Every[sparser]);
            for (int k = (int)Math.Ceiling(low); k <= Math.Floor(high); k++)
                if (k % every == 0) ticks.Add(k);
        }
        else
        {
            int[] mantissas = decades < 0.6 ? [1, 2, 3, 4, 5, 6, 7, 8, 9] : decades < 2 ? [1, 2, 5] : [1, 3];
            for (int k = (int)Math.Floor(low) - 1; k <= Math.Ceiling(high); k++)
                foreach (var m in mantissas)
                {
                    double t = k + Math.Log10(m);
                    if (t >= low - 1e-9 && t <= high + 1e-9) ticks.Add(t);
                }
        }
        // One notation per axis: plain digits only when every tick has them, else every tick a power of ten.
        bool plain = ticks.All(t => Math.Floor(t + 1e-9) is >= -3 and <= 5);
        return ([.. ticks], [.. ticks.Select(t => LogLabel(t, plain))]);
    }

    // 0.001 … 100000 in plain digits when the whole axis allows, otherwise as a power of ten with a superscript
    // exponent (10⁻⁶, 3×10⁷).
    private static string LogLabel(double exponent, bool plain)
    {
        double value = Math.Pow(10, exponent);
        int k = (int)Math.Floor(exponent + 1e-9);
        if (plain) return value.ToString(value < 1 ? "0.######" : "#,0.##", CultureInfo.InvariantCulture);
        double mantissa = Math.Round(value / Math.Pow(10, k), 6);
        string power = "10" + Superscript(k);
        return Math.Abs(mantissa - 1) < 1e-6 ? power : mantissa.ToString("0.#", CultureInfo.InvariantCulture) + "×" + power;
    }

    private static string Superscript(int k) => new([.. k.ToString(CultureInfo.InvariantCulture).Select(c => c switch
    {
        '-' => '⁻', '0' => '⁰', '1' => '¹', '2' => '²', '3' => '³', '4' => '⁴', '5' => '⁵', '6' => '⁶', '7' => '⁷', '8' => '⁸', _ => '⁹',
    })]);

    /// <summary>
    /// A sans-serif face for every figure: the first of DejaVu Sans and Liberation Sans found in the usual font
    /// folders, registered with ScottPlot under its family name (so the SVG names it too); null leaves ScottPlot's
    /// default. The Linux SkiaSharp build without fontconfig cannot look faces up by name itself.
    /// </summary>
    private static SansFont? RegisterSans()
    {
        string[] folders = ["/usr/share/fonts/truetype", "/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "/System/Library/Fonts",
            Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.Windows), "Fonts")];
        (string Family, string Regular, string Bold)[] faces =
        [
            ("DejaVu Sans", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
            ("Liberation Sans", "LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
            ("Arial", "arial.ttf", "arialbd.ttf"),
        ];
        foreach (var (family, regular, bold) in faces)
            foreach (var folder in folders.Where(Directory.Exists))
            {
                string? r = Find(folder, regular);
                if (r is null) continue;
                try
                {
                    Fonts.AddFontFile(family, r, bold: false, italic: false);
                    if (Find(Path.GetDirectoryName(r)!, bold) is { } b) Fonts.AddFontFile(family, b, bold: true, italic: false);
                    return new SansFont(family, r);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
                {
                    return null;
                }
            }
        return null;
    }

    private static string? Find(string folder, string file)
    {
        try
        {
            return Directory.EnumerateFiles(folder, file, new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 3, IgnoreInaccessible = true, MatchCasing = MatchCasing.CaseInsensitive }).FirstOrDefault();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static Output Save(Plot plt, string pathWithoutExtension, int width, int height, IReadOnlyList<Action>? beforeSvg = null)
    {
        string svg = pathWithoutExtension + ".svg", png = pathWithoutExtension + ".png";
        if (Path.GetDirectoryName(Path.GetFullPath(svg)) is { } folder) Directory.CreateDirectory(folder);
        plt.ScaleFactor = Density;
        using (var image = plt.GetImage((int)(width * Density), (int)(height * Density)))
            Aperture.IO.AtomicFile.WriteAllBytes(png, image.GetImageBytes(ImageFormat.Png));
        plt.ScaleFactor = 1;
        foreach (var a in beforeSvg ?? []) a();
        Aperture.IO.AtomicFile.WriteAllText(svg, plt.GetSvgHtml(width, height));
        return new Output(svg, png, width, height);
    }
}
