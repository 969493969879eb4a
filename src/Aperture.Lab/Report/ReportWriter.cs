using System.Globalization;
using System.Text;
using Aperture.Lab.Store;
using Aperture.Lab.Sweeps;
using static System.Net.WebUtility;

namespace Aperture.Lab.Report;

/// <summary>What <c>ReportWriter.Write</c> wrote.</summary>
/// <param name="IndexPath">The scorecard page.</param>
/// <param name="Pages">Every HTML page.</param>
/// <param name="Images">Every image.</param>
public sealed record ReportSummary(string IndexPath, IReadOnlyList<string> Pages, IReadOnlyList<string> Images);

/// <summary>
/// Writes the lab's static HTML report from a run store: a scorecard (index.html) with one row per phenomenon, and a
/// page per phenomenon with its claim, sources, mental models, protocol, plots, effect with interval and the command
/// that reproduces it. Each phenomenon shows its latest stored verdict; plots are drawn from that verdict's runs.
/// </summary>
public static class ReportWriter
{
    /// <summary>Writes the report for every phenomenon of the catalogue into <paramref name="outDir"/>.</summary>
    /// <param name="store">The run store.</param>
    /// <param name="outDir">The folder to write.</param>
    /// <param name="command">Formats the command line that reproduces a verdict (the caller's command-line syntax).</param>
    /// <param name="progress">Receives each phenomenon's id as its page is drawn.</param>
    public static ReportSummary Write(RunStore store, string outDir, Func<Reproduction, string> command, IProgress<string>? progress = null) =>
        Write(store, outDir, Catalogue.All, command, progress);

    /// <summary>Writes the report for <paramref name="phenomena"/> into <paramref name="outDir"/>.</summary>
    public static ReportSummary Write(RunStore store, string outDir, IReadOnlyList<Phenomenon> phenomena, Func<Reproduction, string> command,
        IProgress<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(command);
        Directory.CreateDirectory(outDir);
        var verdicts = store.LatestVerdicts();
        var pages = new List<string>();
        var images = new List<string>();
        var rows = new List<(Phenomenon P, VerdictRecord? V, VerdictRecord? Pair)>();
        foreach (var p in phenomena)
        {
            progress?.Report(p.Id);
            var v = verdicts.GetValueOrDefault(p.Id);
            var pair = v is null ? null : OtherBlock(store, p, v);
            rows.Add((p, v, pair));
            pages.Add(WritePhenomenonPage(store, outDir, p, v, pair, images, command, pages));
        }
        string index = Path.Combine(outDir, "index.html");
        WriteAtomically(index, Scorecard(rows, command));
        pages.Insert(0, index);
        return new ReportSummary(index, pages, images);
    }

    /// <summary>
    /// The verdict of the other block of a discovery/replication pair: the latest verdict of the same phenomenon, tier,
    /// run settings, seed count and data whose seed base is one block away from <paramref name="v"/>'s.
    /// </summary>
    private static VerdictRecord? OtherBlock(RunStore store, Phenomenon p, VerdictRecord v)
    {
        string config = ProtocolBinding.RunConfigJson(p.ReadProtocol(v.ProtocolJson));
        return store.Verdicts(p.Id).FirstOrDefault(o => o.Id != v.Id && o.Tier == v.Tier && o.Seeds == v.Seeds
            && o.DataFingerprint == v.DataFingerprint && o.ProtocolVersion == v.ProtocolVersion
            && Math.Abs(o.SeedBase - v.SeedBase) == v.Seeds && ProtocolBinding.RunConfigJson(p.ReadProtocol(o.ProtocolJson)) == config);
    }

    private static (VerdictRecord Discovery, VerdictRecord? Replication) Blocks(VerdictRecord v, VerdictRecord? pair) =>
        pair is null ? (v, null) : pair.SeedBase < v.SeedBase ? (pair, v) : (v, pair);

    private static string ReplicationText(VerdictRecord v, VerdictRecord? pair)
    {
        var (d, r) = Blocks(v, pair);
        if (r is null) return "no replication block";
        return d.Verdict.Outcome == r.Verdict.Outcome
            ? $"replicated: {r.Verdict.Outcome.Text()} on seeds {r.SeedBase}–{r.SeedBase + r.Seeds - 1}"
            : $"not replicated: {r.Verdict.Outcome.Text()} on seeds {r.SeedBase}–{r.SeedBase + r.Seeds - 1}";
    }

    private static string Scorecard(List<(Phenomenon P, VerdictRecord? V, VerdictRecord? Pair)> rows, Func<Reproduction, string> command)
    {
        var h = new StringBuilder();
        Head(h, "Aperture — phenomena scorecard");
        h.Append("<h1>Phenomena scorecard</h1>\n<p class=\"lede\">Each row is a claim about deep learning, run as a controlled multi-seed experiment and judged by a rule stated in advance: ")
         .Append("<b>held</b> if every check's 95% interval lies inside the region that supports the claim, <b>did not hold</b> if (after Holm's adjustment for the family of checks) ")
         .Append("an interval lies wholly in the region that contradicts it, <b>inconclusive</b> otherwise. Each verdict is judged on a discovery block of seeds and again on ")
         .Append("an independent replication block; it is replicated only when both agree.</p>\n");
        h.Append("<table class=\"scorecard\">\n<thead><tr><th>Phenomenon</th><th>Claim</th><th>Verdict</th><th>Replication</th><th>Effect [95% CI]</th><th>Seeds</th><th>Tier</th><th>Time</th><th>Supports</th><th>Contradicts</th></tr></thead>\n<tbody>\n");
        foreach (var (p, v0, pair) in rows)
        {
            h.Append($"<tr data-id=\"{HtmlEncode(p.Id)}\"><td><a href=\"{HtmlEncode(p.Id)}.html\">{HtmlEncode(p.Title)}</a><div class=\"id\">{HtmlEncode(p.Id)}</div></td>");
            h.Append($"<td>{HtmlEncode(p.Claim)}</td>");
            if (v0 is null)
            {
                h.Append("<td><span class=\"badge none\">not run</span></td><td colspan=\"7\">run <code>")
                 .Append(HtmlEncode(command(new Reproduction(p.Id, Tier.Quick, p.Defaults(Tier.Quick).Seeds, 0, [])))).Append("</code></td></tr>\n");
                continue;
            }
            var v = Blocks(v0, pair).Discovery;
            var e = v.Verdict.Effect;
            h.Append($"<td>{Badge(v.Verdict.Outcome)}<div class=\"id\">seeds {v.SeedBase}–{v.SeedBase + v.Seeds - 1}</div></td><td>{HtmlEncode(ReplicationText(v0, pair))}</td><td>{HtmlEncode(e.Name)}: <b>{HtmlEncode(e.Format())}</b></td>");
            h.Append($"<td>{v.Seeds}</td><td>{TierText(v)}</td><td class=\"nowrap\">{Duration(v.Seconds)}</td>");
            h.Append($"<td>{ModelList(p, v.Verdict.Outcome, true)}</td><td>{ModelList(p, v.Verdict.Outcome, false)}</td></tr>\n");
        }
        h.Append("</tbody></table>\n");

        // The optics-style matrix: which mental model each result supports (✓) or contradicts (✗).
        var models = MentalModels.All.Where(m => rows.Any(r => r.P.Models.Any(b => b.Model == m))).ToList();
        // In a scrolling box: with many phenomena the matrix is wider than the page.
        h.Append("<h2>Mental models</h2>\n<div class=\"scroll\"><table class=\"models\">\n<thead><tr><th>Model</th>");
        foreach (var (p, _, _) in rows) h.Append($"<th><a href=\"{HtmlEncode(p.Id)}.html\">{HtmlEncode(p.Id)}</a></th>");
        h.Append("</tr></thead>\n<tbody>\n");
        foreach (var m in models)
        {
            h.Append($"<tr><td><b>{HtmlEncode(m.Name)}</b><div class=\"id\">{HtmlEncode(m.Statement)}</div></td>");
            foreach (var (p, v, _) in rows)
            {
                var bearing = p.Models.FirstOrDefault(b => b.Model == m);
                string cell = bearing is null ? "" : v is null ? "not run" : bearing.SupportedBy(v.Verdict.Outcome) switch
                {
                    true => "<span class=\"yes\">✓ supports</span>",
                    false => "<span class=\"no\">✗ contradicts</span>",
                    null => "<span class=\"maybe\">? undecided</span>",
                };
                h.Append($"<td>{cell}</td>");
            }
            h.Append("</tr>\n");
        }
        h.Append("</tbody></table></div>\n<p class=\"foot\">Reproduce everything: <code>./aperture lab run --all --tier quick &amp;&amp; ./aperture report</code>. ")
         .Append(ProvenanceLine(rows.Select(r => r.V).OfType<VerdictRecord>().ToList()))
         .Append($"Generated {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC.</p>\n");
        Tail(h);
        return h.ToString();
    }

    private static string WritePhenomenonPage(RunStore store, string outDir, Phenomenon p, VerdictRecord? v, VerdictRecord? pair, List<string> images,
        Func<Reproduction, string> command, List<string> pagesWritten)
    {
        var h = new StringBuilder();
        Head(h, $"{p.Title} — Aperture");
        h.Append("<p><a href=\"index.html\">← scorecard</a></p>\n");
        h.Append($"<h1>{HtmlEncode(p.Title)}</h1>\n<p class=\"id\">{HtmlEncode(p.Id)} · protocol version {p.Version}</p>\n");
        h.Append($"<p class=\"claim\"><b>Claim.</b> {HtmlEncode(p.Claim)}</p>\n<p><b>Method.</b> {HtmlEncode(p.Method)}</p>\n");
        LabProtocol protocol = p.Defaults(Tier.Quick);
        if (v is null)
        {
            h.Append($"<p>{Badge(null)} No stored verdict yet. Run <code>{HtmlEncode(command(new Reproduction(p.Id, Tier.Quick, protocol.Seeds, 0, [])))}</code>.</p>\n");
        }
        else
        {
            protocol = ProtocolBinding.FromJson(v.ProtocolJson, p.ProtocolType);
            var verdict = v.Verdict;
            h.Append($"<h2>Verdict: {Badge(verdict.Outcome)} <span class=\"id\">seeds {v.SeedBase}–{v.SeedBase + v.Seeds - 1}</span></h2>\n");
            if (verdict.SeedsToDecide is { } need)
                h.Append($"<p>Undecided at this spread: about {need} seeds per arm would be needed to decide.</p>\n");
            h.Append($"<p class=\"effect\">{HtmlEncode(verdict.Effect.Name)} = <b>{HtmlEncode(verdict.Effect.Format())}</b> ")
             .Append($"(mean over {verdict.Effect.N} seeds, 95% {HtmlEncode(verdict.Effect.Method)}). Tier {TierText(v)}, {v.Seeds} seeds, ")
             .Append($"{Duration(v.Seconds)} of compute.</p>\n");
            h.Append($"<p><b>Rule (stated in advance).</b> {HtmlEncode(verdict.Rule)}.</p>\n");
            var thresholds = ProtocolBinding.Differences(protocol, p.Defaults(v.Tier)).Where(d => ProtocolBinding.Settings(protocol).Any(s => s.Key == d.Key && s.IsThreshold)).ToList();
            if (thresholds.Count > 0)
                h.Append($"<p class=\"warn\">Judged with thresholds changed from the phenomenon's stated ones: {HtmlEncode(string.Join(", ", thresholds.Select(t => $"{t.Key}={t.Value}")))}.</p>\n");
            h.Append("<table><thead><tr><th>Check</th><th>Estimate [95% CI]</th><th>Interval</th><th>Supports</th><th>Contradicts</th><th>Outcome</th></tr></thead><tbody>\n");
            foreach (var c in verdict.Checks)
                h.Append($"<tr><td>{HtmlEncode(c.Estimate.Name)}</td><td>{HtmlEncode(c.Estimate.Format())}</td><td>{HtmlEncode(c.Estimate.Method)}, n = {c.Estimate.N}</td><td>{HtmlEncode(c.Band)}</td><td>{HtmlEncode(c.ContradictingBand)}</td><td>{Badge(c.Outcome)}<div class=\"id\">{HtmlEncode(c.Reason)}</div></td></tr>\n");
            h.Append("</tbody></table>\n");
            if (verdict.Extra.Count > 0)
            {
                h.Append("<h3>Also measured</h3>\n<table><thead><tr><th>Estimate</th><th>Mean [95% CI]</th><th>n</th></tr></thead><tbody>\n");
                foreach (var e in verdict.Extra)
                    h.Append($"<tr><td>{HtmlEncode(e.Name)}</td><td>{HtmlEncode(e.Format())}</td><td>{e.N}</td></tr>\n");
                h.Append("</tbody></table>\n");
            }
            h.Append($"<p><b>Replication.</b> {HtmlEncode(ReplicationText(v, pair))}.</p>\n");
            h.Append($"<p class=\"id\">Data: {HtmlEncode(v.DataSource)} (content hash {HtmlEncode(v.DataFingerprint)}). Code: Aperture {HtmlEncode(v.CodeVersion)}, protocol version {HtmlEncode(v.ProtocolVersion)}. Judged on {HtmlEncode(v.Host)}, {HtmlEncode(v.Created)}.</p>\n");
            h.Append($"<h2>Reproduce</h2>\n<pre><code>{HtmlEncode(command(new Reproduction(p.Id, v.Tier, v.Seeds, v.SeedBase, v.Overrides)))}</code></pre>\n");

            var runs = store.LoadRunSet(v.RunIds);
            h.Append("<h2>Plots</h2>\n");
            Image(h, outDir, images, p.Id, "effect", "Effect with its interval and band", "",
                path => PlotRenderer.RenderEffect(verdict, path));
            foreach (var f in p.FiguresFor(protocol, runs))
                Image(h, outDir, images, p.Id, f.Name, f.Title, f.Caption, path => PlotRenderer.Render(f, path));
            foreach (var f in CurveFigures(runs))
                Image(h, outDir, images, p.Id, f.Name, f.Title, f.Caption, path => PlotRenderer.Render(f, path));
            NeighbourGallery.Append(h, outDir, images, p.Id, runs);
            RunsTable(h, runs);
        }
        var sweeps = store.Sweeps(p.Id);
        if (sweeps.Count > 0)
        {
            h.Append("<h2>Sweeps</h2>\n<ul>\n");
            foreach (var sweep in sweeps)
            {
                string sweepPage = WriteSweepPage(store, outDir, p, sweep, images, pagesWritten);
                var spec = sweep.Spec;
                h.Append($"<li><a href=\"{HtmlEncode(Path.GetFileName(sweepPage))}\">sweep {HtmlEncode(sweep.Id)}</a>: ")
                 .Append(HtmlEncode(string.Join(" × ", spec.Axes.Select(a => $"{a.Setting} ∈ {{{string.Join(", ", a.Expand())}}}"))))
                 .Append($" ({sweep.Points.Count(x => x.Outcome is not null)} of {sweep.Points.Count} verdicts)</li>\n");
            }
            h.Append("</ul>\n");
        }
        h.Append("<h2>Mental models</h2>\n<table><thead><tr><th>Model</th><th>Predicts</th><th>Why</th><th>This result</th></tr></thead><tbody>\n");
        foreach (var b in p.Models)
        {
            string said = v is null ? "not run" : b.SupportedBy(v.Verdict.Outcome) switch { true => "supports it", false => "contradicts it", null => "undecided" };
            h.Append($"<tr><td><b>{HtmlEncode(b.Model.Name)}</b><div class=\"id\">{HtmlEncode(b.Model.Statement)}</div></td><td>{HtmlEncode(b.Predicts.Text())}</td><td>{HtmlEncode(b.Why)}</td><td>{said}</td></tr>\n");
        }
        h.Append("</tbody></table>\n<h2>Sources</h2>\n<ul>\n");
        foreach (var s in p.Sources)
        {
            string text = HtmlEncode(s.Citation) + (s.ArXiv is null ? "" : $", arXiv:{HtmlEncode(s.ArXiv)}");
            h.Append(s.Link is null ? $"<li>{text}</li>\n" : $"<li><a href=\"{HtmlEncode(s.Link)}\">{text}</a></li>\n");
        }
        h.Append("</ul>\n<h2>Protocol</h2>\n<table><thead><tr><th>Setting</th><th>Value</th><th>Quick default</th><th>Full default</th><th>Meaning</th></tr></thead><tbody>\n");
        var quick = ProtocolBinding.Settings(p.Defaults(Tier.Quick)).ToDictionary(s => s.Key, s => s.Value);
        var full = ProtocolBinding.Settings(p.Defaults(Tier.Full)).ToDictionary(s => s.Key, s => s.Value);
        foreach (var s in ProtocolBinding.Settings(protocol))
            h.Append($"<tr><td><code>{HtmlEncode(s.Key)}</code>{(s.IsThreshold ? " <span class=\"tag\">threshold</span>" : "")}</td><td>{HtmlEncode(s.Value)}</td>")
             .Append($"<td>{HtmlEncode(quick.GetValueOrDefault(s.Key, ""))}</td><td>{HtmlEncode(full.GetValueOrDefault(s.Key, ""))}</td><td>{HtmlEncode(s.Description)}</td></tr>\n");
        h.Append("</tbody></table>\n");
        Tail(h);
        string page = Path.Combine(outDir, p.Id + ".html");
        WriteAtomically(page, h.ToString());
        return page;
    }

    /// <summary>
    /// A sweep's page: its spec, the response curve of each checked quantity (estimate with its interval against the
    /// swept setting) and a table of every grid point's verdict.
    /// </summary>
    private static string WriteSweepPage(RunStore store, string outDir, Phenomenon p, SweepRecord sweep, List<string> images, List<string> pagesWritten)
    {
        var spec = sweep.Spec;
        var judged = sweep.Points.Where(x => x.VerdictId is not null)
            .Select(x => new JudgedPoint(x.Point, x.Block, x.Settings, store.VerdictById(p.Id, x.VerdictId!.Value).Verdict)).ToList();
        var swept = spec.Axes.Select(a => a.Setting).ToList();
        var h = new StringBuilder();
        Head(h, $"Sweep {sweep.Id} of {p.Title} — Aperture");
        h.Append($"<p><a href=\"{HtmlEncode(p.Id)}.html\">← {HtmlEncode(p.Title)}</a></p>\n");
        h.Append($"<h1>Sweep {HtmlEncode(sweep.Id)}</h1>\n<p class=\"id\">{HtmlEncode(p.Id)} · tier {RunStore.TierName(sweep.Tier)} · {sweep.RunCount} runs · planned by Aperture {HtmlEncode(sweep.CodeVersion)} on {HtmlEncode(sweep.Created)}</p>\n");
        h.Append("<p>Swept: ").Append(HtmlEncode(string.Join(" × ", spec.Axes.Select(a => $"{a.Setting} = {a}"))))
         .Append(spec.Fixed.Count > 0 ? "; fixed: " + HtmlEncode(string.Join(", ", spec.Fixed.Select(f => $"{f.Key}={f.Value}"))) : "")
         .Append($". Each grid point is judged by the phenomenon's own rule{(spec.Replicate ? ", on a discovery block and on an independent replication block" : "")}.</p>\n");
        h.Append($"<h2>Spec</h2>\n<pre><code>{HtmlEncode(spec.ToJson())}</code></pre>\n");
        if (judged.Count == 0) h.Append("<p>No grid point has been judged yet.</p>\n");
        else
        {
            h.Append("<h2>Response curves</h2>\n");
            foreach (var f in ResponseCurve.Figures(spec, judged))
                Image(h, outDir, images, $"{p.Id}-sweep-{sweep.Id}", f.Name, f.Title, f.Caption, path => PlotRenderer.Render(f, path));
        }
        h.Append("<h2>Grid points</h2>\n<table><thead><tr><th>Point</th>");
        foreach (var k in swept) h.Append($"<th>{HtmlEncode(k)}</th>");
        h.Append("<th>Block</th><th>Verdict</th><th>Effect [95% CI]</th><th>Runs</th></tr></thead><tbody>\n");
        foreach (var x in sweep.Points)
        {
            h.Append($"<tr><td>{x.Point}</td>");
            foreach (var k in swept) h.Append($"<td>{HtmlEncode(x.Settings.LastOrDefault(kv => kv.Key == k).Value ?? "")}</td>");
            h.Append($"<td>{(x.Block == 0 ? "discovery" : "replication")}</td><td>{Badge(x.Outcome)}</td>")
             .Append($"<td>{(x.Effect is { } e ? HtmlEncode($"{e.Name}: {e.Format()}") : "")}</td><td>{x.RunIds.Count}</td></tr>\n");
        }
        h.Append("</tbody></table>\n");
        Tail(h);
        string page = Path.Combine(outDir, $"{p.Id}-sweep-{sweep.Id}.html");
        WriteAtomically(page, h.ToString());
        pagesWritten.Add(page);
        return page;
    }

    /// <summary>Training curves: one figure per per-step metric, one line per run, coloured by arm.</summary>
    internal static IEnumerable<Figure> CurveFigures(RunSet runs)
    {
        var keys = runs.Runs.SelectMany(r => r.Metrics.Keys).Distinct().Order(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            var series = new List<Series>();
            foreach (var r in runs.Runs)
                if (r.Metrics.TryGetValue(key, out var points) && points.Count > 0)
                    series.Add(new Series(r.Arm, [.. points.Select(q => (double)q.Step)], [.. points.Select(q => q.Value)]));
            var values = series.SelectMany(s => s.Y).Where(double.IsFinite).ToList();
            bool logY = values.Count > 0 && values.All(y => y > 0) && values.Max() / values.Min() > 1e3;
            yield return new Figure("curve-" + Slug(key), $"{key} per step, every seed", "step", key, series, LogY: logY,
                Caption: "One line per run (seed), coloured by arm.");
        }
    }

    private static void RunsTable(StringBuilder h, RunSet runs)
    {
        var keys = runs.Runs.SelectMany(r => r.Results.Keys).Distinct().Order(StringComparer.Ordinal).Take(8).ToList();
        h.Append("<h2>Runs</h2>\n<table class=\"runs\"><thead><tr><th>Run</th><th>Arm</th><th>Seed</th><th>Seconds</th>");
        foreach (var k in keys) h.Append($"<th>{HtmlEncode(k)}</th>");
        h.Append("</tr></thead><tbody>\n");
        foreach (var r in runs.Runs)
        {
            h.Append($"<tr><td><code>{r.RunId[..8]}</code></td><td>{HtmlEncode(r.Arm)}</td><td>{r.Seed}</td><td>{r.Seconds.ToString("F2", CultureInfo.InvariantCulture)}</td>");
            foreach (var k in keys)
                h.Append($"<td>{(r.Results.TryGetValue(k, out var x) ? x.ToString("G5", CultureInfo.InvariantCulture) : "")}</td>");
            h.Append("</tr>\n");
        }
        h.Append("</tbody></table>\n");
    }

    private static void Image(StringBuilder h, string outDir, List<string> images, string id, string name, string title, string caption, Action<string> render)
    {
        string rel = $"img/{id}-{Slug(name)}.png", path = Path.Combine(outDir, rel);
        render(path);
        images.Add(path);
        h.Append($"<figure><img src=\"{HtmlEncode(rel)}\" alt=\"{HtmlEncode(title)}\"><figcaption>{HtmlEncode(caption)}</figcaption></figure>\n");
    }

    private static string ProvenanceLine(IReadOnlyList<VerdictRecord> verdicts)
    {
        if (verdicts.Count == 0) return "";
        string Distinct(Func<VerdictRecord, string> f) => string.Join("; ", verdicts.Select(f).Where(x => x.Length > 0).Distinct());
        return $"Data: {HtmlEncode(Distinct(v => v.DataSource))}. Code: Aperture {HtmlEncode(Distinct(v => v.CodeVersion))}. Host: {HtmlEncode(Distinct(v => v.Host))}. ";
    }

    private static string ModelList(Phenomenon p, Outcome outcome, bool supports) =>
        string.Join(", ", p.Models.Where(b => b.SupportedBy(outcome) == supports).Select(b => HtmlEncode(b.Model.Name)));

    private static string Badge(Outcome? o) => o switch
    {
        Outcome.Held => "<span class=\"badge held\">held</span>",
        Outcome.DidNotHold => "<span class=\"badge failed\">did not hold</span>",
        Outcome.Inconclusive => "<span class=\"badge inconclusive\">inconclusive</span>",
        _ => "<span class=\"badge none\">not run</span>",
    };

    private static string TierText(VerdictRecord v) =>
        RunStore.TierName(v.Tier) + (v.Overrides.Any(o => o.Key is not ("seeds" or "seed_base")) ? " (modified)" : "");

    private static string Duration(double seconds) =>
        seconds < 120 ? seconds.ToString("F1", CultureInfo.InvariantCulture) + " s" : (seconds / 60).ToString("F1", CultureInfo.InvariantCulture) + " min";

    private static string Slug(string s) => new([.. s.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-')]);

    private static void Head(StringBuilder h, string title) => h.Append($"""
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>{HtmlEncode(title)}</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
        body {"{"} font: 15px/1.5 system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; {"}"}
        table {"{"} border-collapse: collapse; margin: 1em 0; width: 100%; {"}"}
        th, td {"{"} border-bottom: 1px solid #ddd; padding: .4em .6em; text-align: left; vertical-align: top; {"}"}
        th {"{"} background: #f4f4f4; {"}"}
        .id {"{"} color: #777; font-size: 85%; {"}"}
        .badge {"{"} padding: .15em .55em; border-radius: .8em; font-weight: 600; white-space: nowrap; {"}"}
        .held {"{"} background: #d7f2dc; color: #155724; {"}"} .failed {"{"} background: #f8d7da; color: #721c24; {"}"}
        .inconclusive {"{"} background: #fff0c2; color: #7a5b00; {"}"} .none {"{"} background: #eee; color: #555; {"}"}
        .yes {"{"} color: #155724; {"}"} .no {"{"} color: #721c24; {"}"} .maybe {"{"} color: #7a5b00; {"}"}
        .nowrap {"{"} white-space: nowrap; {"}"}
        .scroll {"{"} overflow-x: auto; {"}"} .models {"{"} font-size: 90%; {"}"} .models th a {"{"} overflow-wrap: anywhere; {"}"}
        .warn {"{"} background: #fff0c2; padding: .5em; {"}"} .tag {"{"} font-size: 75%; background: #e8e8ff; padding: 0 .4em; border-radius: .5em; {"}"}
        figure {"{"} margin: 1.5em 0; {"}"} figure img {"{"} max-width: 100%; border: 1px solid #eee; {"}"} figcaption {"{"} color: #555; {"}"}
        code, pre {"{"} background: #f6f6f6; {"}"} pre {"{"} padding: .6em; overflow-x: auto; {"}"}
        </style></head><body>

        """);

    private static void Tail(StringBuilder h) => h.Append("</body></html>\n");

    private static void WriteAtomically(string path, string content) => Aperture.IO.AtomicFile.WriteAllText(path, content);
}
