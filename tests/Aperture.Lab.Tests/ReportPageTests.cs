using System.Text.RegularExpressions;
using Aperture.Lab.Report;
using Aperture.Lab.Store;
using Aperture.Lab.Sweeps;

namespace Aperture.Lab.Tests;

/// <summary>
/// The report's pages as HTML, without a browser: the provenance each page shows, the runs table of both seed blocks,
/// and a sweep page's provenance and reproduce commands.
/// </summary>
public partial class ReportPageTests
{
    [Fact]
    public void APhenomenonPageShowsBothBlocksRunsAndItsProvenance()
    {
        using var dir = new TempDir();
        string site = dir.File("report");
        ReplicatedOutcome outcome;
        using (var store = Tiny.NewStore(dir))
        {
            outcome = new LabRunner(store).RunReplicated(Tiny.Momentum, Tier.Quick, Tiny.MomentumProtocol(2));
            ReportWriter.Write(store, site, [Tiny.Momentum], r => $"./aperture lab run {r.Id} --seeds {r.Seeds}");
        }
        string html = File.ReadAllText(Path.Combine(site, "momentum-acceleration.html"));
        var d = outcome.Discovery;
        var r = outcome.Replication!;

        // The verdict shown is the latest (the replication block's), and the heading says so.
        Assert.Contains("replication block, seeds 2–3</span></h2>", html);
        // Every run of both blocks, each labelled with its block, and every result key as a column.
        var rows = RunRows().Matches(html).Select(m => (Id: m.Groups[1].Value, Block: m.Groups[2].Value)).ToList();
        Assert.Equal(d.RunIds.Concat(r.RunIds).Order(), rows.Select(x => x.Id).Order());
        Assert.Equal(d.RunIds.Count, rows.Count(x => x.Block == "discovery"));
        Assert.Equal(r.RunIds.Count, rows.Count(x => x.Block == "replication"));
        Assert.All(d.RunIds, id => Assert.Contains(rows, x => x.Id == id && x.Block == "discovery"));
        using (var store = RunStore.OpenExisting(dir.File("runs.db")))
        {
            var keys = store.LoadRunSet(d.RunIds.Concat(r.RunIds)).Runs.SelectMany(x => x.Results.Keys).Distinct().ToList();
            Assert.True(keys.Count >= 4, string.Join(", ", keys));
            Assert.All(keys, k => Assert.Contains($"<th>{System.Net.WebUtility.HtmlEncode(k)}</th>", html));
        }
        Assert.Contains($"{rows.Count} runs (discovery block: {d.RunIds.Count}, replication block: {r.RunIds.Count})", html);
        // Provenance: the commit, the data and its hash, the host, the protocol version, both seed blocks, the commands.
        foreach (var field in new[] { "<dt>Commit</dt>", "<dt>Data</dt>", "content SHA-256", "<dt>Host</dt>", $"momentum-acceleration version {Tiny.Momentum.Version}",
                     "discovery: seeds 0–1", "replication: seeds 2–3", "./aperture lab run momentum-acceleration --seeds 2" })
            Assert.Contains(field, html);

        // The scorecard's footer names each copy of the data with its own hash: synthetic data has none, and no empty
        // "content SHA-256 ()" is left behind.
        string index = File.ReadAllText(Path.Combine(site, "index.html"));
        Assert.Contains("Data: no external data (synthetic).", index);
        Assert.DoesNotContain("SHA-256 )", index);
    }

    [Fact]
    public void ASweepPageShowsItsProvenanceAndHowToRerunIt()
    {
        using var dir = new TempDir();
        string site = dir.File("report");
        var spec = SweepTests.DimensionSweep() with { Replicate = true };
        SweepPlan plan;
        using (var store = Tiny.NewStore(dir))
        {
            var runner = new LabRunner(store);
            var sweeps = new SweepRunner(store, runner);
            plan = sweeps.Prepare(spec);
            sweeps.Run(plan, new LocalExecutor(runner));
            ReportWriter.Write(store, site, [plan.Phenomenon], x => x.Id);
        }
        string html = File.ReadAllText(Path.Combine(site, $"momentum-acceleration-sweep-{plan.Id}.html"));
        string commit = RunStore.CodeVersion.Contains('+') ? RunStore.CodeVersion[(RunStore.CodeVersion.IndexOf('+') + 1)..] : "unknown";
        foreach (var field in new[] { "<h2>Provenance</h2>", $"<dt>Commit</dt><dd><code>{commit}</code>", "<dt>Data</dt><dd>no external data (synthetic)",
                     "<dt>Host</dt>", $"momentum-acceleration version {Tiny.Momentum.Version}, tier quick", "discovery: seeds 0–1", "replication: seeds 2–3",
                     "./aperture lab run --sweep sweep.json" })
            Assert.Contains(field, html);
        // The spec the page shows is the one `--sweep` reads back: the same sweep.
        var shown = System.Net.WebUtility.HtmlDecode(Regex.Match(html, "<h2>Spec</h2>\n<pre><code>(.*?)</code></pre>", RegexOptions.Singleline).Groups[1].Value);
        Assert.Equal(plan.Spec.ToJson(), SweepSpec.FromJson(shown, "the report's spec").ToJson());
    }

    [GeneratedRegex("<tr><td><code title=\"([0-9a-f]{32})\">[0-9a-f]{8}</code></td><td>(discovery|replication)</td>")]
    private static partial Regex RunRows();
}
