using System.Text.Json.Nodes;
using Aperture.Lab.Store;
using Parquet;

namespace Aperture.Cli.Tests;

/// <summary>
/// Output that survives a pipe or a log (one row per line, reproduce commands whole), every listing format, the JSON
/// documents against their published schemas, and the run store's queries: filters, limits, metric series, exports,
/// verdict history, comparison, tags and notes.
/// </summary>
public sealed class OutputTests(OutputFixture fixture) : IClassFixture<OutputFixture>
{
    private static readonly string[] Ids = ["momentum-acceleration", "adam-beta2-rounding"];

    private CliResult Run(params string[] args) => CliHarness.Run([.. args, "--store", fixture.Store]);

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    // ---- lab run, redirected ----

    [Fact]
    public void RedirectedSweepPrintsOneRowPerPhenomenonAndWholeReproduceCommands()
    {
        var lines = Lines(fixture.First.Out);
        // The default when redirected is a Markdown table: a header, its rule, then exactly one line per phenomenon.
        var rows = lines.Where(l => l.StartsWith("| ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, rows.Count);
        Assert.StartsWith("| phenomenon | discovery | replication |", rows[0]);
        foreach (var id in Ids) Assert.Single(rows, r => r.StartsWith($"| {id} |", StringComparison.Ordinal));
        Assert.All(rows, r => Assert.Equal(rows[0].Count(c => c == '|') - CountEscaped(rows[0]), r.Count(c => c == '|') - CountEscaped(r)));
        // No box drawing and no wrapped fragments anywhere.
        Assert.DoesNotContain(fixture.First.Out, c => c is >= '\u2500' and <= '\u257F');
        // Every reproduce command whole, on one line.
        foreach (var command in OutputFixture.Reproduce) Assert.Contains($"reproduce: {command}", lines);
        // A one-line verdict per phenomenon, printed as it finished (before the table).
        int table = Array.FindIndex(lines, l => l.StartsWith("| phenomenon", StringComparison.Ordinal));
        foreach (var id in Ids)
        {
            int line = Array.FindIndex(lines, l => l.StartsWith($"{id}: ", StringComparison.Ordinal));
            Assert.True(line >= 0 && line < table, $"no verdict line for {id} before the table:\n{fixture.First.Out}");
            // The time is the runs' own (summed, reused runs included), said so: not this command's wall time.
            Assert.Matches(@"; runs \d+ new, \d+ reused; [0-9.]+ s of run time$", lines[line]);
        }
        Assert.True(Array.FindIndex(lines, l => l.StartsWith(Ids[0] + ": ", StringComparison.Ordinal))
                    < Array.FindIndex(lines, l => l.StartsWith(Ids[1] + ": ", StringComparison.Ordinal)));
    }

    private static int CountEscaped(string row) => row.Split("\\|").Length - 1;

    [Fact]
    public void TsvIsDataOnlyWithTheReproduceCommandAsAColumn()
    {
        var r = Run([.. OutputFixture.Sweep, "--format", "tsv"]);
        Assert.True(r.ExitCode == 0, r.All);
        var lines = Lines(r.Out);
        Assert.Equal(3, lines.Length);
        var header = lines[0].Split('\t');
        Assert.Equal("reproduce", header[^1]);
        for (int i = 1; i < 3; i++)
        {
            var cells = lines[i].Split('\t');
            Assert.Equal(header.Length, cells.Length);
            Assert.Equal(Ids[i - 1], cells[0]);
            Assert.Equal(OutputFixture.Reproduce[i - 1], cells[^1]);
            Assert.Equal("quick (modified)", cells[Array.IndexOf(header, "tier")]);
            // A re-run reuses every run.
            Assert.Matches(@"^0/\d+$", cells[Array.IndexOf(header, "runs (new/reused)")]);
        }
        // The notes and the per-phenomenon verdict lines went to standard error.
        Assert.Contains("run store:", r.Err);
        Assert.Contains($"{Ids[0]}: ", r.Err);
    }

    [Fact]
    public void MarkdownIsAskedForExplicitly()
    {
        var r = Run("lab", "list", "--format", "markdown");
        Assert.True(r.ExitCode == 0, r.All);
        var rows = Lines(r.Out).Where(l => l.StartsWith('|')).ToList();
        Assert.Equal(Aperture.Lab.Catalogue.All.Count + 2, rows.Count);
        Assert.Equal("|---|---|---|---|", rows[1]);
    }

    [Fact]
    public void LabRunJsonValidatesAndCarriesTheProvenance()
    {
        var r = Run([.. OutputFixture.Sweep, "--format", "json"]);
        Assert.True(r.ExitCode == 0, r.All);
        var doc = OutputFixture.Validate(r.Out, "lab-run");
        var results = doc["results"]!.AsArray();
        Assert.Equal(Ids, results.Select(x => (string)x!["id"]!));
        Assert.Empty(doc["skipped"]!.AsArray());
        var m = results[0]!;
        Assert.True((bool)m["modified"]!);
        Assert.Equal("10", (string?)m["overrides"]!["dimension"]);
        Assert.Equal("10,100,1000", (string?)m["overrides"]!["kappas"]);
        Assert.Null(m["overrides"]!["seeds"]);
        Assert.Equal(RunStore.CodeVersion, (string?)m["code"]!["version"]);
        Assert.Equal("none", (string?)m["data"]!["sha256"]);
        Assert.Matches("^[0-9a-f]{64}$", (string?)results[1]!["data"]!["sha256"]);
        Assert.Equal(0, (int)m["runs_new"]!);
        Assert.Equal(OutputFixture.Reproduce[0], (string?)m["reproduce"]);
        foreach (var (block, seedBase) in new[] { ("discovery", 0), ("replication", 2) })
        {
            var b = m[block]!;
            Assert.Equal(seedBase, (int)b["seed_base"]!);
            Assert.Equal(2, (int)b["seeds"]!);
            Assert.Equal(seedBase + 1, (int)b["seed_last"]!);
            Assert.Equal((int)b["runs_reused"]!, b["run_ids"]!.AsArray().Count);
            Assert.NotEmpty(b["checks"]!.AsArray());
            foreach (var c in b["checks"]!.AsArray())
            {
                Assert.False(string.IsNullOrEmpty((string?)c!["supports"]));
                Assert.True((double?)c["ci_low"] <= (double?)c["ci_high"]);
            }
        }
        // The record and the store agree on the runs judged.
        using var store = RunStore.OpenExisting(fixture.Store);
        var verdict = store.Verdicts(Ids[0]).First(v => v.Id == (long)m["discovery"]!["verdict_id"]!);
        Assert.Equal(verdict.RunIds, m["discovery"]!["run_ids"]!.AsArray().Select(x => (string)x!));
        // Every estimate states the unit declared with it: a share of seeds, a dimensionless exponent, accuracy.
        Assert.Equal("share of seeds", (string?)results[1]!["effect"]!["unit"]);
        Assert.Equal("dimensionless", (string?)m["effect"]!["unit"]);
        foreach (var rec in results)
            foreach (var block in new[] { "discovery", "replication" })
                foreach (var e in rec![block]!["checks"]!.AsArray().Concat(rec[block]!["extra"]!.AsArray()))
                    Assert.False(string.IsNullOrEmpty((string?)e!["unit"]), $"{rec["id"]}: '{e["name"]}' has no unit");
        Assert.Contains(results[1]!["discovery"]!["checks"]!.AsArray(), c => (string?)c!["unit"] == "accuracy (fraction)");
    }

    [Fact]
    public void LabRulesJsonValidates()
    {
        var r = Run("lab", "rules", "--simulations", "20", "--format", "json");
        Assert.True(r.ExitCode == 0, r.All);
        var doc = OutputFixture.Validate(r.Out, "lab-rules");
        Assert.Equal(20, (int)doc["simulations"]!);
        // The fixture judged two phenomena; the others have no stored verdict and are left out.
        Assert.Equal(Ids.Order(), doc["rules"]!.AsArray().Select(x => (string)x!["phenomenon"]!).Order());
        Assert.All(doc["rules"]!.AsArray(), x => Assert.True((int)x!["checks"]! + (int)x["not_simulable"]! > 0));

        // --json - gives the same document; --json PATH writes it beside the table.
        var dash = Run("lab", "rules", "--simulations", "20", "--json", "-");
        Assert.True(dash.ExitCode == 0, dash.All);
        Assert.Equal(doc["rules"]!.AsArray().Count, OutputFixture.Validate(dash.Out, "lab-rules")["rules"]!.AsArray().Count);
        Assert.Contains("false held", dash.Err);
        string file = fixture.At("rules.json");
        var toFile = Run("lab", "rules", "--simulations", "20", "--json", file);
        Assert.True(toFile.ExitCode == 0, toFile.All);
        Assert.Contains("| phenomenon |", toFile.Out);
        OutputFixture.Validate(File.ReadAllText(file), "lab-rules");
    }

    [Fact]
    public void EveryCommandWithAFormatTakesJson()
    {
        // A listing command prints results; each takes --json PATH|- as well as --format json (docs/cli.md).
        var missing = new List<string>();
        void Walk(System.CommandLine.Command c)
        {
            var names = c.Options.Select(o => o.Name).ToHashSet();
            if (names.Contains("--format") && !names.Contains("--json")) missing.Add(Cli.CommandPath(c));
            foreach (var sub in c.Subcommands) Walk(sub);
        }
        Walk(Cli.Build());
        Assert.Empty(missing);
    }

    [Fact]
    public void JsonFileAndStandardOutputAgree()
    {
        string file = fixture.At("run.json");
        var r = Run([.. OutputFixture.Sweep, "--json", file]);
        Assert.True(r.ExitCode == 0, r.All);
        var doc = OutputFixture.Validate(File.ReadAllText(file), "lab-run");
        Assert.Equal(2, doc["results"]!.AsArray().Count);
        // The human output stayed on standard output.
        Assert.Contains("| phenomenon |", r.Out);
    }

    [Fact]
    public void LabListAndShowJsonValidate()
    {
        var list = Run("lab", "list", "--json", "-");
        Assert.True(list.ExitCode == 0, list.All);
        var doc = OutputFixture.Validate(list.Out, "lab-list");
        Assert.Equal(Aperture.Lab.Catalogue.All.Select(p => p.Id), doc["phenomena"]!.AsArray().Select(p => (string)p!["id"]!));

        var show = Run("lab", "show", "momentum-acceleration", "--tier", "full", "--format", "json");
        Assert.True(show.ExitCode == 0, show.All);
        var s = OutputFixture.Validate(show.Out, "lab-show");
        Assert.Equal("full", (string?)s["tier"]);
        Assert.Contains(s["settings"]!.AsArray(), x => (string?)x!["key"] == "kappas");
        Assert.Contains("Claim:", show.Err);
    }

    // ---- terminals: COLUMNS, TERM=dumb ----

    [Fact]
    public void TablesHonourColumnsAndDrawNoBoxesOnADumbTerminal()
    {
        string? columns = Environment.GetEnvironmentVariable("COLUMNS"), term = Environment.GetEnvironmentVariable("TERM");
        try
        {
            Environment.SetEnvironmentVariable("COLUMNS", "80");
            var narrow = Run("verdicts", "list", "--format", "table");
            Assert.True(narrow.ExitCode == 0, narrow.All);
            Assert.All(Lines(narrow.Out), l => Assert.True(l.Length <= 80, $"a line of {l.Length} columns at COLUMNS=80: {l}"));
            Assert.Contains("momentum-acceleration", narrow.Out);

            Environment.SetEnvironmentVariable("COLUMNS", "400");
            var wide = Run("verdicts", "list", "--all", "--format", "table");
            // At 400 columns the drawn table fits: one line per verdict.
            Assert.Contains("╭", wide.Out);
            Assert.All(Lines(wide.Out), l => Assert.True(l.Length <= 400, $"a line of {l.Length} columns at COLUMNS=400"));
            using (var store = RunStore.OpenExisting(fixture.Store))
                Assert.Equal(store.VerdictHistory().Count, Lines(wide.Out).Count(l => l.Contains(" momentum-acceleration ", StringComparison.Ordinal) || l.Contains(" adam-beta2-rounding ", StringComparison.Ordinal)));

            Environment.SetEnvironmentVariable("TERM", "dumb");
            var dumb = Run("verdicts", "list", "--format", "table");
            Assert.True(dumb.ExitCode == 0, dumb.All);
            Assert.DoesNotContain(dumb.Out, c => c is >= '\u2500' and <= '\u257F');
            Assert.Contains("+-", dumb.Out);
        }
        finally
        {
            Environment.SetEnvironmentVariable("COLUMNS", columns);
            Environment.SetEnvironmentVariable("TERM", term);
        }
    }

    // ---- runs list ----

    [Fact]
    public void RunsListFiltersAndLimits()
    {
        var all = Run("runs", "list", "--limit", "0", "--format", "json");
        var doc = OutputFixture.Validate(all.Out, "run-list");
        int total = (int)doc["total"]!;
        Assert.Equal(total, (int)doc["shown"]!);
        Assert.Equal(48, total);

        var limited = Run("runs", "list", "--limit", "5");
        Assert.True(limited.ExitCode == 0, limited.All);
        Assert.Equal(5 + 2, Lines(limited.Out).Count(l => l.StartsWith('|')));
        Assert.Contains($"… {total - 5} more", limited.Out);

        var one = Run("runs", "list", "--phenomenon", "adam-beta2-rounding", "--status", "finished", "--tier", "quick", "--limit", "0", "--json", "-");
        var d = OutputFixture.Validate(one.Out, "run-list");
        Assert.Equal(32, (int)d["total"]!);
        Assert.All(d["runs"]!.AsArray(), x => Assert.Equal("adam-beta2-rounding", (string?)x!["phenomenon"]));
        Assert.Equal("adam-beta2-rounding", (string?)d["filters"]!["phenomenon"]);

        Assert.Equal(0, (int)OutputFixture.Validate(Run("runs", "list", "--tier", "full", "--format", "json").Out, "run-list")["total"]!);
        Assert.Equal(0, (int)OutputFixture.Validate(Run("runs", "list", "--status", "failed", "--format", "json").Out, "run-list")["total"]!);

        // The default limit applies without --limit.
        Assert.Equal(Math.Min(total, RunsCommands.DefaultLimit), (int)OutputFixture.Validate(Run("runs", "list", "--format", "json").Out, "run-list")["shown"]!);
        CliHarness.AssertOneLineError(Run("runs", "list", "--limit", "-1"), "--limit", "negative limit");
        CliHarness.AssertOneLineError(Run("runs", "list", "--phenomenon", "momentum-aceleration"), "did you mean 'momentum-acceleration'", "unknown phenomenon");
    }

    [Fact]
    public void RunsListTsvHasOneLinePerRun()
    {
        var r = Run("runs", "list", "--phenomenon", "momentum-acceleration", "--format", "tsv");
        var lines = Lines(r.Out);
        Assert.Equal(1 + 16, lines.Length);
        Assert.All(lines, l => Assert.Equal(10, l.Split('\t').Length));
        Assert.Contains("16 runs in", r.Err);
    }

    // ---- runs show, metrics ----

    private string RunOf(string phenomenon, string arm)
    {
        using var store = RunStore.OpenExisting(fixture.Store);
        return store.QueryRuns(new RunQuery(phenomenon)).Rows.First(r => r.Arm == arm && r.Seed == 0).RunId;
    }

    [Fact]
    public void RunsShowJsonHoldsEveryMetricPoint()
    {
        string id = RunOf("adam-beta2-rounding", "float64");
        var r = Run("runs", "show", id[..10], "--format", "json");
        Assert.True(r.ExitCode == 0, r.All);
        var doc = OutputFixture.Validate(r.Out, "run");
        Assert.Equal(id, (string?)doc["run_id"]);
        // The protocol version is a number, as in lab-run and verdict-list.
        Assert.Equal(System.Text.Json.JsonValueKind.Number, doc["protocol_version"]!.GetValueKind());
        Assert.Equal(Aperture.Lab.Catalogue.Get((string)doc["phenomenon"]!).Version, (int)doc["protocol_version"]!);
        using var store = RunStore.OpenExisting(fixture.Store);
        var series = store.MetricSeries(id);
        Assert.NotEmpty(series);
        foreach (var (key, points) in series)
        {
            var json = doc["metrics"]![key]!.AsArray();
            Assert.Equal(points.Count, json.Count);
            Assert.Equal(points.Select(p => p.Step), json.Select(p => (long)p![0]!));
        }
        Assert.Equal(store.Results(id).Count, doc["results"]!.AsObject().Count);
        Assert.Equal("finished", (string?)doc["status"]);
    }

    [Fact]
    public void RunsMetricsPrintsAndExportsTheWholeSeries()
    {
        string id = RunOf("adam-beta2-rounding", "float64");
        using var store = RunStore.OpenExisting(fixture.Store);
        var series = store.MetricSeries(id);
        var (key, points) = series.First(kv => kv.Value.Count > 1);

        var table = Run("runs", "metrics", id[..12], key, "--format", "tsv");
        Assert.True(table.ExitCode == 0, table.All);
        var lines = Lines(table.Out);
        Assert.Equal(new[] { "step", key }, lines[0].Split('\t'));
        Assert.Equal(points.Count + 1, lines.Length);
        Assert.Equal(points[^1].Value, double.Parse(lines[^1].Split('\t')[1], System.Globalization.CultureInfo.InvariantCulture));

        string csv = fixture.At("series.csv");
        var export = Run("runs", "metrics", id[..12], "--csv", csv);
        Assert.True(export.ExitCode == 0, export.All);
        var rows = Lines(File.ReadAllText(csv));
        Assert.Equal("run_id,metric,step,value", rows[0]);
        Assert.Equal(series.Values.Sum(p => p.Count) + 1, rows.Length);

        var json = Run("runs", "metrics", id[..12], key, "--json", "-");
        var doc = OutputFixture.Validate(json.Out, "run-metrics");
        Assert.Equal(points.Count, doc["metrics"]![key]!.AsArray().Count);
        Assert.Single(doc["metrics"]!.AsObject());

        CliHarness.AssertOneLineError(Run("runs", "metrics", id[..12], key + "x"), $"did you mean '{key}'", "unknown metric");
    }

    // ---- export ----

    [Fact]
    public async Task ExportWritesRunsPerStepMetricsAndVerdicts()
    {
        string dir = fixture.At("export-csv");
        var r = Run("runs", "export", "--dir", dir);
        Assert.True(r.ExitCode == 0, r.All);
        using var store = RunStore.OpenExisting(fixture.Store);
        var runs = store.QueryRuns(new RunQuery()).Rows;
        int points = runs.Sum(x => store.MetricSeries(x.RunId).Values.Sum(p => p.Count));
        var verdicts = store.VerdictHistory();
        Assert.True(points > runs.Count, "the fixture's runs log per-step metrics");
        Assert.Equal(runs.Count + 1, Lines(File.ReadAllText(Path.Combine(dir, "runs.csv"))).Length);
        var metrics = Lines(File.ReadAllText(Path.Combine(dir, "metrics.csv")));
        Assert.Equal("run_id,phenomenon,tier,arm,seed,metric,step,value", metrics[0]);
        Assert.Equal(points + 1, metrics.Length);
        var verdictRows = Lines(File.ReadAllText(Path.Combine(dir, "verdicts.csv")));
        Assert.StartsWith("verdict_id,phenomenon,tier,seed_base,seeds,outcome,", verdictRows[0]);
        Assert.Equal(verdicts.Sum(v => v.Verdict.Checks.Count) + 1, verdictRows.Length);

        string pq = fixture.At("export-parquet");
        var p = Run("runs", "export", "--dir", pq, "--parquet", "--phenomenon", "adam-beta2-rounding");
        Assert.True(p.ExitCode == 0, p.All);
        await using (var reader = await ParquetReader.CreateAsync(Path.Combine(pq, "metrics.parquet")))
        {
            long rows = 0;
            for (int g = 0; g < reader.RowGroupCount; g++) rows += reader.RowGroups[g].RowCount;
            int expected = runs.Where(x => x.Phenomenon == "adam-beta2-rounding").Sum(x => store.MetricSeries(x.RunId).Values.Sum(s => s.Count));
            Assert.Equal(expected, rows);
            Assert.Equal(new[] { "run_id", "phenomenon", "tier", "arm", "seed", "metric", "step", "value" }, reader.Schema.GetDataFields().Select(f => f.Name));
        }
        await using (var reader = await ParquetReader.CreateAsync(Path.Combine(pq, "runs.parquet")))
        {
            Assert.Equal(32, reader.RowGroups[0].RowCount);
            // A numeric column is typed as a number, not text.
            Assert.Equal(typeof(double), reader.Schema.GetDataFields().Single(f => f.Name == "seed").ClrType);
        }
        Assert.True(File.Exists(Path.Combine(pq, "verdicts.parquet")));

        CliHarness.AssertOneLineError(Run("runs", "export", "--metrics", "-", "--verdicts", "-"), "only one export", "two exports to standard output");
    }

    [Fact]
    public async Task ANamedFileIsWrittenInTheFormatItsExtensionNames()
    {
        string pq = fixture.At("named.PARQUET"), csv = fixture.At("named.CSV");
        var r = Run("runs", "export", "-o", pq, "--metrics", csv);
        Assert.True(r.ExitCode == 0, r.All);
        await using (var reader = await ParquetReader.CreateAsync(pq))
            Assert.Contains(reader.Schema.GetDataFields(), f => f.Name == "run_id");
        Assert.Equal("run_id,phenomenon,tier,arm,seed,metric,step,value", Lines(File.ReadAllText(csv))[0]);
        // --parquet with a named *.parquet file and no --dir is consistent, not an error.
        var both = Run("runs", "export", "--parquet", "--verdicts", fixture.At("v.parquet"));
        Assert.True(both.ExitCode == 0, both.All);
    }

    // ---- sweeps ----

    // A list-valued setting (kappas) swept: its values are whole lists separated by ';'.
    private static readonly string[] ListSweep =
        ["lab", "run", "momentum-acceleration", "--seeds", "2", "--no-replication", "--set", "dimension=10", "--set", "noisy_kappa=100", "--set", "kappas=10,100;100,1000"];

    private static string OnlySweep(string store)
    {
        using var s = RunStore.OpenExisting(store);
        return Assert.Single(s.Sweeps()).Id;
    }

    [Fact]
    public void SweepHonoursEveryFormatAndPrintsTheCommandThatRerunsIt()
    {
        string store = fixture.At("sweep-formats.db");
        // Redirected, the default is Markdown: a header, its rule, one line per grid point; then the reproduce command whole.
        var md = CliHarness.Run([.. ListSweep, "--store", store]);
        Assert.True(md.ExitCode == 0, md.All);
        string id = OnlySweep(store);
        var lines = Lines(md.Out);
        var rows = lines.Where(l => l.StartsWith('|')).ToList();
        Assert.Equal(4, rows.Count);
        Assert.StartsWith("| point | kappas | block | verdict |", rows[0]);
        Assert.StartsWith("| 0 | 10,100 | discovery |", rows[2]);
        Assert.StartsWith("| 1 | 100,1000 | discovery |", rows[3]);
        Assert.DoesNotContain(md.Out, c => c is >= '\u2500' and <= '\u257F');
        string reproduce = Assert.Single(lines, l => l.StartsWith("reproduce: ", StringComparison.Ordinal))["reproduce: ".Length..];
        // The ';' of the list axis is quoted: a shell would otherwise end the command there.
        Assert.Equal("./aperture lab run momentum-acceleration --tier quick --seeds 2 --no-replication --set dimension=10 --set noisy_kappa=100 --set 'kappas=10,100;100,1000'", reproduce);

        // The command, split into words as a shell would, reruns the same sweep (same spec, same id), here as TSV:
        // data only on standard output, one row per line, the notes (the reproduce line too) on standard error.
        var words = ShellWords(reproduce);
        Assert.Equal("./aperture", words[0]);
        var tsv = CliHarness.Run([.. words[1..], "--store", store, "--format", "tsv"]);
        Assert.True(tsv.ExitCode == 0, tsv.All);
        Assert.Equal(id, OnlySweep(store));
        var data = Lines(tsv.Out);
        Assert.Equal(3, data.Length);
        Assert.Equal(["point", "kappas", "block", "verdict", "effect [95% CI]", "seeds"], data[0].Split('\t'));
        Assert.All(data, l => Assert.Equal(6, l.Split('\t').Length));
        Assert.Equal(["1", "100,1000", "discovery"], data[2].Split('\t')[..3]);
        Assert.Contains($"reproduce: {reproduce}", Lines(tsv.Err));
        Assert.Contains("run store:", tsv.Err);

        // --format json: the sweep's document alone on standard output.
        var json = CliHarness.Run([.. ListSweep, "--store", store, "--format", "json"]);
        Assert.True(json.ExitCode == 0, json.All);
        var doc = OutputFixture.Validate(json.Out, "sweep");
        Assert.Equal(id, (string?)doc["sweep"]!["id"]);
        Assert.Contains($"reproduce: {reproduce}", Lines(json.Err));

        // --format table: drawn even when redirected, never as Markdown.
        var table = CliHarness.Run([.. ListSweep, "--store", store, "--format", "table"]);
        Assert.True(table.ExitCode == 0, table.All);
        Assert.DoesNotContain(Lines(table.Out), l => l.StartsWith('|'));
        Assert.Contains("effect [95% CI]", table.Out);
        Assert.Contains($"reproduce: {reproduce}", Lines(table.Out));
        Assert.Equal(id, OnlySweep(store));
    }

    [Fact]
    public void ASweepNoSetCanStateIsReproducedFromItsSpec()
    {
        // One listed value is an axis in a spec file, but a fixed setting on the command line: another spec. The
        // command then writes the spec and runs it.
        string store = fixture.At("sweep-spec.db"), file = fixture.At("one-value.json");
        File.WriteAllText(file, """{"phenomenon": "momentum-acceleration", "seeds": 2, "replicate": false, "parameters": {"dimension": {"values": [10]}, "kappas": {"value": [10, 100]}, "noisy_kappa": {"value": 100}}}""");
        var r = CliHarness.Run(["lab", "run", "--sweep", file, "--store", store]);
        Assert.True(r.ExitCode == 0, r.All);
        string id = OnlySweep(store);
        string reproduce = Assert.Single(Lines(r.Out), l => l.StartsWith("reproduce: ", StringComparison.Ordinal))["reproduce: ".Length..];
        var words = ShellWords(reproduce);
        Assert.Equal(["printf", "%s\\n"], words[..2]);
        Assert.Equal([">", "sweep.json", "&&", "./aperture", "lab", "run", "--sweep", "sweep.json"], words[3..]);
        string again = fixture.At("sweep.json");
        File.WriteAllText(again, words[2] + "\n");
        var rerun = CliHarness.Run(["lab", "run", "--sweep", again, "--store", store]);
        Assert.True(rerun.ExitCode == 0, rerun.All);
        Assert.Equal(id, OnlySweep(store));
    }

    // A POSIX shell's word splitting for what the reproduce lines use: spaces, single quotes, backslash escapes.
    private static string[] ShellWords(string line)
    {
        var words = new List<string>();
        var word = new System.Text.StringBuilder();
        bool any = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (c == '\'')
            {
                int end = line.IndexOf('\'', i + 1);
                Assert.True(end > i, $"an unclosed quote in: {line}");
                word.Append(line, i + 1, end - i - 1);
                i = end;
                any = true;
            }
            else if (c == '\\' && i + 1 < line.Length) { word.Append(line[++i]); any = true; }
            else if (c == ' ')
            {
                if (any) words.Add(word.ToString());
                word.Clear();
                any = false;
            }
            else
            {
                Assert.False(c is ';' or '|' or '"' or '$' or '`' or '(' or ')' or '*' or '?', $"an unquoted '{c}' in: {line}");
                word.Append(c);
                any = true;
            }
        }
        if (any) words.Add(word.ToString());
        return [.. words];
    }

    // ---- verdicts, compare, tags ----

    [Fact]
    public void VerdictHistoryListsEveryBlockAndCodeVersion()
    {
        var r = Run("verdicts", "list", "momentum-acceleration", "--format", "json");
        Assert.True(r.ExitCode == 0, r.All);
        var doc = OutputFixture.Validate(r.Out, "verdict-list");
        var verdicts = doc["verdicts"]!.AsArray();
        using var store = RunStore.OpenExisting(fixture.Store);
        Assert.Equal(store.Verdicts("momentum-acceleration").Count, verdicts.Count);
        Assert.Equal(verdicts.Select(v => (long)v!["verdict_id"]!).Order(), verdicts.Select(v => (long)v!["verdict_id"]!));
        Assert.Contains(verdicts, v => (int)v!["seed_base"]! == 0);
        Assert.Contains(verdicts, v => (int)v!["seed_base"]! == 2);
        Assert.All(verdicts, v => Assert.Equal(RunStore.CodeVersion, (string?)v!["code"]!["version"]));

        var all = Run("verdicts", "list");
        Assert.Contains("adam-beta2-rounding", all.Out);
    }

    [Fact]
    public void VerdictHistoryShowsARepeatedJudgementOnce()
    {
        // Rerunning the sweep reuses every run and stores the same verdicts again: the listing shows each judgement once,
        // with how many times it was judged; --all shows every verdict.
        Assert.Equal(0, Run(OutputFixture.Sweep).ExitCode);
        var r = Run("verdicts", "list", "momentum-acceleration", "--format", "tsv");
        Assert.True(r.ExitCode == 0, r.All);
        var rows = Lines(r.Out).Skip(1).Select(l => l.Split('\t')).ToList();
        var header = Lines(r.Out)[0].Split('\t');
        int times = Array.IndexOf(header, "times"), seeds = Array.IndexOf(header, "seeds");
        Assert.True(times > 0 && seeds > 0, r.Out);
        using var store = RunStore.OpenExisting(fixture.Store);
        int stored = store.Verdicts("momentum-acceleration").Count;
        Assert.True(stored >= 4, $"{stored} verdicts");
        Assert.Equal(2, rows.Count);   // one code version, one settings: one judgement per seed block
        Assert.Equal(["0-1", "2-3"], rows.Select(x => x[seeds]).Order());
        Assert.Equal(stored, rows.Sum(x => int.Parse(x[times], System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Contains("distinct judgements", r.Err);

        // The settings --set changed are shown, not only "(modified)".
        int settings = Array.IndexOf(header, "settings");
        Assert.All(rows, x => Assert.Equal(["dimension=10", "kappas=10,100,1000"], x[settings].Split(' ').Order()));

        var every = Run("verdicts", "list", "momentum-acceleration", "--all", "--format", "tsv");
        Assert.Equal(stored, Lines(every.Out).Length - 1);
        Assert.All(Lines(every.Out).Skip(1), l => Assert.Equal("1", l.Split('\t')[times]));
    }

    [Fact]
    public void CompareShowsTwoRunsSideBySide()
    {
        string a = RunOf("adam-beta2-rounding", "float64"), b = RunOf("adam-beta2-rounding", "bfloat16-toward-zero");
        var r = Run("runs", "compare", a[..12], b[..12], "--format", "json");
        Assert.True(r.ExitCode == 0, r.All);
        var doc = OutputFixture.Validate(r.Out, "run-compare");
        Assert.Equal(a, (string?)doc["a"]!["run_id"]);
        Assert.Contains(doc["params"]!.AsArray(), p => (bool)p!["differs"]!);
        Assert.Contains(doc["params"]!.AsArray(), p => !(bool)p!["differs"]! && (string?)p!["key"] == "epochs");
        Assert.NotEmpty(doc["results"]!.AsArray());
        var table = Run("runs", "compare", a[..12], b[..12]);
        Assert.Contains(a[..12], table.Out);
        Assert.Contains("b - a", table.Out);
    }

    [Fact]
    public void AReproducedSettingIsOneShellWord()
    {
        // A list-valued setting joins its values with ';', which a shell would take for the end of the command.
        var r = new Aperture.Lab.Reproduction("ill-conditioned", Aperture.Lab.Tier.Quick, 3, 0,
            [new("kappas", "10,100;1000"), new("width", "64")]);
        Assert.Equal("./aperture lab run ill-conditioned --tier quick --seeds 3 --set 'kappas=10,100;1000' --set width=64",
            LabCommands.ReproduceCommand(r));
    }

    [Fact]
    public void ComparingARunWithItselfSaysSo()
    {
        string a = RunOf("adam-beta2-rounding", "float64");
        var r = Run("runs", "compare", a[..12], a[..8]);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains($"'{a[..12]}' and '{a[..8]}' are the same run, {a}", r.Out);
        Assert.Contains("b - a", r.Out);
        // Two different runs are not called the same.
        string b = RunOf("adam-beta2-rounding", "bfloat16-toward-zero");
        Assert.DoesNotContain("same run", Run("runs", "compare", a[..12], b[..12]).All);
    }

    [Fact]
    public void TagsAndNotesAreStoredAndQueried()
    {
        string id = RunOf("momentum-acceleration", "heavy-ball");
        var tag = Run("runs", "tag", id[..12], "reviewed=yes", "owner=lab");
        Assert.True(tag.ExitCode == 0, tag.All);
        var note = Run("runs", "note", id[..12], "checked", "by", "hand");
        Assert.True(note.ExitCode == 0, note.All);

        var list = OutputFixture.Validate(Run("runs", "list", "--tag", "reviewed=yes", "--format", "json").Out, "run-list");
        Assert.Equal(1, (int)list["total"]!);
        Assert.Equal("lab", (string?)list["runs"]![0]!["tags"]!["owner"]);
        Assert.Equal(0, (int)OutputFixture.Validate(Run("runs", "list", "--tag", "reviewed=no", "--format", "json").Out, "run-list")["total"]!);

        var show = OutputFixture.Validate(Run("runs", "show", id[..12], "--format", "json").Out, "run");
        Assert.Equal("yes", (string?)show["tags"]!["reviewed"]);
        Assert.Equal("checked by hand", (string?)show["notes"]![0]!["text"]);

        Assert.True(Run("runs", "tag", id[..12], "reviewed=no").ExitCode == 0);
        Assert.True(Run("runs", "untag", id[..12], "owner").ExitCode == 0);
        using (var store = RunStore.OpenExisting(fixture.Store))
            Assert.Equal(new Dictionary<string, string> { ["reviewed"] = "no" }, store.Tags(id));
        Assert.True(Run("runs", "untag", id[..12], "reviewed").ExitCode == 0);

        CliHarness.AssertOneLineError(Run("runs", "tag", id[..12], "novalue"), "KEY=VALUE", "a tag without =");
        CliHarness.AssertOneLineError(Run("runs", "untag", id[..12], "absent"), "no tag 'absent'", "removing a missing tag");
        CliHarness.AssertOneLineError(Run("runs", "tag", "ffffffff", "a=b"), "ffffffff", "an unknown run");
    }

    /// <summary>
    /// A version 4 store (no annotation tables) is read by `runs list` and `runs show` as it is, without tags or
    /// notes and without being written; the first command that annotates a run upgrades it to version 5.
    /// </summary>
    [Fact]
    public void AVersion4StoreIsReadWithoutWritingAndUpgradedByTheFirstNote()
    {
        static (int Version, bool Tables) Schema(string db)
        {
            using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False");
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT (SELECT version FROM schema_info), " +
                              "(SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('run_tags', 'run_notes', 'sweep_tags'))";
            using var r = cmd.ExecuteReader();
            r.Read();
            return (r.GetInt32(0), r.GetInt32(1) == 3);
        }
        string db = fixture.At("version4.db");
        File.Copy(fixture.Untagged, db);
        using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "DROP TABLE run_tags; DROP TABLE run_notes; DROP TABLE sweep_tags; UPDATE schema_info SET version = 4; PRAGMA wal_checkpoint(TRUNCATE);";
            cmd.ExecuteNonQuery();
        }
        Assert.Equal((4, false), Schema(db));
        var list = CliHarness.Run("runs", "list", "--tag", "reviewed=yes", "--format", "json", "--store", db);
        Assert.Equal(0, (int)OutputFixture.Validate(list.Out, "run-list")["total"]!);
        string id;
        using (var store = RunStore.OpenExisting(db)) id = store.QueryRuns(new RunQuery(Limit: 1)).Rows[0].RunId;
        var show = OutputFixture.Validate(CliHarness.Run("runs", "show", id[..12], "--format", "json", "--store", db).Out, "run");
        Assert.Empty(show["tags"]!.AsObject());
        Assert.Empty(show["notes"]!.AsArray());
        Assert.Equal((4, false), Schema(db));   // reading wrote nothing

        Assert.Equal(0, CliHarness.Run("runs", "note", id[..12], "first", "--store", db).ExitCode);
        Assert.Equal((5, true), Schema(db));
        Assert.Equal(0, CliHarness.Run("runs", "note", id[..12], "second", "--store", db).ExitCode);
        CliHarness.AssertOneLineError(CliHarness.Run("runs", "untag", id[..12], "reviewed", "--store", db), "no tag 'reviewed'", "untag of a tag never set");
        using (var store = RunStore.OpenExisting(db))
            Assert.Equal(new[] { (1, "first"), (2, "second") }, store.Notes(id).Select(n => (n.Position, n.Text)));
    }

    // ---- the commands that print results: train, optics, llc ----

    [Fact]
    public void ResultCommandsWriteTheirDocuments()
    {
        string subset = Aperture.Data.FashionMnist.FindBuiltInSubset() ?? throw new InvalidOperationException("the built-in Fashion-MNIST subset is missing");
        var train = CliHarness.Run("train", "--data-dir", subset, "--epochs", "1", "--batch-size", "256", "--json", "-");
        Assert.True(train.ExitCode == 0, train.All);
        var t = OutputFixture.Validate(train.Out, "train");
        Assert.Single(t["history"]!.AsArray());
        Assert.Equal(RunStore.CodeVersion, (string?)t["code"]!["version"]);

        var optics = CliHarness.Run("optics", "--sw2", "2.5", "--sb2", "0.05", "--depth", "4", "--measure", "--width", "32", "--seeds", "2",
            "--pairs", "2", "--lanczos-steps", "4", "--json", "-");
        Assert.True(optics.ExitCode == 0, optics.All);
        Assert.Equal(4, OutputFixture.Validate(optics.Out, "optics")["measured"]!["layers"]!.AsArray().Count);
        var predictionOnly = CliHarness.Run("optics", "--activation", "relu", "--sw2", "2", "--depth", "3", "--json", "-");
        Assert.Null(OutputFixture.Validate(predictionOnly.Out, "optics")["measured"]);

        var llc = CliHarness.Run("llc", "--dln", "3,2,3", "--rank", "1", "--n", "300", "--seeds", "2", "--chains", "2", "--burn-in", "50", "--draws", "60", "--json");
        Assert.True(llc.ExitCode == 0, llc.All);
        var llcDoc = OutputFixture.Validate(llc.Out, "llc");
        Assert.Equal(2, llcDoc["seeds"]!.AsArray().Count);
        Assert.Equal(2, (int)llcDoc["aoyagi_case"]!["ell"]!);
        var crossing = CliHarness.Run("llc", "--normal-crossing", "1,2", "--n", "300", "--nbeta", "50", "--seeds", "1", "--chains", "1", "--burn-in", "10", "--draws", "20", "--json");
        Assert.True(crossing.ExitCode == 0, crossing.All);
        Assert.NotNull(OutputFixture.Validate(crossing.Out, "llc")["lambda_tempered"]);
    }

    // ---- store copy and words: their documents ----

    [Fact]
    public void StoreCopyJsonValidatesAndASecondCopyCopiesNothing()
    {
        string target = fixture.At("copy-" + Guid.NewGuid().ToString("N")[..8] + ".db");
        int runs, verdicts;
        using (var store = RunStore.OpenExisting(fixture.Store))
        {
            runs = store.QueryRuns(new RunQuery(Status: RunStatus.Finished, Limit: 0)).Total;
            verdicts = store.VerdictHistory(null).Count;
        }
        Assert.True(runs > 0 && verdicts >= 4);
        var first = CliHarness.Run("store", "copy", fixture.Store, target, "--json", "-");
        Assert.True(first.ExitCode == 0, first.All);
        var doc = OutputFixture.Validate(first.Out, "store-copy");
        Assert.Equal(runs, (int)doc["runs_copied"]!);
        Assert.Equal(verdicts, (int)doc["verdicts_copied"]!);
        Assert.True((long)doc["metrics"]! > 0);
        Assert.Equal(Path.GetFullPath(target), Path.GetFullPath((string)doc["to"]!));
        Assert.Contains("already there", first.Err);   // the table went to standard error

        string file = fixture.At("copy.json");
        var second = CliHarness.Run("store", "copy", fixture.Store, target, "--json", file);
        Assert.True(second.ExitCode == 0, second.All);
        var again = OutputFixture.Validate(File.ReadAllText(file), "store-copy");
        Assert.Equal(0, (int)again["runs_copied"]!);
        Assert.Equal(runs, (int)again["runs_present"]!);
        Assert.Equal(verdicts, (int)again["verdicts_present"]!);
        // Redirected, the counts are a Markdown table, one row per line.
        Assert.Contains("| runs | 0 | " + runs + " |", second.Out);
    }

    [Fact]
    public void WordsDocumentsValidate()
    {
        string vectors = fixture.At("words-" + Guid.NewGuid().ToString("N")[..8] + ".safetensors");
        var train = CliHarness.Run("words", "train", "--corpus", "planted", "--dim", "24", "--epochs", "3", "--seed", "3", "--threads", "2",
            "--out", vectors, "--json", "-");
        Assert.True(train.ExitCode == 0, train.All);
        var t = OutputFixture.Validate(train.Out, "words-train");
        Assert.Equal(24, (int)t["settings"]!["dim"]!);
        Assert.Equal(1, (int)t["settings"]!["min_count"]!);   // the planted corpus keeps every word
        Assert.Equal(Path.GetFullPath(vectors), (string?)t["vectors"]);
        var methods = t["analogies"]!.AsArray().Select(a => (string)a!["method"]!).ToList();
        Assert.Equal(["3cosadd", "3cosmul", "nearest-of-b", "nearest-of-c"], methods);
        Assert.Null(t["similarity"]);
        Assert.NotNull((string?)t["similarity_note"]);

        var near = CliHarness.Run("words", "neighbours", "wbbbba", "--vectors", vectors, "--top", "3", "--json", "-");
        Assert.True(near.ExitCode == 0, near.All);
        var n = OutputFixture.Validate(near.Out, "words-neighbours");
        Assert.Equal([1, 2, 3], n["neighbours"]!.AsArray().Select(x => (int)x!["rank"]!));
        var scores = n["neighbours"]!.AsArray().Select(x => (double)x!["score"]!).ToList();
        Assert.Equal(scores.OrderDescending(), scores);

        string file = fixture.At("analogy.json");
        var analogy = CliHarness.Run("words", "analogy", "wbbbba", "wbbbbe", "wbbbca", "--vectors", vectors, "--method", "3cosmul", "--json", file);
        Assert.True(analogy.ExitCode == 0, analogy.All);
        Assert.Contains("| wbbbba is to wbbbbe as wbbbca is to | score |", analogy.Out);   // the human table, redirected: Markdown
        var a = OutputFixture.Validate(File.ReadAllText(file), "words-analogy");
        Assert.Equal("3cosmul", (string?)a["method"]);
        Assert.Equal("wbbbce", (string?)a["answers"]![0]!["word"]);
    }
}

/// <summary>The live display at a terminal's width: nothing wraps at 80 columns.</summary>
public sealed partial class ProgressTests
{
    [Fact]
    public void LiveProgressFitsEightyColumns()
    {
        string? columns = Environment.GetEnvironmentVariable("COLUMNS");
        string dir = Path.Combine(Path.GetTempPath(), "aperture-cli-progress-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        try
        {
            Environment.SetEnvironmentVariable("COLUMNS", "80");
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = Cli.Run([.. OutputFixture.Sweep, "--store", Path.Combine(dir, "p.db")], stdout, stderr, interactive: true, CancellationToken.None);
            Assert.True(code == 0, stdout + "\n" + stderr);
            // Every line the terminal would show, after cursor movement and colour are taken out.
            var lines = Ansi().Replace(stdout.ToString(), "").Split(['\n', '\r'], StringSplitOptions.RemoveEmptyEntries);
            var progress = lines.Where(l => l.Contains('%')).ToList();
            Assert.NotEmpty(progress);
            Assert.All(progress, l => Assert.True(l.TrimEnd().Length <= 80, $"a progress line of {l.TrimEnd().Length} columns: '{l}'"));
            // Each phenomenon's verdict was shown as it finished, cut to the width.
            foreach (var id in new[] { "momentum-acceleration", "adam-beta2-rounding" })
                Assert.Contains(lines, l => l.Contains($" {id}: ", StringComparison.Ordinal) && l.TrimEnd().Length <= 80);
        }
        finally
        {
            Environment.SetEnvironmentVariable("COLUMNS", columns);
            Directory.Delete(dir, recursive: true);
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\e\[[0-9;?]*[A-Za-z]|\e\][^\a]*\a")]
    private static partial System.Text.RegularExpressions.Regex Ansi();
}
