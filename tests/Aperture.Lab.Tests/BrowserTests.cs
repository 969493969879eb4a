using System.Buffers.Binary;
using Aperture.Lab.Report;
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

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
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

        byte[] png = await browser.ScreenshotAsync(page, 1280, ct);
        string shots = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(shots);
        string shot = Path.Combine(shots, "scorecard.png");
        await File.WriteAllBytesAsync(shot, png, ct);
        output.WriteLine($"screenshot: {shot}");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        Assert.Equal(1280, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));

        foreach (var p in Catalogue.All)
        {
            string url = new Uri(Path.Combine(site, p.Id + ".html")).AbsoluteUri;
            await browser.NavigateAsync(page, url, ct);
            Assert.Equal(p.Title, (await browser.EvaluateAsync(page, "document.querySelector('h1').innerText", ct)).GetString());
            int images = await AssertImagesRender(browser, page, url, ct);
            Assert.True(images >= 2, $"{p.Id}: expected the effect plot and the training curves, found {images} images");
            Assert.Contains("./aperture lab run " + p.Id, (await browser.EvaluateAsync(page, "document.body.innerText", ct)).GetString());
        }
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
