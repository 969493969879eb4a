using System.Globalization;

namespace Aperture.Lab.Sweeps;

/// <summary>One judged grid point of a sweep on one block of seeds.</summary>
/// <param name="Point">The grid point's index.</param>
/// <param name="Block">0 for discovery, 1 for replication.</param>
/// <param name="Settings">The point's settings.</param>
/// <param name="Verdict">Its verdict.</param>
public sealed record JudgedPoint(int Point, int Block, IReadOnlyList<KeyValuePair<string, string>> Settings, Verdict Verdict);

/// <summary>
/// The response curve of a sweep: each checked quantity's estimate with its 95% interval against the swept setting
/// (the first axis), one line per combination of the other axes, the replication block dashed beside the discovery
/// block, over the band of values that supports the claim.
/// </summary>
public static class ResponseCurve
{
    /// <summary>
    /// One figure per check of the verdicts (in the order of the first point's checks), plus one for the headline
    /// effect when it is not itself a check. Empty when the sweep has no axis or no point is judged.
    /// </summary>
    public static IReadOnlyList<Figure> Figures(SweepSpec spec, IReadOnlyList<JudgedPoint> points)
    {
        if (spec.Axes.Count == 0 || points.Count == 0) return [];
        var axis = spec.Axes[0];
        var others = spec.Axes.Skip(1).Select(a => a.Setting).ToList();
        var levels = axis.Expand();
        bool numeric = levels.All(v => TryNumber(v, out _));
        double X(string v) => numeric && TryNumber(v, out var d) ? d : IndexOf(levels, v);
        bool logX = numeric && (axis.Kind == SweepAxisKind.LogUniform
                                || (levels.Select(v => X(v)).ToList() is var xs && xs.All(x => x > 0) && xs.Max() / xs.Min() >= 100));
        string xLabel = numeric ? axis.Setting : $"{axis.Setting} (0 … {levels.Count - 1}: {string.Join(", ", levels)})";

        var names = points[0].Verdict.Checks.Select(c => c.Estimate.Name).ToList();
        if (!names.Contains(points[0].Verdict.Effect.Name)) names.Insert(0, points[0].Verdict.Effect.Name);
        var figures = new List<Figure>();
        foreach (var name in names)
        {
            var series = new List<Series>();
            (double Low, double High)? band = null;
            foreach (var group in points.GroupBy(p => (Others: Describe(p.Settings, others), p.Block)).OrderBy(g => g.Key.Block).ThenBy(g => g.Min(p => p.Point)))
            {
                var rows = new List<(double X, Estimate E)>();
                foreach (var p in group.OrderBy(p => p.Point))
                {
                    var check = p.Verdict.Checks.FirstOrDefault(c => c.Estimate.Name == name);
                    var e = check?.Estimate ?? (p.Verdict.Effect.Name == name ? p.Verdict.Effect : null);
                    if (e is null) continue;
                    if (check is not null) band ??= (check.Supports.Low, check.Supports.High);
                    rows.Add((X(Value(p.Settings, axis.Setting)), e));
                }
                if (rows.Count == 0) continue;
                rows.Sort((a, b) => a.X.CompareTo(b.X));
                string label = (group.Key.Others.Length > 0 ? group.Key.Others : "estimate") + (group.Key.Block == 1 ? " (replication)" : "");
                series.Add(new Series(label, [.. rows.Select(r => r.X)], [.. rows.Select(r => r.E.Value)],
                    group.Key.Block == 1 ? SeriesStyle.Dashed : SeriesStyle.LineAndMarkers)
                {
                    Low = [.. rows.Select(r => r.E.Low)],
                    High = [.. rows.Select(r => r.E.High)],
                });
            }
            if (series.Count == 0) continue;
            figures.Add(new Figure("response-" + Slug(name), $"{name} against {axis.Setting}", xLabel, name, series, LogX: logX,
                // The renderer draws a line's intervals as a band of its colour (and leaves them out, saying so in the
                // legend, when more than five lines' bands would overlap); the claim's region is the green band.
                Caption: $"Each point: the estimate over the seeds of one grid point; the band of a line's colour: its 95% intervals" +
                         (band is null ? "" : "; green: the values that support the claim") +
                         (spec.Replicate ? "; dashed: the replication block" : "") + ".")
            { Band = band });
        }
        return figures;
    }

    private static string Value(IReadOnlyList<KeyValuePair<string, string>> settings, string key) =>
        settings.LastOrDefault(kv => kv.Key == key).Value ?? "";

    private static string Describe(IReadOnlyList<KeyValuePair<string, string>> settings, IReadOnlyList<string> keys) =>
        string.Join(", ", keys.Select(k => $"{k}={Value(settings, k)}"));

    private static int IndexOf(IReadOnlyList<string> levels, string v)
    {
        for (int i = 0; i < levels.Count; i++) if (levels[i] == v) return i;
        return -1;
    }

    private static bool TryNumber(string s, out double d) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out d) && double.IsFinite(d);

    private static string Slug(string s) => new([.. s.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-')]);
}
