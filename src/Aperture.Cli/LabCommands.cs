using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Lab;
using Aperture.Lab.Store;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary><c>aperture lab list | show | run</c>.</summary>
internal static partial class LabCommands
{
    public static Command Create(Option<string?> store)
    {
        var lab = new Command("lab", "The phenomena lab: list phenomena, show their protocols, run them.");
        lab.Subcommands.Add(List());
        lab.Subcommands.Add(Show());
        lab.Subcommands.Add(Run(store));
        lab.Subcommands.Add(Rules(store));
        lab.Subcommands.Add(Worker(store));
        lab.Subcommands.Add(Status(store));
        lab.Subcommands.Add(Cancel(store));
        return lab;
    }

    private static Command List()
    {
        var cmd = new Command("list", "List the phenomena in the catalogue.");
        cmd.SetAction(_ => Terminal.Guard(() =>
        {
            var table = new Table().AddColumns("id", "arms", "quick seeds", "claim");
            foreach (var p in Catalogue.All)
            {
                var q = p.Defaults(Tier.Quick);
                table.AddRow(Markup.Escape(p.Id), Markup.Escape(string.Join(", ", p.ArmsFor(q))), q.Seeds.ToString(CultureInfo.InvariantCulture), Markup.Escape(p.Claim));
            }
            Terminal.Console.Write(table);
            return 0;
        }));
        return cmd;
    }

    private static Command Show()
    {
        var id = new Argument<string>("id") { Description = "the phenomenon's id" };
        var tier = TierOption();
        var cmd = new Command("show", "Show a phenomenon: claim, method, sources, and its protocol's settings (for --set).") { id, tier };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            var p = Terminal.Phenomenon(r.GetValue(id)!);
            var t = ParseTier(r.GetValue(tier));
            Terminal.Console.MarkupLineInterpolated($"[bold]{p.Title}[/] ({p.Id})");
            Terminal.Console.MarkupLineInterpolated($"[bold]Claim:[/] {p.Claim}");
            Terminal.Console.MarkupLineInterpolated($"[bold]Method:[/] {p.Method}");
            foreach (var s in p.Sources) Terminal.Console.MarkupLineInterpolated($"  source: {s.Citation}{(s.ArXiv is null ? "" : ", arXiv:" + s.ArXiv)}");
            var table = new Table().AddColumns("setting", "type", $"{t.ToString().ToLowerInvariant()} default", "meaning");
            foreach (var s in ProtocolBinding.Settings(p.Defaults(t)))
                table.AddRow(Markup.Escape(s.Key + (s.IsThreshold ? " (threshold)" : "")), Markup.Escape(s.Type), Markup.Escape(s.Value), Markup.Escape(s.Description));
            Terminal.Console.Write(table);
            return 0;
        }));
        return cmd;
    }

    private static Command Rules(Option<string?> store)
    {
        var sims = new Option<int>("--simulations") { Description = "simulated experiments per scenario", DefaultValueFactory = _ => 2000 };
        var cmd = new Command("rules", "Simulate each phenomenon's verdict rule (its latest stored verdict: estimators, seeds, regions, Holm) under no effect and under the claimed effect, and print how often it gives each wrong verdict.") { sims };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            int n = r.GetValue(sims);
            if (n < 10) throw new LabConfigException($"--simulations must be at least 10, found {n}");
            using var s = Terminal.OpenExistingStore(r.GetValue(store));
            var latest = s.LatestVerdicts();
            var table = new Table().AddColumns("phenomenon", "checks", "seeds", "false held", "false did not hold", "estimators");
            foreach (var p in Catalogue.All)
            {
                if (!latest.TryGetValue(p.Id, out var v)) { table.AddRow(Markup.Escape(p.Id), "not run", "", "", "", ""); continue; }
                var rates = RuleSimulation.Simulate(v.Verdict, v.Seeds, n);
                table.AddRow(Markup.Escape(p.Id), $"{rates.Checks}" + (rates.Skipped > 0 ? $" (+{rates.Skipped} not simulable)" : ""),
                    rates.Seeds.ToString(CultureInfo.InvariantCulture), Rate(rates.FalseHeld), Rate(rates.FalseDidNotHold),
                    Markup.Escape(string.Join(", ", v.Verdict.Checks.Select(c => c.Estimate.Kind.ToString()).Distinct())));
            }
            Terminal.Console.Write(table);
            Terminal.Console.MarkupLineInterpolated($"{n} simulated experiments per scenario; Monte Carlo standard error at 5% ≈ {Math.Sqrt(0.05 * 0.95 / n):F3}");
            return 0;
        }));
        return cmd;
    }

    private static string Rate(double r) => double.IsNaN(r) ? "—" : r.ToString("F3", CultureInfo.InvariantCulture);

    private static Command Run(Option<string?> store)
    {
        var ids = new Argument<string[]>("id") { Description = "phenomena to run (see `aperture lab list`)", Arity = ArgumentArity.ZeroOrMore };
        var all = new Option<bool>("--all") { Description = "run every phenomenon in the catalogue" };
        var tier = TierOption();
        var seeds = new Option<int?>("--seeds") { Description = "seeds per arm in each block (overrides the tier's default)" };
        var seedBase = new Option<int?>("--seed-base")
        {
            Description = "first seed of the discovery block: runs use seeds B … B+N−1, and the replication block B+N … B+2N−1 (default 0)",
        };
        var noReplication = new Option<bool>("--no-replication") { Description = "judge the discovery block only (no independent replication block)" };
        var dataDir = new Option<string?>("--data-dir") { Description = "a directory holding Fashion-MNIST's IDX files (default: Debian's dataset-fashion-mnist, else the shipped subset)" };
        var set = new Option<string[]>("--set")
        {
            Description = "override a protocol setting: key=value, or id.key=value for one phenomenon (see `aperture lab show ID`); " +
                          "several values sweep it (key=v1,v2,v3, key=log:1e-3..1e-1:5, key=lin:0..1:5, key=int:1..8; for a list setting, lists " +
                          "separated by ';'), and several swept settings give every combination",
            AllowMultipleArgumentsPerToken = false,
        };
        var json = new Option<string?>("--json") { Description = "also write the results as JSON to this file (one record per phenomenon, both blocks, with provenance; - for standard output)" };
        var sweep = new SweepOptions();
        var cmd = new Command("run", "Run phenomena: every arm × seed of a discovery block and an independent replication block not already finished in the store, then judge each block's verdict from the stored runs. " +
                                     "Several values of a setting (or --sweep FILE) make a sweep: every grid point planned, run and judged the same way, here or on a cluster (--executor).")
        {
            ids, all, tier, seeds, seedBase, noReplication, dataDir, set, json,
        };
        sweep.AddTo(cmd);
        cmd.SetAction((r, cancel) => Task.FromResult(Terminal.Guard(() =>
        {
            if (r.GetValue(all) && r.GetValue(ids) is { Length: > 0 }) throw new CommandLineException("give phenomenon ids or --all, not both");
            var chosen = r.GetValue(all) ? Catalogue.All : (r.GetValue(ids) ?? []).Select(Terminal.Phenomenon).ToList();
            if (chosen.Count == 0 && r.GetValue(sweep.File) is null) throw new CommandLineException("name at least one phenomenon, or pass --all (see `aperture lab list`)");
            if (chosen.Select(p => p.Id).Distinct().Count() != chosen.Count) throw new CommandLineException("a phenomenon is named twice");
            var t = ParseTier(r.GetValue(tier));
            var overrides = SplitOverrides(r.GetValue(set) ?? [], chosen, t);
            if (sweep.Requested(r, chosen, t, overrides))
                return RunSweep(r, store, sweep, chosen, t, overrides, r.GetValue(tier) is not null && r.GetResult(tier) is { Implicit: false },
                    r.GetValue(seeds), r.GetValue(seedBase), !r.GetValue(noReplication), r.GetValue(dataDir), r.GetValue(json), cancel);
            var protocols = chosen.Select(p => (P: p, Protocol: LabRunner.Resolve(p, t, overrides[p.Id], r.GetValue(seeds), r.GetValue(seedBase)))).ToList();
            bool replicate = !r.GetValue(noReplication);
            // Every path is checked before anything runs: a sweep must not end in an unwritable --json.
            Terminal.CheckDataDirectory(r.GetValue(dataDir));
            string? jsonPath = r.GetValue(json) is { } j ? Terminal.CheckOutputFile(j, "--json", allowStdout: true) : null;
            bool jsonToStdout = r.GetValue(json) == "-";
            if (jsonToStdout) Terminal.HumanOutputToStandardError();

            // The data too is read before the store is opened: a broken --data-dir leaves no new store behind.
            var data = new LabDataSource(r.GetValue(dataDir));
            foreach (var (p, protocol) in protocols) data.Resolve(p.DataFor(protocol, t));

            using var runStore = Terminal.OpenStore(r.GetValue(store));
            Terminal.Console.MarkupLineInterpolated($"run store: [blue]{runStore.Path}[/]");
            if (runStore.UpgradedFrom is { } old)
                Terminal.Console.MarkupLineInterpolated($"upgraded the run store from schema version {old} to the current one (runs are now held under leases)");
            var runner = new LabRunner(runStore, data);
            // Plan every phenomenon first: a full tier without the full dataset stops here, before anything runs.
            foreach (var (p, protocol) in protocols) runner.Plan(p, t, protocol);
            var outcomes = new List<ReplicatedOutcome>();
            Terminal.Console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(),
                         new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var tasks = protocols.ToDictionary(x => x.P.Id, x => ctx.AddTask(Markup.Escape(x.P.Id), autoStart: false, maxValue: 1));
                    foreach (var (p, protocol) in protocols)
                    {
                        var task = tasks[p.Id];
                        task.StartTask();
                        var progress = new Reporter(e =>
                        {
                            task.Value = e.Overall;
                            task.Description = Markup.Escape($"{p.Id} [{e.Arm} seed {e.Seed}, run {e.RunIndex + 1}/{e.RunCount}]");
                        });
                        var outcome = runner.RunReplicated(p, t, protocol, replicate, progress, cancel);
                        task.Value = 1;
                        task.Description = Markup.Escape(p.Id);
                        task.StopTask();
                        outcomes.Add(outcome);
                    }
                });
            PrintOutcomes(outcomes);
            if (jsonToStdout) Terminal.Out.Write(OutcomesJson(outcomes));
            else if (jsonPath is not null) Terminal.WriteAtomically(jsonPath, OutcomesJson(outcomes));
            return 0;
        })));
        return cmd;
    }

    private static void PrintOutcomes(IReadOnlyList<ReplicatedOutcome> outcomes)
    {
        var table = new Table().AddColumns("phenomenon", "discovery", "replication", "effect [[95% CI]] (discovery)", "seeds", "tier", "runs (new/reused)", "seconds");
        foreach (var o in outcomes)
        {
            var d = o.Discovery;
            var rep = o.Replication;
            string Cell(PhenomenonOutcome x) => $"[{Terminal.Colour(x.Verdict.Outcome)}]{Markup.Escape(x.Verdict.Outcome.Text())}[/]" +
                                                (x.Verdict.SeedsToDecide is { } n ? Markup.Escape($" (≈{n} seeds to decide)") : "");
            table.AddRow(
                Markup.Escape(o.Id),
                Cell(d),
                rep is null ? "—" : Cell(rep) + (o.Replicated == true ? " [green]✓[/]" : " [red]✗[/]"),
                Markup.Escape($"{d.Verdict.Effect.Name}: {d.Verdict.Effect.Format()}"),
                Markup.Escape(rep is null ? $"{d.SeedBase}–{d.SeedBase + d.Seeds - 1}" : $"{d.SeedBase}–{d.SeedBase + d.Seeds - 1} | {rep.SeedBase}–{rep.SeedBase + rep.Seeds - 1}"),
                Markup.Escape(d.Tier.ToString().ToLowerInvariant() + (d.Overrides.Any(k => k.Key is not ("seeds" or "seed_base")) ? " (modified)" : "")),
                $"{d.RunsExecuted + (rep?.RunsExecuted ?? 0)}/{d.RunsReused + (rep?.RunsReused ?? 0)}",
                (d.Seconds + (rep?.Seconds ?? 0)).ToString("F1", CultureInfo.InvariantCulture));
        }
        Terminal.Console.Write(table);
        var data = outcomes.Select(o => o.Discovery.DataSource).Distinct().ToList();
        Terminal.Console.MarkupLineInterpolated($"[grey]data:[/] {string.Join("; ", data)}");
        Terminal.Console.MarkupLineInterpolated($"[grey]code:[/] Aperture {Aperture.Lab.Store.RunStore.CodeVersion} on {Environment.MachineName}");
        foreach (var o in outcomes) Terminal.Console.MarkupLineInterpolated($"[grey]reproduce:[/] {ReproduceCommand(o.Discovery.Reproduction)}");
    }

    /// <summary>The version of the --json record layout; bump it when a field changes meaning or is removed.</summary>
    public const int JsonSchemaVersion = 2;

    private static string OutcomesJson(IReadOnlyList<ReplicatedOutcome> outcomes)
    {
        static JsonNode? Num(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;
        static JsonObject EstimateJson(Estimate e) => new()
        {
            ["name"] = e.Name,
            ["value"] = Num(e.Value),
            ["ci_low"] = Num(e.Low),
            ["ci_high"] = Num(e.High),
            ["n"] = e.N,
            ["method"] = e.Method,
        };
        static JsonObject Block(PhenomenonOutcome o)
        {
            var checks = new JsonArray();
            foreach (var c in o.Verdict.Checks)
            {
                var node = EstimateJson(c.Estimate);
                node["supports"] = c.Band;
                node["contradicts"] = c.ContradictingBand;
                node["outcome"] = c.Outcome.Text();
                node["degenerate"] = c.Degenerate;
                node["reason"] = c.Reason;
                checks.Add(node);
            }
            var overrides = new JsonObject();
            foreach (var (k, v) in o.Overrides) overrides[k] = v;
            return new JsonObject
            {
                ["verdict"] = o.Verdict.Outcome.Text(),
                ["seeds_to_decide"] = o.Verdict.SeedsToDecide,
                ["seed_base"] = o.SeedBase,
                ["seeds"] = o.Seeds,
                ["effect"] = EstimateJson(o.Verdict.Effect),
                ["checks"] = checks,
                ["overrides"] = overrides,
                ["runs_new"] = o.RunsExecuted,
                ["runs_reused"] = o.RunsReused,
                ["run_ids"] = new JsonArray([.. o.RunIds.Select(id => (JsonNode)JsonValue.Create(id)!)]),
                ["verdict_id"] = o.VerdictId,
                ["seconds"] = Math.Round(o.Seconds, 3),
                ["command"] = ReproduceCommand(o.Reproduction),
            };
        }
        var array = new JsonArray();
        foreach (var o in outcomes)
            array.Add(new JsonObject
            {
                ["id"] = o.Id,
                ["tier"] = o.Discovery.Tier.ToString().ToLowerInvariant(),
                ["verdict"] = o.Discovery.Verdict.Outcome.Text(),
                ["replicated"] = o.Replicated,
                ["summary"] = o.Summary,
                ["protocol_version"] = o.Discovery.ProtocolVersion,
                ["data"] = new JsonObject { ["source"] = o.Discovery.DataSource, ["sha256"] = o.Discovery.DataFingerprint },
                ["code_version"] = o.Discovery.CodeVersion,
                ["host"] = o.Discovery.Host,
                ["discovery"] = Block(o.Discovery),
                ["replication"] = o.Replication is null ? null : Block(o.Replication),
            });
        return new JsonObject { ["schema_version"] = JsonSchemaVersion, ["results"] = array }
            .ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }

    /// <summary>The <c>aperture</c> command line that reproduces a verdict.</summary>
    public static string ReproduceCommand(Reproduction r)
    {
        var parts = new List<string> { "./aperture lab run", r.Id, "--tier", r.Tier == Tier.Full ? "full" : "quick", "--seeds", r.Seeds.ToString(CultureInfo.InvariantCulture) };
        if (r.SeedBase != 0) parts.AddRange(["--seed-base", r.SeedBase.ToString(CultureInfo.InvariantCulture)]);
        foreach (var (k, v) in r.Overrides)
            if (k is not ("seeds" or "seed_base")) parts.Add($"--set {k}={v}");
        return string.Join(' ', parts);
    }

    // "key=value" applies to every chosen phenomenon (each must have the key); "id.key=value" to one.
    // An unknown key is named with the closest setting the phenomenon has, before anything runs.
    private static Dictionary<string, List<KeyValuePair<string, string>>> SplitOverrides(string[] sets, IReadOnlyList<Phenomenon> chosen, Tier tier)
    {
        var result = chosen.ToDictionary(p => p.Id, _ => new List<KeyValuePair<string, string>>());
        foreach (var s in sets)
        {
            int eq = s.IndexOf('=');
            if (eq <= 0) throw new CommandLineException($"--set expects key=value or id.key=value, found '{s}'");
            string key = s[..eq].Trim(), value = s[(eq + 1)..];
            var target = chosen.FirstOrDefault(p => key.StartsWith(p.Id + ".", StringComparison.Ordinal));
            if (target is null && key.Contains('.'))
            {
                string id = key[..key.IndexOf('.')];
                throw new CommandLineException(Catalogue.All.Any(p => p.Id == id)
                    ? $"--set {key}: '{id}' is not among the phenomena being run ({string.Join(", ", chosen.Select(p => p.Id))})"
                    : $"--set {key}: no phenomenon '{id}'{Terminal.DidYouMean(id, chosen.Select(p => p.Id))}");
            }
            foreach (var p in target is null ? chosen : [target])
            {
                string setting = target is null ? key : key[(target.Id.Length + 1)..];
                var known = ProtocolBinding.Settings(p.Defaults(tier)).Select(x => x.Key).ToList();
                string normal = setting.Trim().Replace('-', '_').ToLowerInvariant();
                if (!known.Contains(normal))
                    throw new CommandLineException($"--set {s}: {p.Id} has no setting '{setting}'{Terminal.DidYouMean(normal, known)} (see `aperture lab show {p.Id}`)");
                result[p.Id].Add(KeyValuePair.Create(setting, value));
            }
        }
        return result;
    }

    private static Option<string> TierOption() => new Option<string>("--tier")
    {
        Description = "quick (about a minute on 2 cores) or full (the literature's scale, as far as a CPU allows)",
        DefaultValueFactory = _ => "quick",
    }.AcceptOnlyFromAmong("quick", "full");

    private static Tier ParseTier(string? s) => s == "full" ? Tier.Full : Tier.Quick;

    private sealed class Reporter(Action<LabProgress> report) : IProgress<LabProgress>
    {
        public void Report(LabProgress value) => report(value);
    }
}
