using System.CommandLine;
using System.Globalization;
using Aperture.Lab;
using Aperture.Lab.Store;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary><c>aperture runs list | show | metrics | compare | export | tag | untag | note</c>.</summary>
internal static class RunsCommands
{
    /// <summary>How many runs <c>runs list</c> shows unless --limit says otherwise.</summary>
    public const int DefaultLimit = 50;

    public static Command Create(Option<string?> store)
    {
        var runs = new Command("runs", "Inspect the run store: list, show, compare and export runs, read their metric series, tag and annotate them.");
        runs.Subcommands.Add(List(store));
        runs.Subcommands.Add(Show(store));
        runs.Subcommands.Add(Metrics(store));
        runs.Subcommands.Add(Compare(store));
        runs.Subcommands.Add(Export(store));
        runs.Subcommands.Add(Tag(store));
        runs.Subcommands.Add(Untag(store));
        runs.Subcommands.Add(Note(store));
        return runs;
    }

    private static Option<string?> PhenomenonOption() => new("--phenomenon") { Description = "only this phenomenon's runs" };

    private static Argument<string> RunArgument(string name = "run") =>
        new(name) { Description = "a run id, or a unique prefix of one (at least 4 hex digits)" };

    private static Command List(Option<string?> store)
    {
        var phenomenon = PhenomenonOption();
        var tier = new Option<string?>("--tier") { Description = "only runs of this tier" }.AcceptOnlyFromAmong("quick", "full");
        var status = new Option<string?>("--status") { Description = "only runs with this status" }.AcceptOnlyFromAmong("running", "finished", "failed");
        var tag = new Option<string?>("--tag") { Description = "only runs tagged KEY=VALUE (see `aperture runs tag`)" };
        var limit = new Option<int>("--limit") { Description = $"show at most this many runs, newest first (0: all)", DefaultValueFactory = _ => DefaultLimit };
        var format = Output.FormatOption();
        var json = Output.JsonOption(Documents.RunList);
        var cmd = new Command("list", "List runs, newest first, optionally filtered.") { phenomenon, tier, status, tag, limit, format, json };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            if (r.GetValue(limit) < 0) throw new CommandLineException($"--limit must be 0 (all) or more, found {r.GetValue(limit)}");
            if (r.GetValue(phenomenon) is { } id) Terminal.Phenomenon(id);
            var output = CommandOutput.Begin(r, format, json);
            using var s = Terminal.OpenExistingStore(r.GetValue(store));
            var query = new RunQuery(
                r.GetValue(phenomenon),
                r.GetValue(tier) is { } t ? RunStoreNames.Tier(t) : null,
                r.GetValue(status) is { } x ? Enum.Parse<RunStatus>(x, ignoreCase: true) : null,
                r.GetValue(tag) is { } g ? ParseTag(g, "--tag") : null,
                r.GetValue(limit) == 0 ? null : r.GetValue(limit));
            var page = s.QueryRuns(query);
            var tags = s.TagsOf([.. page.Rows.Select(x => x.RunId)]);
            var listing = new Listing("run", "phenomenon", "tier", "arm", "seed", "status", "attempts", "seconds", "started (UTC)", "tags");
            foreach (var run in page.Rows)
                listing.Add(run.RunId[..12], run.Phenomenon, run.Tier.ToString().ToLowerInvariant(), run.Arm,
                    run.Seed.ToString(CultureInfo.InvariantCulture), Status(run.Status), run.Attempts.ToString(CultureInfo.InvariantCulture),
                    run.Seconds?.ToString("F2", CultureInfo.InvariantCulture) ?? "", run.StartTime,
                    string.Join(" ", (tags.GetValueOrDefault(run.RunId) ?? new Dictionary<string, string>()).Select(kv => $"{kv.Key}={kv.Value}")));
            output.Write(listing);
            if (page.Total > page.Rows.Count)
                output.Note($"… {page.Total - page.Rows.Count} more (--limit 0 shows all; --phenomenon, --tier, --status and --tag filter)");
            string runs = page.Total == 1 ? "run" : "runs";
            output.Note(page.Total == page.Rows.Count ? $"{page.Total} {runs} in {s.Path}" : $"{page.Rows.Count} of {page.Total} {runs} in {s.Path}");
            output.Json(() => Documents.RunListDocument(s.Path, query, page, tags));
            return 0;
        }));
        return cmd;
    }

    private static Command Show(Option<string?> store)
    {
        var id = RunArgument();
        var format = Output.FormatOption();
        var json = Output.JsonOption(Documents.Run);
        var cmd = new Command("show", "Show one run: identity, config, results, a summary of each metric (the whole series: `runs metrics`), tags, notes and artifacts.") { id, format, json };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            var output = CommandOutput.Begin(r, format, json);
            using var s = Terminal.OpenExistingStore(r.GetValue(store));
            var run = s.FindRun(r.GetValue(id)!);
            var identity = new Listing("field", "value");
            void Row(string k, string? v) => identity.Add(k, v ?? "");
            Row("run", run.RunId);
            Row("phenomenon", run.Phenomenon);
            Row("tier", run.Tier.ToString().ToLowerInvariant());
            Row("arm", run.Arm);
            Row("seed", run.Seed.ToString(CultureInfo.InvariantCulture));
            Row("status", run.Status.ToString().ToLowerInvariant());
            Row("attempts", run.Attempts.ToString(CultureInfo.InvariantCulture));
            Row("started", run.StartTime);
            Row("ended", run.EndTime);
            Row("seconds", run.Seconds?.ToString("F3", CultureInfo.InvariantCulture));
            Row("config", run.ConfigJson);
            Row("config hash", run.ConfigHash);
            Row("arm settings", run.ArmJson);
            Row("protocol version", run.ProtocolVersion);
            Row("code version", run.CodeVersion);
            Row("data", $"{run.DataSource} (sha256 {run.DataFingerprint})");
            Row("host / pid", $"{run.Host} / {run.Pid}");
            if (run.Error is not null) Row("error", run.Error);
            foreach (var (k, v) in s.Tags(run.RunId)) Row($"tag {k}", v);
            foreach (var n in s.Notes(run.RunId)) Row($"note {n.Position}", $"{n.Text} ({n.Created})");
            output.Write(identity);
            var results = s.Results(run.RunId);
            if (results.Count > 0)
            {
                var listing = new Listing("result", "value");
                foreach (var (k, v) in results) listing.Add(k, v.ToString("R", CultureInfo.InvariantCulture));
                output.Write(listing);
            }
            var series = s.MetricSeries(run.RunId);
            if (series.Count > 0)
            {
                var listing = new Listing("metric", "points", "first step", "first", "last step", "last", "min", "max");
                foreach (var (k, pts) in series)
                {
                    var finite = pts.Select(p => p.Value).Where(double.IsFinite).ToList();
                    listing.Add(k, pts.Count.ToString(CultureInfo.InvariantCulture), pts[0].Step.ToString(CultureInfo.InvariantCulture), Output.G(pts[0].Value),
                        pts[^1].Step.ToString(CultureInfo.InvariantCulture), Output.G(pts[^1].Value),
                        finite.Count > 0 ? Output.G(finite.Min()) : "", finite.Count > 0 ? Output.G(finite.Max()) : "");
                }
                output.Write(listing);
                output.Note($"every point: aperture runs metrics {run.RunId[..12]} [KEY]");
            }
            if (run.Status == RunStatus.Finished)
                foreach (var (name, path) in s.LoadRun(run.RunId).Artifacts) output.Note($"artifact {name}: {path}");
            output.Json(() => Documents.RunDocument(s, run));
            return 0;
        }));
        return cmd;
    }

    private static Command Metrics(Option<string?> store)
    {
        var id = RunArgument();
        var key = new Argument<string?>("key") { Description = "one metric (default: every metric of the run)", Arity = ArgumentArity.ZeroOrOne };
        var csv = new Option<string?>("--csv") { Description = "write the series as CSV (run_id, metric, step, value) to this file; - for standard output" };
        var format = Output.FormatOption();
        var json = Output.JsonOption(Documents.RunMetrics);
        var cmd = new Command("metrics", "Print or export the whole series of a run's metrics: every logged step, not only the first and last.") { id, key, csv, format, json };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            string? csvPath = r.GetValue(csv) is { } c ? Terminal.CheckOutputFile(c, "--csv", allowStdout: true) : null;
            bool csvToStdout = r.GetValue(csv) == "-";
            if (csvToStdout && (r.GetValue(json) == "-" || r.GetValue(format) == "json"))
                throw new CommandLineException("--csv - and JSON on standard output cannot share it: give --csv or --json a file path");
            if (csvToStdout) Terminal.HumanOutputToStandardError();
            var output = CommandOutput.Begin(r, format, json);
            using var s = Terminal.OpenExistingStore(r.GetValue(store));
            var run = s.FindRun(r.GetValue(id)!);
            string? wanted = r.GetValue(key);
            var series = s.MetricSeries(run.RunId, wanted);
            if (wanted is not null && series.Count == 0)
            {
                var known = s.MetricSeries(run.RunId).Keys.ToList();
                throw new CommandLineException(known.Count == 0
                    ? $"run {run.RunId[..12]} has no metrics"
                    : $"run {run.RunId[..12]} has no metric '{wanted}'{Terminal.DidYouMean(wanted, known)}; it has: {string.Join(", ", known)}");
            }
            if (csvPath is not null || csvToStdout)
            {
                var w = new StringWriter(CultureInfo.InvariantCulture);
                w.WriteLine("run_id,metric,step,value");
                foreach (var (k, pts) in series)
                    foreach (var (step, value) in pts)
                        w.WriteLine(string.Join(",", run.RunId, Csv(k), step.ToString(CultureInfo.InvariantCulture), double.IsNaN(value) ? "" : value.ToString("R", CultureInfo.InvariantCulture)));
                if (csvToStdout) Terminal.Out.Write(w.ToString());
                else
                {
                    Terminal.WriteAtomically(csvPath!, w.ToString());
                    output.Note($"wrote {csvPath}");
                }
            }
            else
            {
                // One row per step, one column per metric: series logged at different steps leave cells empty.
                var keys = series.Keys.ToList();
                var byStep = new SortedDictionary<long, string[]>();
                for (int i = 0; i < keys.Count; i++)
                    foreach (var (step, value) in series[keys[i]])
                    {
                        if (!byStep.TryGetValue(step, out var row)) byStep[step] = row = new string[keys.Count];
                        row[i] = value.ToString("R", CultureInfo.InvariantCulture);
                    }
                var listing = new Listing(["step", .. keys]);
                foreach (var (step, values) in byStep) listing.Add([step.ToString(CultureInfo.InvariantCulture), .. values.Select(v => (Cell)v)]);
                output.Write(listing);
            }
            output.Json(() => Documents.RunMetricsDocument(run, series));
            return 0;
        }));
        return cmd;
    }

    private static Command Compare(Option<string?> store)
    {
        var a = RunArgument("a");
        var b = RunArgument("b");
        var all = new Option<bool>("--all") { Description = "show every setting, not only those that differ" };
        var format = Output.FormatOption();
        var json = Output.JsonOption(Documents.RunCompare);
        var cmd = new Command("compare", "Show two runs side by side: identity, the settings that differ, results and each metric's final value.") { a, b, all, format, json };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            var output = CommandOutput.Begin(r, format, json);
            using var s = Terminal.OpenExistingStore(r.GetValue(store));
            var x = s.FindRun(r.GetValue(a)!);
            var y = s.FindRun(r.GetValue(b)!);
            string ax = x.RunId[..12], by = y.RunId[..12];
            // Two prefixes of one run (or the same id twice) compare a run with itself: said first, so that a table with
            // nothing different is not read as two runs that agree.
            if (x.RunId == y.RunId)
                output.Note($"'{r.GetValue(a)}' and '{r.GetValue(b)}' are the same run, {x.RunId}: it is compared with itself, so nothing differs");
            var identity = new Listing("", ax, by);
            void Id(string k, string va, string vb) => identity.Add(k, va, vb);
            Id("phenomenon", x.Phenomenon, y.Phenomenon);
            Id("tier", x.Tier.ToString().ToLowerInvariant(), y.Tier.ToString().ToLowerInvariant());
            Id("arm", x.Arm, y.Arm);
            Id("seed", x.Seed.ToString(CultureInfo.InvariantCulture), y.Seed.ToString(CultureInfo.InvariantCulture));
            Id("status", Status(x.Status).Text, Status(y.Status).Text);
            Id("seconds", x.Seconds?.ToString("F2", CultureInfo.InvariantCulture) ?? "", y.Seconds?.ToString("F2", CultureInfo.InvariantCulture) ?? "");
            Id("protocol version", x.ProtocolVersion, y.ProtocolVersion);
            Id("code version", Output.ShortVersion(x.CodeVersion), Output.ShortVersion(y.CodeVersion));
            Id("data", $"{x.DataSource} ({x.DataFingerprint[..Math.Min(12, x.DataFingerprint.Length)]})", $"{y.DataSource} ({y.DataFingerprint[..Math.Min(12, y.DataFingerprint.Length)]})");
            output.Write(identity);

            var px = Documents.Settings(s, x);
            var py = Documents.Settings(s, y);
            var settings = new Listing("setting", ax, by);
            foreach (var k in px.Keys.Union(py.Keys).Order(StringComparer.Ordinal))
            {
                string va = px.GetValueOrDefault(k) ?? "", vb = py.GetValueOrDefault(k) ?? "";
                if (va != vb || r.GetValue(all)) settings.Add(va != vb ? new Cell(k, "yellow") : k, va, vb);
            }
            if (settings.Rows.Count > 0) output.Write(settings);
            else output.Note("the two runs have the same settings");

            var numbers = new Listing("result", ax, by, "b - a");
            void Numbers(string prefix, IReadOnlyDictionary<string, double> vx, IReadOnlyDictionary<string, double> vy)
            {
                foreach (var k in vx.Keys.Union(vy.Keys).Order(StringComparer.Ordinal))
                {
                    bool hx = vx.TryGetValue(k, out double ex), hy = vy.TryGetValue(k, out double ey);
                    numbers.Add(prefix + k, hx ? Output.G(ex) : "", hy ? Output.G(ey) : "", hx && hy ? Output.G(ey - ex) : "");
                }
            }
            Numbers("", s.Results(x.RunId), s.Results(y.RunId));
            Numbers("final ", Documents.FinalMetrics(s, x.RunId), Documents.FinalMetrics(s, y.RunId));
            if (numbers.Rows.Count > 0) output.Write(numbers);
            output.Json(() => Documents.RunCompareDocument(s, x, y));
            return 0;
        }));
        return cmd;
    }

    private static Command Export(Option<string?> store)
    {
        var phenomenon = PhenomenonOption();
        var output = new Option<string?>("--output", "-o") { Description = "the runs file (one row per run: settings and final results), *.csv or *.parquet; - for standard output (CSV), the default when nothing else is asked for" };
        var metrics = new Option<string?>("--metrics") { Description = "the per-step metrics file (one row per run, metric and step), *.csv or *.parquet; - for standard output (CSV)" };
        var verdicts = new Option<string?>("--verdicts") { Description = "the verdicts file (one row per check of every stored verdict), *.csv or *.parquet; - for standard output (CSV)" };
        var dir = new Option<string?>("--dir") { Description = "write runs, metrics and verdicts into this folder (runs.csv, metrics.csv, verdicts.csv; .parquet with --parquet)" };
        var parquet = new Option<bool>("--parquet") { Description = "with --dir, write Parquet files instead of CSV (a file named *.parquet is Parquet too)" };
        var cmd = new Command("export", "Export the store as CSV or Parquet: runs with their settings (param.*) and final results (result.*), every metric at every step, and every verdict's checks.")
        {
            phenomenon, output, metrics, verdicts, dir, parquet,
        };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            if (r.GetValue(phenomenon) is { } id) Terminal.Phenomenon(id);
            // --parquet sets the format of --dir's files; a named file's format is its extension's (.csv or .parquet), and
            // standard output is CSV. So --parquet needs --dir or a file, and contradicts a *.csv file or - .
            if (r.GetValue(parquet) && r.GetValue(dir) is null && new[] { r.GetValue(output), r.GetValue(metrics), r.GetValue(verdicts) }.All(x => x is null or "-"))
                throw new CommandLineException("--parquet goes with --dir (or name a file *.parquet); standard output is always CSV");
            var targets = new List<(string What, string Given)>();
            if (r.GetValue(dir) is { } folder)
            {
                string full = Terminal.CheckOutputFolder(folder, "--dir");
                string ext = r.GetValue(parquet) ? ".parquet" : ".csv";
                targets.AddRange([("runs", Path.Combine(full, "runs" + ext)), ("metrics", Path.Combine(full, "metrics" + ext)), ("verdicts", Path.Combine(full, "verdicts" + ext))]);
            }
            if (r.GetValue(output) is { } o) targets.Add(("runs", o));
            if (r.GetValue(metrics) is { } m) targets.Add(("metrics", m));
            if (r.GetValue(verdicts) is { } v) targets.Add(("verdicts", v));
            if (targets.Count == 0) targets.Add(("runs", "-"));
            if (targets.Count(t => t.Given == "-") > 1) throw new CommandLineException("only one export can go to standard output (-): give the others file paths");
            foreach (var (what, given) in targets)
            {
                string option = what switch { "runs" => "--output", _ => "--" + what };
                if (given == "-")
                {
                    if (r.GetValue(parquet)) throw new CommandLineException($"{option} -: standard output is written as CSV, but --parquet asks for Parquet; give a file *.parquet");
                    continue;
                }
                Terminal.CheckOutputFile(given, option, allowStdout: false);
                // A named file's format is its extension's: anything else would be CSV under another format's name.
                string ext = Path.GetExtension(given);
                if (!IsParquet(given) && !ext.Equals(".csv", StringComparison.OrdinalIgnoreCase))
                    throw new CommandLineException($"{option} '{given}': runs export writes CSV (a file named *.csv) or Parquet (*.parquet), " +
                                                   $"found {(ext.Length > 1 ? $"the extension '{ext}'" : "no extension")}");
                if (r.GetValue(parquet) && !IsParquet(given))
                    throw new CommandLineException($"{option} '{given}': --parquet asks for Parquet, but the file is named *.csv " +
                                                   "(--parquet sets the format of --dir's files; a named file's format is its extension)");
            }
            if (targets.Any(t => t.Given == "-")) Terminal.HumanOutputToStandardError();
            using var s = Terminal.OpenExistingStore(r.GetValue(store));
            string? only = r.GetValue(phenomenon);
            foreach (var (what, given) in targets)
            {
                if (IsParquet(given))
                {
                    Exports.WriteParquet(s, what, only, Path.GetFullPath(given));
                    Terminal.Console.MarkupLineInterpolated($"wrote [blue]{Path.GetFullPath(given)}[/]");
                    continue;
                }
                Action<TextWriter> write = what switch
                {
                    "metrics" => w => s.ExportMetricsCsv(w, only),
                    "verdicts" => w => s.ExportVerdictsCsv(w, only),
                    _ => w => s.ExportCsv(w, only),
                };
                if (given == "-") write(Terminal.Out);
                else
                {
                    Exports.WriteCsvAtomically(Path.GetFullPath(given), write);
                    Terminal.Console.MarkupLineInterpolated($"wrote [blue]{Path.GetFullPath(given)}[/]");
                }
            }
            return 0;
        }));
        return cmd;
    }

    private static bool IsParquet(string path) => path.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase);

    private static Command Tag(Option<string?> store)
    {
        var id = RunArgument();
        var pairs = new Argument<string[]>("tag") { Description = "KEY=VALUE (a key already set is replaced)", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("tag", "Tag a run with KEY=VALUE pairs, kept in the run store (filter with `runs list --tag KEY=VALUE`).") { id, pairs };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            var tags = (r.GetValue(pairs) ?? []).Select(p => ParseTag(p, "<tag>")).ToList();
            using var s = Terminal.OpenExistingStoreForWriting(r.GetValue(store));
            var run = s.FindRun(r.GetValue(id)!);
            foreach (var (k, v) in tags) s.TagRun(run.RunId, k, v);
            Terminal.Console.MarkupLineInterpolated($"run {run.RunId[..12]}: {string.Join(" ", s.Tags(run.RunId).Select(kv => $"{kv.Key}={kv.Value}"))}");
            return 0;
        }));
        return cmd;
    }

    private static Command Untag(Option<string?> store)
    {
        var id = RunArgument();
        var keys = new Argument<string[]>("key") { Description = "the tags to remove", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("untag", "Remove tags from a run.") { id, keys };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            using var s = Terminal.OpenExistingStoreForWriting(r.GetValue(store));
            var run = s.FindRun(r.GetValue(id)!);
            foreach (var k in r.GetValue(keys) ?? [])
                if (!s.UntagRun(run.RunId, k)) throw new CommandLineException($"run {run.RunId[..12]} has no tag '{k}'");
            Terminal.Console.MarkupLineInterpolated($"run {run.RunId[..12]}: {string.Join(" ", s.Tags(run.RunId).Select(kv => $"{kv.Key}={kv.Value}"))}");
            return 0;
        }));
        return cmd;
    }

    private static Command Note(Option<string?> store)
    {
        var id = RunArgument();
        var text = new Argument<string[]>("text") { Description = "the note (several words are joined with spaces)", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("note", "Add a free-text note to a run, kept in the run store after its earlier notes (shown by `runs show`).") { id, text };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            string note = string.Join(' ', r.GetValue(text) ?? []);
            if (string.IsNullOrWhiteSpace(note)) throw new CommandLineException("`aperture runs note` needs some text");
            using var s = Terminal.OpenExistingStoreForWriting(r.GetValue(store));
            var run = s.FindRun(r.GetValue(id)!);
            int position = s.NoteRun(run.RunId, note);
            Terminal.Console.MarkupLineInterpolated($"run {run.RunId[..12]}: note {position} added");
            return 0;
        }));
        return cmd;
    }

    /// <summary>"key=value" as a pair; the key must not be empty.</summary>
    public static KeyValuePair<string, string> ParseTag(string text, string option)
    {
        int eq = text.IndexOf('=');
        if (eq <= 0) throw new CommandLineException($"{option} expects KEY=VALUE, found '{text}'");
        return KeyValuePair.Create(text[..eq].Trim(), text[(eq + 1)..]);
    }

    private static Cell Status(RunStatus s) => s switch
    {
        RunStatus.Finished => new("finished", "green"),
        RunStatus.Failed => new("failed", "red"),
        _ => new("running", "yellow"),
    };

    private static string Csv(string s) => s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}

/// <summary>The tier and status names the store and the command line share.</summary>
internal static class RunStoreNames
{
    public static Tier Tier(string name) => name == "full" ? Aperture.Lab.Tier.Full : Aperture.Lab.Tier.Quick;
}
