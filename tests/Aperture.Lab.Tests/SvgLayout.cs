using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Aperture.Lab.Tests;

/// <summary>
/// Where a figure's text lies, read from the SVG the report writes: ScottPlot places every glyph of a text element at
/// an x offset of its own, so each text's extent is known to the glyph, after its transform (a translation, or the
/// quarter turn of a y-axis label).
/// </summary>
internal static partial class SvgLayout
{
    /// <summary>One text element: its content, its box in the figure's pixels, its font size, and whether it is turned.</summary>
    public sealed record Text(string Content, double Left, double Top, double Right, double Bottom, double FontSize, bool Rotated);

    /// <summary>The figure's size and every text element's box.</summary>
    public static (double Width, double Height, List<Text> Texts) Read(string path)
    {
        var doc = XDocument.Load(path);
        XNamespace ns = "http://www.w3.org/2000/svg";
        var root = doc.Root!;
        double width = Number(root.Attribute("width")?.Value), height = Number(root.Attribute("height")?.Value);
        var texts = new List<Text>();
        foreach (var t in doc.Descendants(ns + "text"))
        {
            string content = t.Value.Trim();
            if (content.Length == 0) continue;
            double size = Number(t.Attribute("font-size")?.Value ?? "12");
            var xs = Numbers(t.Attribute("x")?.Value);
            var ys = Numbers(t.Attribute("y")?.Value);
            if (xs.Count == 0) xs.Add(0);
            double y = ys.Count > 0 ? ys[0] : 0;
            // The run of glyphs in the text's own frame: from the first glyph's origin to the last one's, plus the last
            // glyph's advance (at most a wide character's); the baseline with the ascent above it and the descent below.
            double x0 = xs.Min(), x1 = xs.Max() + 0.62 * size, top = y - 0.76 * size, bottom = y + 0.24 * size;
            string transform = t.Attribute("transform")?.Value ?? "";
            var translate = TranslatePattern().Match(transform);
            var matrix = MatrixPattern().Match(transform);
            if (matrix.Success)
            {
                // matrix(a b c d e f): X = a·x + c·y + e, Y = b·x + d·y + f.
                double[] m = [.. Enumerable.Range(1, 6).Select(i => Number(matrix.Groups[i].Value))];
                var corners = new[] { (x0, top), (x1, top), (x0, bottom), (x1, bottom) }.Select(p => (X: m[0] * p.Item1 + m[2] * p.Item2 + m[4], Y: m[1] * p.Item1 + m[3] * p.Item2 + m[5])).ToList();
                texts.Add(new Text(content, corners.Min(c => c.X), corners.Min(c => c.Y), corners.Max(c => c.X), corners.Max(c => c.Y), size, Math.Abs(m[0]) < 0.5));
            }
            else
            {
                double tx = translate.Success ? Number(translate.Groups[1].Value) : 0, ty = translate.Success ? Number(translate.Groups[2].Value) : 0;
                texts.Add(new Text(content, tx + x0, ty + top, tx + x1, ty + bottom, size, false));
            }
        }
        return (width, height, texts);
    }

    /// <summary>Texts that reach beyond the figure's edges (cut off when shown), each with a description of where.</summary>
    public static IEnumerable<string> Clipped(string path)
    {
        var (w, h, texts) = Read(path);
        foreach (var t in texts)
            if (t.Left < -1 || t.Top < -1 || t.Right > w + 1 || t.Bottom > h + 1)
                yield return $"'{t.Content}' spans [{t.Left:F0}, {t.Right:F0}] × [{t.Top:F0}, {t.Bottom:F0}] in a {w:F0} × {h:F0} figure";
    }

    /// <summary>
    /// The left edges of the columns of text to the right of the data area (the legend's): one when the legend fits the
    /// figure's height, two or more when it broke into further columns.
    /// </summary>
    public static IReadOnlyList<double> LegendColumns(string path)
    {
        var doc = XDocument.Load(path);
        XNamespace ns = "http://www.w3.org/2000/svg";
        var clip = doc.Descendants(ns + "clipPath").Select(c => c.Element(ns + "rect")).First(r => r is not null)!;
        double right = Number(clip.Attribute("x")?.Value) + Number(clip.Attribute("width")?.Value);
        return [.. Read(path).Texts.Where(t => !t.Rotated && t.Left > right + 5).Select(t => Math.Round(t.Left / 4) * 4).Distinct().Order()];
    }

    /// <summary>Pairs of texts drawn over each other (tick labels run together, a legend line over a title).</summary>
    public static IEnumerable<string> Overlapping(string path)
    {
        var texts = Read(path).Texts;
        for (int i = 0; i < texts.Count; i++)
            for (int j = i + 1; j < texts.Count; j++)
            {
                var (a, b) = (texts[i], texts[j]);
                // Boxes are estimates: a pixel of slack either way, and a third of a line vertically (lines of a legend
                // entry sit one line apart, their estimated boxes touching).
                double slackY = 0.3 * Math.Min(a.FontSize, b.FontSize);
                if (a.Left < b.Right - 1 && b.Left < a.Right - 1 && a.Top < b.Bottom - slackY && b.Top < a.Bottom - slackY)
                    yield return $"'{a.Content}' and '{b.Content}' overlap";
            }
    }

    private static double Number(string? s) =>
        double.Parse((s ?? "0").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "0", CultureInfo.InvariantCulture);

    private static List<double> Numbers(string? s) =>
        [.. (s ?? "").Split([',', ' '], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(v => double.Parse(v, CultureInfo.InvariantCulture))];

    [GeneratedRegex(@"translate\(([-\d.e]+)[ ,]+([-\d.e]+)\)")]
    private static partial Regex TranslatePattern();

    [GeneratedRegex(@"matrix\(([-\d.e]+)[ ,]+([-\d.e]+)[ ,]+([-\d.e]+)[ ,]+([-\d.e]+)[ ,]+([-\d.e]+)[ ,]+([-\d.e]+)\)")]
    private static partial Regex MatrixPattern();
}
