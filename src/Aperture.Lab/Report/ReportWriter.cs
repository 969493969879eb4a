using System.Globalization;
using System.Text;
using Aperture.Lab.Statistics;
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
        // Seven columns, the claim the widest and cut to four lines (the whole claim is on the phenomenon's page and in
        // the cell's tooltip), so that a row stays a few lines tall on a desktop page.
        h.Append("<table class=\"scorecard\">\n<thead><tr><th>Phenomenon</th><th>Claim</th><th>Verdict</th><th>Replication</th><th>Effect [95% CI]</th><th>Run</th><th>Mental models</th></tr></thead>\n<tbody>\n");
        foreach (var (p, v0, pair) in rows)
        {
            h.Append($"<tr data-id=\"{HtmlEncode(p.Id)}\"><td data-label=\"Phenomenon\"><a href=\"{HtmlEncode(p.Id)}.html\">{HtmlEncode(p.Title)}</a><div class=\"id\">{HtmlEncode(p.Id)}</div></td>");
            h.Append($"<td data-label=\"Claim\" class=\"claim\"><div title=\"{HtmlEncode(p.Claim)}\">{HtmlEncode(p.Claim)}</div></td>");
            if (v0 is null)
            {
                h.Append("<td data-label=\"Verdict\"><span class=\"badge none\">not run</span></td><td colspan=\"4\" data-label=\"Run\">run <code>")
                 .Append(HtmlEncode(command(new Reproduction(p.Id, Tier.Quick, p.Defaults(Tier.Quick).Seeds, 0, [])))).Append("</code></td></tr>\n");
                continue;
            }
            var v = Blocks(v0, pair).Discovery;
            var e = v.Verdict.Effect;
            h.Append($"<td data-label=\"Verdict\">{Badge(v.Verdict.Outcome)}<div class=\"id\">seeds {v.SeedBase}–{v.SeedBase + v.Seeds - 1}</div></td><td data-label=\"Replication\">{HtmlEncode(ReplicationText(v0, pair))}</td>");
            h.Append($"<td data-label=\"Effect [95% CI]\"><b>{HtmlEncode(e.FormatWithUnit())}</b><div class=\"id\">{HtmlEncode(e.Name)}</div></td>");
            h.Append($"<td data-label=\"Run\"><span class=\"nowrap\">{v.Seeds} seeds,</span> <span class=\"nowrap\">{TierText(v)}</span><div class=\"id\">protocol v{HtmlEncode(v.ProtocolVersion)} · <span class=\"nowrap\">{Duration(v.Seconds)}</span></div></td>");
            string supports = ModelList(p, v.Verdict.Outcome, true), contradicts = ModelList(p, v.Verdict.Outcome, false);
            h.Append($"<td data-label=\"Mental models\">{(supports.Length > 0 ? $"<div><span class=\"yes\">✓</span> {supports}</div>" : "")}")
             .Append($"{(contradicts.Length > 0 ? $"<div><span class=\"no\">✗</span> {contradicts}</div>" : "")}</td></tr>\n");
        }
        h.Append("</tbody></table>\n");

        // The optics-style matrix: which mental model each result supports (✓) or contradicts (✗). Only the models some
        // phenomenon bears on, and only the phenomena that bear on one; columns carry short initials (the full title on
        // hover and in the key below), so the matrix stays narrow enough to read.
        var models = MentalModels.All.Where(m => rows.Any(r => r.P.Models.Any(b => b.Model == m))).ToList();
        var columns = rows.Where(r => r.P.Models.Count > 0).ToList();
        var abbreviations = Abbreviations(columns.Select(c => c.P.Id).ToList());
        h.Append("<h2>Mental models</h2>\n<p class=\"id\">✓ the result supports the model, ✗ contradicts it, ? undecided; blank: the phenomenon does not bear on it.</p>\n")
         .Append("<div class=\"scroll\"><table class=\"models\">\n<thead><tr><th>Model</th>");
        foreach (var (p, _, _) in columns)
            h.Append($"<th><a href=\"{HtmlEncode(p.Id)}.html\" title=\"{HtmlEncode(p.Title)} ({HtmlEncode(p.Id)})\"><abbr title=\"{HtmlEncode(p.Title)}\">{HtmlEncode(abbreviations[p.Id])}</abbr></a></th>");
        h.Append("</tr></thead>\n<tbody>\n");
        foreach (var m in models)
        {
            h.Append($"<tr><td><b>{HtmlEncode(m.Name)}</b><div class=\"id\">{HtmlEncode(m.Statement)}</div></td>");
            foreach (var (p, v, _) in columns)
            {
                var bearing = p.Models.FirstOrDefault(b => b.Model == m);
                string cell = bearing is null ? "" : v is null ? "<span class=\"id\" title=\"not run\">–</span>" : bearing.SupportedBy(v.Verdict.Outcome) switch
                {
                    true => $"<span class=\"yes\" title=\"{HtmlEncode(p.Title)}: supports {HtmlEncode(m.Name)}\">✓</span>",
                    false => $"<span class=\"no\" title=\"{HtmlEncode(p.Title)}: contradicts {HtmlEncode(m.Name)}\">✗</span>",
                    null => $"<span class=\"maybe\" title=\"{HtmlEncode(p.Title)}: undecided\">?</span>",
                };
                h.Append($"<td class=\"mark\">{cell}</td>");
            }
            h.Append("</tr>\n");
        }
        h.Append("</tbody></table></div>\n<p class=\"id key\">");
        h.Append(string.Join(" · ", columns.Select(c => $"<b>{HtmlEncode(abbreviations[c.P.Id])}</b> <a href=\"{HtmlEncode(c.P.Id)}.html\">{HtmlEncode(c.P.Title)}</a>")));
        h.Append("</p>\n");
        var judged = rows.Select(r => r.V).OfType<VerdictRecord>().ToList();
        var commits = judged.Select(v => Commit(v.CodeVersion)).Where(c => c.Length > 0).Distinct().ToList();
        h.Append("<p class=\"foot\">Reproduce everything from a fresh clone: <code>")
         .Append(commits.Count == 1 ? $"git checkout {HtmlEncode(commits[0])} &amp;&amp; " : "")
         .Append("./aperture lab run --all --tier quick &amp;&amp; ./aperture report</code>. ")
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
            h.Append($"<h2>Verdict: {Badge(verdict.Outcome)} <span class=\"id\">{BlockRole(v, pair)} block, seeds {v.SeedBase}–{v.SeedBase + v.Seeds - 1}</span></h2>\n");
            if (verdict.SeedsToDecide is { } need)
                h.Append($"<p>Undecided at this spread: about {need} seeds per arm would be needed to decide.</p>\n");
            h.Append($"<p class=\"effect\">{HtmlEncode(verdict.Effect.Name)} = <b>{HtmlEncode(verdict.Effect.FormatWithUnit())}</b> ")
             .Append($"(mean over {verdict.Effect.N} seeds, 95% {HtmlEncode(verdict.Effect.Method)}). Tier {TierText(v)}, {v.Seeds} seeds, ")
             .Append($"{Duration(v.Seconds)} of compute.</p>\n");
            h.Append($"<p><b>Rule (stated in advance).</b> {HtmlEncode(verdict.Rule)}.</p>\n");
            var thresholds = ProtocolBinding.Differences(protocol, p.Defaults(v.Tier)).Where(d => ProtocolBinding.Settings(protocol).Any(s => s.Key == d.Key && s.IsThreshold)).ToList();
            if (thresholds.Count > 0)
                h.Append($"<p class=\"warn\">Judged with thresholds changed from the phenomenon's stated ones: {HtmlEncode(string.Join(", ", thresholds.Select(t => $"{t.Key}={t.Value}")))}.</p>\n");
            h.Append("<table><thead><tr><th>Check</th><th>Estimate [95% CI]</th><th>Interval</th><th>Supports</th><th>Contradicts</th><th>Outcome</th></tr></thead><tbody>\n");
            foreach (var c in verdict.Checks)
                h.Append($"<tr><td>{HtmlEncode(c.Estimate.Name)}</td><td>{HtmlEncode(c.Estimate.FormatWithUnit())}</td><td>{HtmlEncode(c.Estimate.Method)}, n = {c.Estimate.N}</td><td>{HtmlEncode(c.Band)}</td><td>{HtmlEncode(c.ContradictingBand)}</td><td>{Badge(c.Outcome)}<div class=\"id\">{HtmlEncode(c.Reason)}</div></td></tr>\n");
            h.Append("</tbody></table>\n");
            if (verdict.Extra.Count > 0)
            {
                h.Append("<h3>Also measured</h3>\n<table><thead><tr><th>Estimate</th><th>Mean [95% CI]</th><th>n</th></tr></thead><tbody>\n");
                foreach (var e in verdict.Extra)
                    h.Append($"<tr><td>{HtmlEncode(e.Name)}</td><td>{HtmlEncode(e.FormatWithUnit())}</td><td>{e.N}</td></tr>\n");
                h.Append("</tbody></table>\n");
            }
            h.Append($"<p><b>Replication.</b> {HtmlEncode(ReplicationText(v, pair))}.</p>\n");
            Provenance(h, p, v, pair, command);

            var runs = store.LoadRunSet(v.RunIds);
            h.Append("<h2>Plots</h2>\n");
            for (int i = 0; i < verdict.Checks.Count; i++)
            {
                var check = verdict.Checks[i];
                int k = i;
                Image(h, outDir, images, p.Id, verdict.Checks.Count == 1 ? "effect" : $"effect-{i + 1}", $"Check {i + 1}: {check.Estimate.Name}",
                    k == verdict.Checks.Count - 1 ? "Each check's estimate with its 95% interval, on an axis of its own; shaded: the region that supports the claim (green) and the one that contradicts it (red)." : "",
                    path => PlotRenderer.RenderCheck(check, k, verdict.Checks.Count, path));
            }
            // The protocol's arm order fixes each arm's colour and its place in every legend of the page.
            // Arms that form a variant × setting grid are drawn a hue per variant, a shade per setting.
            var arms = p.ArmsFor(protocol).Select(a => a.Name).ToList();
            var grid = ArmCell.Grid(p.ArmsFor(protocol));
            foreach (var f in PageFigures(p, protocol, runs, arms))
                Image(h, outDir, images, p.Id, f.Name, f.Title, f.Caption, path => PlotRenderer.Render(f, path, arms, grid));
            NeighbourGallery.Append(h, outDir, images, p.Id, runs);
            RunsTable(h, store, v, pair, outDir, p.Id);
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
                 .Append($" ({sweep.Points.Count(x => x.Outcome is not null)} of {sweep.Points.Count} verdicts)")
                 .Append(SweepTags(store, sweep)).Append("</li>\n");
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

    // A sweep's tags (`aperture lab tag`) as KEY=VALUE badges, after a space; empty when it has none.
    private static string SweepTags(RunStore store, SweepRecord sweep) =>
        string.Concat(store.SweepTags(sweep.Id).Select(kv => $" <span class=\"tag\">{HtmlEncode(kv.Key)}={HtmlEncode(kv.Value)}</span>"));

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
        h.Append($"<h1>Sweep {HtmlEncode(sweep.Id)}</h1>\n<p class=\"id\">{HtmlEncode(p.Id)} · tier {RunStore.TierName(sweep.Tier)} · {sweep.RunCount} runs · planned by Aperture {HtmlEncode(sweep.CodeVersion)} on {HtmlEncode(sweep.Created)}{SweepTags(store, sweep)}</p>\n");
        h.Append("<p>Swept: ").Append(HtmlEncode(string.Join(" × ", spec.Axes.Select(a => $"{a.Setting} = {a}"))))
         .Append(spec.Fixed.Count > 0 ? "; fixed: " + HtmlEncode(string.Join(", ", spec.Fixed.Select(f => $"{f.Key}={f.Value}"))) : "")
         .Append($". Each grid point is judged by the phenomenon's own rule{(spec.Replicate ? ", on a discovery block and on an independent replication block" : "")}.</p>\n");
        h.Append($"<h2>Spec</h2>\n<pre><code>{HtmlEncode(spec.ToJson())}</code></pre>\n");
        SweepProvenance(h, store, p, sweep);
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
             .Append($"<td>{(x.Effect is { } e ? HtmlEncode($"{e.Name}: {e.FormatWithUnit()}") : "")}</td><td>{x.RunIds.Count}</td></tr>\n");
        }
        h.Append("</tbody></table>\n");
        Tail(h);
        string page = Path.Combine(outDir, $"{p.Id}-sweep-{sweep.Id}.html");
        WriteAtomically(page, h.ToString());
        pagesWritten.Add(page);
        return page;
    }

    /// <summary>
    /// The figures a phenomenon's page draws from its runs: the phenomenon's own, then an automatic per-step curve of
    /// every logged metric that none of its own figures already draws (<see cref="Figure.Metrics"/>).
    /// </summary>
    internal static IEnumerable<Figure> PageFigures(Phenomenon p, LabProtocol protocol, RunSet runs, IReadOnlyList<string>? arms = null)
    {
        var custom = p.FiguresFor(protocol, runs).ToList();
        var drawn = custom.SelectMany(f => f.Metrics).ToHashSet(StringComparer.Ordinal);
        return custom.Concat(CurveFigures(runs, p.Metrics, arms).Where(f => !f.Metrics.Any(drawn.Contains)));
    }

    /// <summary>The most single-seed curves an automatic figure draws behind its means (all arms together).</summary>
    internal const int MaxFaintCurves = 24;

    /// <summary>
    /// Per-step curves: one figure per logged metric, each arm's mean across seeds with its 95% t-interval as a band
    /// (single seeds behind it, pale, when there are at most four arms and <see cref="MaxFaintCurves"/> seeds in all), on the axes <paramref name="declared"/> gives.
    /// Where a seed's value is NaN or infinite the arm's mean is too, and the renderer marks it rather than dropping it.
    /// Arms come in <paramref name="armOrder"/>'s order (the protocol's), any others after them by name.
    /// </summary>
    internal static IEnumerable<Figure> CurveFigures(RunSet runs, IReadOnlyList<Metric>? declared = null, IReadOnlyList<string>? armOrder = null)
    {
        var keys = runs.Runs.SelectMany(r => r.Metrics.Keys).Distinct().Order(StringComparer.Ordinal);
        var rank = new Dictionary<string, int>();
        foreach (var a in armOrder ?? []) rank.TryAdd(a, rank.Count);
        var arms = runs.Runs.Select(r => r.Arm).Distinct()
            .OrderBy(a => rank.GetValueOrDefault(a, int.MaxValue)).ThenBy(a => a, StringComparer.Ordinal).ToList();
        foreach (var key in keys)
        {
            var metric = declared?.FirstOrDefault(m => m.Key == key);
            var series = new List<Series>();
            var ends = new Dictionary<string, double>();
            var partial = new HashSet<string>();
            int seedsMax = 0;
            // Single seeds behind the means help while they are few; 32 noisy curves of two arms hide the means.
            int seedsPerArm = runs.Runs.GroupBy(r => r.Arm).Select(g => g.Count()).DefaultIfEmpty(0).Max();
            bool faint = arms.Count <= 4 && arms.Count * seedsPerArm <= MaxFaintCurves;
            var samplesOf = new Dictionary<string, List<double[]>>();
            foreach (var arm in arms)
            {
                var curves = runs.Runs.Where(r => r.Arm == arm && r.Metrics.TryGetValue(key, out var q) && q.Count > 0)
                    .Select(r => r.Metrics[key]).ToList();
                // An arm that logged nothing under this key because its runs broke down (a NaN or infinite result or
                // logged value) is named in the legend, not silently left out; an arm that never logs the key (a
                // metric of one arm only) is not.
                if (curves.Count == 0)
                {
                    if (runs.Runs.Any(r => r.Arm == arm && (r.Results.Values.Any(v => !double.IsFinite(v)) || r.Metrics.Values.Any(q => q.Any(v => !double.IsFinite(v.Value))))))
                        series.Add(new Series(arm + "  [nothing logged: its runs broke down]", [], []));
                    continue;
                }
                seedsMax = Math.Max(seedsMax, curves.Count);
                var byStep = curves.Select(c => c.GroupBy(q => q.Step).ToDictionary(g => g.Key, g => g.Last().Value)).ToList();
                // The mean is drawn where every seed logged a value: past the step where one seed stopped (a run that
                // reached its tolerance), a mean of the rest would jump each time another seed drops out.
                var logged = curves.SelectMany(c => c.Select(q => q.Step)).Distinct().Order().ToArray();
                var steps = logged.Where(t => byStep.All(d => d.ContainsKey(t))).ToArray();
                ends[arm] = logged.Length > 0 ? logged[^1] : double.NaN;
                if (steps.Length < logged.Length) partial.Add(arm);
                var mean = new double[steps.Length];
                var low = new double[steps.Length];
                var high = new double[steps.Length];
                var samples = samplesOf[arm] = [];
                for (int i = 0; i < steps.Length; i++)
                {
                    var values = byStep.Where(d => d.ContainsKey(steps[i])).Select(d => d[steps[i]]).ToArray();
                    samples.Add(values);
                    if (values.Any(x => !double.IsFinite(x))) { mean[i] = low[i] = high[i] = double.NaN; continue; }
                    mean[i] = values.Average();
                    if (values.Length < 2) { low[i] = high[i] = double.NaN; continue; }
                    double sd = Math.Sqrt(values.Sum(x => (x - mean[i]) * (x - mean[i])) / (values.Length - 1));
                    double half = StudentT.Quantile(0.975, values.Length - 1) * sd / Math.Sqrt(values.Length);
                    (low[i], high[i]) = (mean[i] - half, mean[i] + half);
                }
                // Where the mean stops short of the seeds, they are drawn (pale) whatever the number of arms.
                if ((faint || steps.Length < logged.Length) && curves.Count > 1)
                    foreach (var c in curves)
                        series.Add(new Series(arm, [.. c.Select(q => (double)q.Step)], [.. c.Select(q => q.Value)]) { Faint = true });
                series.Add(new Series(arm, [.. steps.Select(x => (double)x)], mean) { Low = low, High = high });
            }
            // A log axis when the means are positive and span over two decades (a diverging arm beside converging
            // ones); a band's lower edge at or below 0 (a t-interval on few seeds) is then left undrawn, not the axis.
            // On it each arm's centre is the geometric mean with the t-interval of the logs, exponentiated: the
            // arithmetic mean of values spread over decades is its largest seed's, not a typical one.
            var all = series.Where(s => !s.Faint).SelectMany(s => s.Y).Where(double.IsFinite).ToList();
            bool logY = all.Count > 0 && all.All(y => y > 0) && all.Max() / all.Min() > 1e2;
            bool geometric = logY && samplesOf.Values.All(v => v.All(a => a.All(x => !double.IsFinite(x) || x > 0)));
            if (geometric) series = [.. series.Select(s => s.Faint || !samplesOf.TryGetValue(s.Group, out var v) ? s : GeometricMean(s, v))];
            // An arm whose log stops before the others' (a run that stopped logging, as on a NaN loss) says so in the
            // legend; the renderer names arms drawn under an identical one. Where most arms stop early (runs that end
            // at a target), that is the protocol, said once in the caption rather than in every legend entry.
            var means = series.Where(s => !s.Faint).ToList();
            double lastStep = ends.Values.Where(double.IsFinite).DefaultIfEmpty(0).Max();
            int early = means.Count(m => ends.GetValueOrDefault(m.Group, double.NaN) < lastStep);
            bool ragged = early > 1 && 2 * early >= means.Count;
            string unit = metric?.X.Kind == AxisKind.Epoch ? "epoch" : metric?.X.Kind == AxisKind.Step ? "step" : "x =";
            var notes = new Dictionary<string, List<string>>();
            foreach (var m in means)
            {
                var notesFor = notes[m.Group] = [];
                // Only a log that stops early is noted here; NaN or infinite values that were logged are counted and
                // marked by the renderer.
                double end = ends.GetValueOrDefault(m.Group, double.NaN);
                if (end < lastStep && !ragged) notesFor.Add($"nothing logged after {unit} {end.ToString("G6", CultureInfo.InvariantCulture)}");
            }
            string Named(string arm) => notes.TryGetValue(arm, out var n) && n.Count > 0 ? $"{arm}  [{string.Join("; ", n)}]" : arm;
            series = [.. series.Select(s => s with { Group = Named(s.Group) })];
            string what = metric?.Label ?? key.Replace('_', ' ');
            // The title names what the x-axis counts in its own words ("per SGLD draw", "per iteration"), without
            // the label's bracketed gloss.
            string per = metric is null ? "logged index" : metric.X.Label.Split(" (")[0] switch
            {
                "training step" => "step", var label => label,
            };
            string seeds = seedsMax > 1 ? $"{(geometric ? "geometric mean" : "mean")} of {seedsMax} seeds with its 95% interval" : "one seed";
            yield return new Figure("curve-" + Slug(key), $"{Capitalize(what)} per {per}", metric?.X.Text ?? "index (axis not declared by the phenomenon)",
                metric?.YText ?? key.Replace('_', ' '), series, LogY: logY,
                Caption: $"Each arm's {seeds} across seeds (logged as {key}){((faint || partial.Count > 0) && seedsMax > 1 ? "; pale lines: single seeds" : "")}{(partial.Count > 0 ? "; where seeds stop at different steps, the mean is drawn while every seed logs" : "")}{(ragged ? $"; arms' logs end at different {(unit == "x =" ? "points" : unit + "s")} (their runs stopped)" : "")}. NaN or infinite values are marked ×, not dropped.")
            { Metrics = [key], YRange = metric?.Range ?? ValueRange.Unbounded };
        }
    }

    /// <summary>
    /// <paramref name="s"/> with its centre the geometric mean of each position's seeds (<paramref name="samples"/>,
    /// all positive) and its band the 95% t-interval of their logs, exponentiated; a non-finite seed leaves NaN.
    /// </summary>
    internal static Series GeometricMean(Series s, IReadOnlyList<double[]> samples)
    {
        int n = Math.Min(s.Y.Length, samples.Count);
        var y = new double[n];
        var low = new double[n];
        var high = new double[n];
        for (int i = 0; i < n; i++)
        {
            var v = samples[i];
            if (v.Length == 0 || v.Any(x => !double.IsFinite(x) || x <= 0)) { y[i] = low[i] = high[i] = double.NaN; continue; }
            double m = v.Average(Math.Log);
            y[i] = Math.Exp(m);
            if (v.Length < 2) { low[i] = high[i] = double.NaN; continue; }
            double sd = Math.Sqrt(v.Sum(x => (Math.Log(x) - m) * (Math.Log(x) - m)) / (v.Length - 1));
            double half = StudentT.Quantile(0.975, v.Length - 1) * sd / Math.Sqrt(v.Length);
            (low[i], high[i]) = (Math.Exp(m - half), Math.Exp(m + half));
        }
        return s with { Y = y, Low = low, High = high };
    }

    /// <summary>Short unique column heads from kebab-case ids: the initials ("adam-beta2-rounding" → "ABR"), lengthened where two clash.</summary>
    internal static Dictionary<string, string> Abbreviations(IReadOnlyList<string> ids)
    {
        var parts = ids.ToDictionary(id => id, id => id.Split('-', StringSplitOptions.RemoveEmptyEntries));
        var result = ids.ToDictionary(id => id, id => string.Concat(parts[id].Select(w => char.ToUpperInvariant(w[0]))));
        for (int extra = 1; extra < 12; extra++)
        {
            var clashes = result.GroupBy(kv => kv.Value).Where(g => g.Count() > 1).SelectMany(g => g.Select(kv => kv.Key)).ToList();
            if (clashes.Count == 0) break;
            foreach (var id in clashes)
                result[id] = string.Concat(parts[id].Select((w, i) => i == 0 ? char.ToUpperInvariant(w[0]) + w[1..Math.Min(w.Length, 1 + extra)] : char.ToUpperInvariant(w[0]).ToString()));
        }
        foreach (var g in result.GroupBy(kv => kv.Value).Where(g => g.Count() > 1).ToList())
            foreach (var (id, i) in g.Select((kv, i) => (kv.Key, i))) result[id] = g.Key + (i + 1).ToString(CultureInfo.InvariantCulture);
        return result;
    }

    // Latin letters only: a symbol that opens a label (λ̂, β2, σ) keeps its case, which carries its meaning.
    private static string Capitalize(string s) => s.Length == 0 || !char.IsAsciiLetterLower(s[0]) ? s : char.ToUpperInvariant(s[0]) + s[1..];

    /// <summary>
    /// Every run of both seed blocks (the discovery block's first) with every result it recorded, and its artifacts
    /// (copied beside the report and linked).
    /// </summary>
    private static void RunsTable(StringBuilder h, RunStore store, VerdictRecord v, VerdictRecord? pair, string outDir, string id)
    {
        var (d, rep) = Blocks(v, pair);
        var blocks = new List<(string Role, VerdictRecord Verdict)> { ("discovery", d) };
        if (rep is not null) blocks.Add(("replication", rep));
        var rows = new List<(string Block, StoredRun Run)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (role, b) in blocks)
            foreach (var r in store.LoadRunSet(b.RunIds.Where(seen.Add)).Runs)
                rows.Add((role, r));
        var keys = rows.SelectMany(r => r.Run.Results.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        bool anyArtifacts = rows.Any(r => r.Run.Artifacts.Count > 0);
        h.Append($"<h2>Runs</h2>\n<p class=\"id\">{rows.Count} runs ({string.Join(", ", blocks.Select(b => $"{b.Role} block: {rows.Count(r => r.Block == b.Role)}"))}), ")
         .Append($"{keys.Count} recorded results each; scroll sideways for all of them.</p>\n");
        h.Append("<div class=\"scroll\"><table class=\"runs\"><thead><tr><th>Run</th><th>Block</th><th>Arm</th><th>Seed</th><th>Seconds</th>");
        foreach (var k in keys) h.Append($"<th>{HtmlEncode(k)}</th>");
        if (anyArtifacts) h.Append("<th>Artifacts</th>");
        h.Append("</tr></thead><tbody>\n");
        foreach (var (block, r) in rows)
        {
            h.Append($"<tr><td><code title=\"{HtmlEncode(r.RunId)}\">{r.RunId[..8]}</code></td><td>{block}</td><td>{HtmlEncode(r.Arm)}</td><td>{r.Seed}</td><td>{r.Seconds.ToString("F2", CultureInfo.InvariantCulture)}</td>");
            foreach (var k in keys)
                h.Append($"<td>{(r.Results.TryGetValue(k, out var x) ? x.ToString("G5", CultureInfo.InvariantCulture) : "")}</td>");
            if (anyArtifacts)
            {
                var links = new List<string>();
                foreach (var (name, source) in r.Artifacts.OrderBy(a => a.Key, StringComparer.Ordinal))
                {
                    string rel = $"artifacts/{id}/{r.RunId[..8]}/{Slug(name)}{Path.GetExtension(name)}";
                    try
                    {
                        string target = Path.Combine(outDir, rel);
                        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                        File.Copy(source, target, overwrite: true);
                        links.Add($"<a href=\"{HtmlEncode(rel)}\">{HtmlEncode(name)}</a>");
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        links.Add($"{HtmlEncode(name)} <span class=\"id\">(missing from the store)</span>");
                    }
                }
                h.Append($"<td>{string.Join("<br>", links)}</td>");
            }
            h.Append("</tr>\n");
        }
        h.Append("</tbody></table></div>\n");
    }

    private static void Image(StringBuilder h, string outDir, List<string> images, string id, string name, string title, string caption,
        Func<string, PlotRenderer.Output> render)
    {
        string stem = $"img/{id}-{Slug(name)}";
        Directory.CreateDirectory(Path.Combine(outDir, "img"));
        var o = render(Path.Combine(outDir, stem));
        images.Add(o.Svg);
        images.Add(o.Png);
        // A phone gets the narrow rendering (legend below the data) at nearly its own size; a wider page the wide one,
        // scaled to the page. Neither scrolls sideways.
        h.Append($"<figure data-figure=\"{HtmlEncode(name)}\"><div class=\"plot\"><picture>");
        if (o.Narrow is { } n)
        {
            images.Add(n.Svg);
            images.Add(n.Png);
            string narrowStem = stem + "-narrow";
            h.Append($"<source media=\"{NarrowMedia}\" srcset=\"{HtmlEncode(narrowStem)}.svg\" type=\"image/svg+xml\" width=\"{n.Width}\" height=\"{n.Height}\">")
             .Append($"<source media=\"{NarrowMedia}\" srcset=\"{HtmlEncode(narrowStem)}.png\" width=\"{n.Width}\" height=\"{n.Height}\">");
        }
        h.Append($"<source srcset=\"{HtmlEncode(stem)}.svg\" type=\"image/svg+xml\">")
         .Append($"<img src=\"{HtmlEncode(stem)}.png\" width=\"{o.Width}\" height=\"{o.Height}\" alt=\"{HtmlEncode(title)}\"></picture></div>")
         .Append($"<figcaption>{HtmlEncode(caption)} <span class=\"id\"><a href=\"{HtmlEncode(stem)}.svg\">SVG</a> · <a href=\"{HtmlEncode(stem)}.png\">PNG</a></span></figcaption></figure>\n");
    }

    /// <summary>The page widths that get a figure's narrow rendering (a phone's, up to a small tablet's).</summary>
    internal const string NarrowMedia = "(max-width: 760px)";

    /// <summary>
    /// Where a verdict comes from, in full: the commit, the data and its hash, the host, the protocol version, both seed
    /// blocks, and the commands that reproduce it from a fresh clone.
    /// </summary>
    private static void Provenance(StringBuilder h, Phenomenon p, VerdictRecord v, VerdictRecord? pair, Func<Reproduction, string> command)
    {
        var (d, r) = Blocks(v, pair);
        string commit = Commit(v.CodeVersion);
        string Block(VerdictRecord b, string role) =>
            $"{role}: seeds {b.SeedBase}–{b.SeedBase + b.Seeds - 1}, {b.Verdict.Outcome.Text()} (judged {HtmlEncode(b.Created)} on {HtmlEncode(b.Host)})";
        h.Append("<h2>Provenance</h2>\n<dl class=\"provenance\">");
        h.Append($"<dt>Commit</dt><dd><code>{HtmlEncode(commit.Length > 0 ? commit : "unknown")}</code> <span class=\"id\">(Aperture {HtmlEncode(v.CodeVersion)})</span></dd>");
        h.Append($"<dt>Data</dt><dd>{HtmlEncode(v.DataSource)}<br><span class=\"id\">content SHA-256 <code>{HtmlEncode(v.DataFingerprint)}</code></span></dd>");
        h.Append($"<dt>Host</dt><dd>{HtmlEncode(v.Host)}</dd>");
        h.Append($"<dt>Protocol</dt><dd>{HtmlEncode(p.Id)} version {HtmlEncode(v.ProtocolVersion)}, tier {TierText(v)}</dd>");
        h.Append($"<dt>Seed blocks</dt><dd>{Block(d, "discovery")}<br>{(r is null ? "replication: not run" : Block(r, "replication"))}</dd>");
        h.Append("</dl>\n");
        string run = command(new Reproduction(p.Id, d.Tier, d.Seeds, d.SeedBase, d.Overrides));
        h.Append("<h2>Reproduce</h2>\n<p>From a fresh clone of the repository (the .NET 10 SDK is all it needs):</p>\n<pre><code>");
        if (commit.Length > 0) h.Append($"git checkout {HtmlEncode(commit)}\n");
        h.Append(HtmlEncode(run)).Append("      # both seed blocks\n./aperture report</code></pre>\n");
    }

    /// <summary>The commit in an informational version ("0.1.0+3f2a…" → "3f2a…"); "" when it names none.</summary>
    private static string Commit(string codeVersion)
    {
        int plus = codeVersion.IndexOf('+');
        string c = plus >= 0 ? codeVersion[(plus + 1)..] : "";
        return c.Length >= 7 && c.All(char.IsAsciiHexDigit) ? c : "";
    }

    private static string ProvenanceLine(IReadOnlyList<VerdictRecord> verdicts)
    {
        if (verdicts.Count == 0) return "";
        string Distinct(Func<VerdictRecord, string> f) => string.Join("; ", verdicts.Select(f).Where(x => x.Length > 0).Distinct());
        // Each copy of the data with its own hash; synthetic data ("none") has no hash to show.
        return $"Data: {HtmlEncode(Distinct(DataText))}. " +
            $"Code: Aperture {HtmlEncode(Distinct(v => v.CodeVersion))}. Host: {HtmlEncode(Distinct(v => v.Host))}. ";
    }

    private static string DataText(VerdictRecord v) =>
        v.DataFingerprint is "" or "none" ? v.DataSource : $"{v.DataSource} (content SHA-256 {v.DataFingerprint})";

    // Which of a discovery/replication pair a verdict is.
    private static string BlockRole(VerdictRecord v, VerdictRecord? pair) =>
        pair is not null && pair.SeedBase < v.SeedBase ? "replication" : "discovery";

    /// <summary>
    /// A sweep's provenance: the commit that planned it and the ones that judged it, its data and their hashes, the
    /// hosts, the protocol versions, the seed blocks, and the commands that rerun it from a fresh clone.
    /// </summary>
    private static void SweepProvenance(StringBuilder h, RunStore store, Phenomenon p, SweepRecord sweep)
    {
        var verdicts = sweep.Points.Where(x => x.VerdictId is not null).Select(x => store.VerdictById(p.Id, x.VerdictId!.Value)).ToList();
        string Distinct(IEnumerable<string> xs, string none) => xs.Where(x => x.Length > 0).Distinct().ToList() is { Count: > 0 } l ? string.Join("; ", l) : none;
        string commit = Commit(sweep.CodeVersion);
        var blocks = sweep.Points.Select(x => x.Block).Distinct().Order().Select(b =>
        {
            var judged = sweep.Points.Where(x => x.Block == b && x.VerdictId is not null).Select(x => store.VerdictById(p.Id, x.VerdictId!.Value)).ToList();
            string seeds = judged.Count == 0 ? "not judged yet" : Distinct(judged.Select(j => $"seeds {j.SeedBase}–{j.SeedBase + j.Seeds - 1}"), "");
            return $"{(b == 0 ? "discovery" : "replication")}: {seeds}";
        });
        h.Append("<h2>Provenance</h2>\n<dl class=\"provenance\">");
        h.Append($"<dt>Commit</dt><dd><code>{HtmlEncode(commit.Length > 0 ? commit : "unknown")}</code> <span class=\"id\">(planned by Aperture {HtmlEncode(sweep.CodeVersion)}")
         .Append($"{(verdicts.Count > 0 ? $"; judged by Aperture {HtmlEncode(Distinct(verdicts.Select(v => v.CodeVersion), ""))}" : "")})</span></dd>");
        h.Append($"<dt>Data</dt><dd>{HtmlEncode(Distinct(verdicts.Select(DataText), "not judged yet"))}<br><span class=\"id\">content SHA-256 <code>{HtmlEncode(Distinct(verdicts.Select(v => v.DataFingerprint), "none"))}</code></span></dd>");
        h.Append($"<dt>Host</dt><dd>{HtmlEncode(Distinct(verdicts.Select(v => v.Host), "not judged yet"))}</dd>");
        h.Append($"<dt>Protocol</dt><dd>{HtmlEncode(p.Id)} version {HtmlEncode(Distinct(verdicts.Select(v => v.ProtocolVersion), p.Version.ToString(CultureInfo.InvariantCulture)))}, tier {RunStore.TierName(sweep.Tier)}</dd>");
        h.Append($"<dt>Seed blocks</dt><dd>{string.Join("<br>", blocks.Select(HtmlEncode))}</dd>");
        h.Append("</dl>\n");
        h.Append("<h2>Reproduce</h2>\n<p>From a fresh clone of the repository (the .NET 10 SDK is all it needs), with the spec above saved as <code>sweep.json</code>:</p>\n<pre><code>");
        if (commit.Length > 0) h.Append($"git checkout {HtmlEncode(commit)}\n");
        h.Append("./aperture lab run --sweep sweep.json\n./aperture report</code></pre>\n");
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
        body {"{"} font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; {"}"}
        table {"{"} border-collapse: collapse; margin: 1em 0; width: 100%; {"}"}
        th, td {"{"} border-bottom: 1px solid #ddd; padding: .4em .6em; text-align: left; vertical-align: top; {"}"}
        th {"{"} background: #f4f4f4; {"}"}
        .id {"{"} color: #666; font-size: 85%; {"}"}
        .badge {"{"} padding: .15em .55em; border-radius: .8em; font-weight: 600; white-space: nowrap; {"}"}
        .held {"{"} background: #d7f2dc; color: #155724; {"}"} .failed {"{"} background: #f8d7da; color: #721c24; {"}"}
        .inconclusive {"{"} background: #fff0c2; color: #7a5b00; {"}"} .none {"{"} background: #eee; color: #555; {"}"}
        .yes {"{"} color: #155724; font-weight: 700; {"}"} .no {"{"} color: #721c24; font-weight: 700; {"}"} .maybe {"{"} color: #7a5b00; font-weight: 700; {"}"}
        .nowrap {"{"} white-space: nowrap; {"}"}
        table.scorecard td.claim {"{"} min-width: 18em; {"}"} table.scorecard td:first-child {"{"} min-width: 10em; {"}"}
        table.scorecard td.claim div {"{"} display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 4; line-clamp: 4; overflow: hidden; {"}"}
        .scroll {"{"} overflow-x: auto; max-width: 100%; {"}"} .models {"{"} font-size: 90%; width: auto; {"}"}
        .models th {"{"} white-space: nowrap; text-align: center; {"}"} .models td.mark {"{"} text-align: center; font-size: 120%; {"}"}
        .models td:first-child {"{"} min-width: 16em; max-width: 28em; {"}"} abbr {"{"} text-decoration: none; {"}"}
        .runs {"{"} font-size: 85%; width: auto; {"}"} .runs td, .runs th {"{"} white-space: nowrap; {"}"}
        .warn {"{"} background: #fff0c2; padding: .5em; {"}"} .tag {"{"} font-size: 75%; background: #e8e8ff; padding: 0 .4em; border-radius: .5em; {"}"}
        figure {"{"} margin: 1.5em 0; {"}"} figure img {"{"} max-width: 100%; height: auto; border: 1px solid #eee; box-sizing: border-box; {"}"} figcaption {"{"} color: #555; {"}"}
        code, pre {"{"} background: #f6f6f6; {"}"} code, .foot, .key {"{"} overflow-wrap: anywhere; {"}"} pre {"{"} padding: .6em; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; {"}"}
        dl.provenance {"{"} display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; {"}"} dl.provenance dt {"{"} font-weight: 600; {"}"}
        dl.provenance dd {"{"} margin: 0; overflow-wrap: anywhere; {"}"}
        /* Phones: the scorecard's rows become cards, one labelled field per line; wide tables scroll inside their box. */
        @media (max-width: 700px) {"{"}
          body {"{"} margin: 1em auto; font-size: 15px; {"}"}
          table.scorecard thead {"{"} display: none; {"}"}
          table.scorecard, table.scorecard tbody, table.scorecard tr, table.scorecard td {"{"} display: block; width: 100%; box-sizing: border-box; {"}"}
          table.scorecard tr {"{"} border: 1px solid #ddd; border-radius: .5em; margin: 0 0 1em; padding: .4em .2em; {"}"}
          table.scorecard td {"{"} border: 0; padding: .2em .6em; {"}"}
          table.scorecard td::before {"{"} content: attr(data-label); display: block; font-size: 78%; color: #777; text-transform: uppercase; letter-spacing: .04em; {"}"}
          table.scorecard td.claim {"{"} min-width: 0; {"}"} table.scorecard td.claim div {"{"} -webkit-line-clamp: 6; line-clamp: 6; {"}"}
          table.scorecard td:first-child::before {"{"} display: none; {"}"} table.scorecard td:first-child {"{"} font-size: 115%; font-weight: 600; {"}"}
          table:not(.scorecard) {"{"} display: block; overflow-x: auto; {"}"}
          dl.provenance {"{"} grid-template-columns: 1fr; {"}"} dl.provenance dd {"{"} margin-bottom: .4em; {"}"}
          /* Figures come in a narrow rendering (legend below) that fits a phone at nearly its own size. */
          .plot img {"{"} max-width: 100%; height: auto; {"}"}
        {"}"}

        </style></head><body>

        """);

    private static void Tail(StringBuilder h) => h.Append("</body></html>\n");

    private static void WriteAtomically(string path, string content) => Aperture.IO.AtomicFile.WriteAllText(path, content);
}
