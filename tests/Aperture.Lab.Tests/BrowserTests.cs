using System.Buffers.Binary;
using Aperture.Lab.Report;
using Aperture.Lab.Store;
using Xunit.Abstractions;

namespace Aperture.Lab.Tests;

/// <summary>A fact that is skipped, saying why, only when no Chromium is installed.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (HeadlessChromium.Find() is null)
            Skip = "Chromium is not installed (.ci/run installs Debian's chromium package; set APERTURE_CHROMIUM to use another)";
    }
}

/// <summary>The report, opened in a real headless browser.</summary>
public class BrowserTests(ITestOutputHelper output)
{
    [ChromiumFact]
    public async Task ReportRendersInChromium()
    {
        using var dir = new TempDir();
        string site = dir.File("report");
        using (var store = Tiny.NewStore(dir))
        {
            var runner = new LabRunner(store);
            var all = Tiny.All(2);
            Assert.Equal(Catalogue.All.Select(p => p.Id).Order(), all.Select(t => t.Phenomenon.Id).Order());
            foreach (var (phenomenon, protocol) in all) runner.Run(phenomenon, Tier.Quick, protocol);
            ReportWriter.Write(store, site, r => $"./aperture lab run {r.Id} --seeds {r.Seeds}");
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var ct = timeout.Token;
        await using var browser = await HeadlessChromium.LaunchAsync(HeadlessChromium.Find()!, ct);
        string page = await browser.NewPageAsync(1280, 900, ct);

        string index = new Uri(Path.Combine(site, "index.html")).AbsoluteUri;
        await browser.NavigateAsync(page, index, ct);
        var ids = await browser.EvaluateAsync(page, "[...document.querySelectorAll('table.scorecard tbody tr')].map(r => r.dataset.id)", ct);
        Assert.Equal(Catalogue.All.Select(p => p.Id), ids.EnumerateArray().Select(e => e.GetString()));
        var verdicts = await browser.EvaluateAsync(page, "[...document.querySelectorAll('table.scorecard tbody tr td:nth-child(3)')].map(c => c.innerText.trim())", ct);
        // Every phenomenon was run above, so every row shows a verdict (its first line) and the seed block it rests on.
        Assert.All(verdicts.EnumerateArray(), v =>
        {
            var lines = v.GetString()!.Split('\n', StringSplitOptions.TrimEntries);
            Assert.Contains(lines[0], new[] { "held", "did not hold", "inconclusive" });
            Assert.Contains("seeds 0–1", lines);
        });
        await AssertImagesRender(browser, page, index, ct);

        // Every page at a desktop and a phone width: whole figures that fit the page, no sideways scrolling of the page
        // or of any figure (only wide tables scroll, inside their own boxes), and a screenshot of each, kept beside the test binary.
        string shots = Path.Combine(AppContext.BaseDirectory, "screenshots");
        output.WriteLine($"screenshots: {shots}/desktop and {shots}/phone");
        foreach (var (form, width) in new[] { ("desktop", 1280), ("phone", 420) })
        {
            string tab = await browser.NewPageAsync(width, 900, ct);
            Directory.CreateDirectory(Path.Combine(shots, form));
            foreach (var name in Catalogue.All.Select(p => p.Id).Prepend("index"))
            {
                string url = new Uri(Path.Combine(site, name + ".html")).AbsoluteUri;
                await browser.NavigateAsync(tab, url, ct);
                await AssertImagesRender(browser, tab, url, ct);
                var fit = await browser.EvaluateAsync(tab, """
                    [document.documentElement.scrollWidth, window.innerWidth,
                     Math.max(0, ...[...document.images].map(i => i.getBoundingClientRect().right)),
                     [...document.images].filter(i => !i.alt).length,
                     [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                         && !e.closest('.scroll, table:not(.scorecard)'))
                       .slice(0, 3).map(e => e.tagName + '.' + e.className + ': ' + (e.innerText || '').slice(0, 60)).join(' | ')]
                    """, ct);
                Assert.True(fit[0].GetInt32() <= fit[1].GetInt32() + 1, $"{form} {name}: the page is {fit[0]} px wide in a {fit[1]} px window; too wide: {fit[4]}");
                Assert.True(fit[2].GetDouble() <= fit[1].GetInt32() + 1, $"{form} {name}: a figure reaches {fit[2]} px in a {fit[1]} px window");
                // Every plot fits the page's width whole, never scrolled sideways: on a phone it is the narrow rendering
                // (legend below the data), drawn at nearly its own size so its text stays readable.
                var plots = await browser.EvaluateAsync(tab, """
                    [...document.querySelectorAll('figure[data-figure] img')].map(i => [i.getAttribute('src'), i.currentSrc, i.getBoundingClientRect().width,
                        i.getBoundingClientRect().right, i.naturalWidth, !!i.closest('.scroll'), i.closest('.plot') ? i.closest('.plot').scrollWidth - i.closest('.plot').clientWidth : -1])
                    """, ct);
                foreach (var f in plots.EnumerateArray())
                {
                    string src = f[0].GetString()!, current = f[1].GetString()!;
                    Assert.False(f[5].GetBoolean(), $"{form} {name}: {src} is in a box that scrolls sideways");
                    Assert.True(f[6].GetInt32() <= 0, $"{form} {name}: the box of {src} scrolls sideways by {f[6]} px");
                    Assert.True(f[3].GetDouble() <= fit[1].GetInt32() + 1, $"{form} {name}: {src} reaches {f[3]} px in a {fit[1]} px window");
                    if (form == "phone")
                    {
                        Assert.True(current.EndsWith("-narrow.svg", StringComparison.Ordinal), $"phone {name}: {src} shows {current}, not its narrow rendering");
                        Assert.True(f[2].GetDouble() >= 0.9 * PlotRenderer.NarrowWidth, $"phone {name}: {src} is drawn {f[2]} px wide, shrunk below 90% of its {PlotRenderer.NarrowWidth} px");
                    }
                    else Assert.False(current.Contains("-narrow", StringComparison.Ordinal), $"desktop {name}: {src} shows its narrow rendering {current}");
                }
                Assert.Equal(0, fit[3].GetInt32());
                if (name == "index")
                {
                    var layout = await browser.EvaluateAsync(tab, """
                        [getComputedStyle(document.querySelector('table.scorecard thead')).display,
                         getComputedStyle(document.querySelector('table.scorecard tbody tr')).display]
                        """, ct);
                    if (form == "phone") Assert.Equal(["none", "block"], layout.EnumerateArray().Select(e => e.GetString()));
                    else
                    {
                        Assert.Equal(["table-header-group", "table-row"], layout.EnumerateArray().Select(e => e.GetString()));
                        // A row a reader takes in at a glance: no column squeezed into a tall strip of words.
                        var rows = await browser.EvaluateAsync(tab, "[...document.querySelectorAll('table.scorecard tbody tr')].map(r => [r.dataset.id, r.getBoundingClientRect().height])", ct);
                        foreach (var r in rows.EnumerateArray())
                            Assert.True(r[1].GetDouble() <= 240, $"desktop index: the row of {r[0].GetString()} is {r[1].GetDouble():F0} px tall");
                    }
                }
                else
                {
                    string text = (await browser.EvaluateAsync(tab, "document.body.innerText", ct)).GetString()!;
                    foreach (var field in new[] { "Commit", "Data", "content SHA-256", "Host", "Protocol", "discovery: seeds", "replication:", "./aperture lab run " + name })
                        Assert.True(text.Contains(field, StringComparison.Ordinal), $"{form} {name}: the page does not show '{field}'");
                }
                byte[] png = await browser.ScreenshotAsync(tab, width, ct);
                Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
                Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));
                await File.WriteAllBytesAsync(Path.Combine(shots, form, name + ".png"), png, ct);
            }
        }
        File.Copy(Path.Combine(shots, "desktop", "index.png"), Path.Combine(shots, "scorecard.png"), overwrite: true);

        // Every figure: its axes carry the labels its declaration gives, and no text (legend, title, labels) is drawn
        // inside the data area, which the SVG names as the clip rectangle of the plotted data.
        using (var store = RunStore.OpenExisting(dir.File("runs.db")))
        {
            var latest = store.LatestVerdicts();
            foreach (var p in Catalogue.All)
            {
                var v = latest[p.Id];
                var runs = store.LoadRunSet(v.RunIds);
                var protocol = p.ReadProtocol(v.ProtocolJson);
                foreach (var f in ReportWriter.PageFigures(p, protocol, runs))
                {
                    string svg = Path.Combine(site, "img", $"{p.Id}-{Slug(f.Name)}.svg");
                    var texts = SvgTexts(svg, out _);
                    Assert.True(texts.Any(t => t.Text == f.XLabel), $"{svg}: no x-axis label '{f.XLabel}'");
                    Assert.True(texts.Any(t => t.Text == f.YLabel), $"{svg}: no y-axis label '{f.YLabel}'");
                    Assert.False(f.XLabel.Contains("not declared"), $"{p.Id}: figure {f.Name}: the metric's axis is not declared in {p.GetType().Name}.Metrics");
                }
            }
        }
        foreach (var svg in Directory.GetFiles(Path.Combine(site, "img"), "*.svg"))
        {
            // No text cut off at the figure's edge, and none drawn over another (tick labels running together, a
            // title over a legend).
            Assert.Empty(SvgLayout.Clipped(svg).Select(c => $"{Path.GetFileName(svg)}: {c}"));
            Assert.Empty(SvgLayout.Overlapping(svg).Select(c => $"{Path.GetFileName(svg)}: {c}"));
            Assert.True(SvgLayout.LegendColumns(svg).Count <= 1, $"{Path.GetFileName(svg)}: the legend broke into columns at x = {string.Join(", ", SvgLayout.LegendColumns(svg))}");
            var texts = SvgTexts(svg, out var data);
            Assert.True(texts.Count >= 3, $"{svg}: {texts.Count} texts");
            foreach (var t in texts)
                Assert.False(t.X > data.Left + 1 && t.X < data.Right - 1 && t.Y > data.Top + 1 && t.Y < data.Bottom - 1,
                    $"{svg}: '{t.Text}' is drawn inside the data area ({t.X:F0}, {t.Y:F0} in [{data.Left:F0}, {data.Right:F0}] × [{data.Top:F0}, {data.Bottom:F0}])");
        }
    }

    private static string Slug(string s) => new([.. s.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-')]);

    /// <summary>The SVG's text elements with the point each starts at, and the data area (the plotted data's clip rectangle).</summary>
    private static List<(string Text, double X, double Y)> SvgTexts(string path, out (double Left, double Top, double Right, double Bottom) data)
    {
        var doc = System.Xml.Linq.XDocument.Load(path);
        System.Xml.Linq.XNamespace ns = "http://www.w3.org/2000/svg";
        static double First(string? list) => double.Parse((list ?? "0").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "0",
            System.Globalization.CultureInfo.InvariantCulture);
        var clip = doc.Descendants(ns + "clipPath").Select(c => c.Element(ns + "rect")).First(r => r is not null)!;
        double x0 = First(clip.Attribute("x")?.Value), y0 = First(clip.Attribute("y")?.Value);
        data = (x0, y0, x0 + First(clip.Attribute("width")?.Value), y0 + First(clip.Attribute("height")?.Value));
        var result = new List<(string, double, double)>();
        foreach (var t in doc.Descendants(ns + "text"))
        {
            var m = System.Text.RegularExpressions.Regex.Match(t.Attribute("transform")?.Value ?? "", @"translate\(([-\d.e]+)[ ,]+([-\d.e]+)\)");
            double tx = m.Success ? double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
            double ty = m.Success ? double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
            result.Add((t.Value.Trim(), tx + First(t.Attribute("x")?.Value), ty + First(t.Attribute("y")?.Value)));
        }
        return result;
    }

    private static async Task<int> AssertImagesRender(HeadlessChromium browser, string page, string url, CancellationToken ct)
    {
        var widths = await browser.EvaluateAsync(page, """
            Promise.all([...document.images].map(i => i.complete
                ? [i.getAttribute('src'), i.naturalWidth]
                : new Promise(r => { i.onload = () => r([i.getAttribute('src'), i.naturalWidth]); i.onerror = () => r([i.getAttribute('src'), 0]); })))
            """, ct);
        foreach (var w in widths.EnumerateArray())
            Assert.True(w[1].GetInt32() > 0, $"{url}: image {w[0].GetString()} did not render");
        return widths.GetArrayLength();
    }
}
