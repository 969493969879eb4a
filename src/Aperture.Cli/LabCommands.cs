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
        lab.Subcommands.Add(TagSweep(store));
        lab.Subcommands.Add(UntagSweep(store));
        return lab;
    }

    private static Command List()
    {
        var format = Output.FormatOption();
        var json = Output.JsonOption(Documents.LabList);
        var cmd = new Command("list", "List the phenomena in the catalogue.") { format, json };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            var output = CommandOutput.Begin(r, format, json);
            var listing = new Listing("id", "arms", "quick seeds", "claim");
            foreach (var p in Catalogue.All)
            {
                var q = p.Defaults(Tier.Quick);
                listing.Add(p.Id, string.Join(", ", p.ArmsFor(q).Select(a => a.Name)), q.Seeds.ToString(CultureInfo.InvariantCulture), p.Claim);
            }
            output.Write(listing);
            output.Json(Documents.LabListDocument);
            return 0;
        }));
        return cmd;
    }

    private static Command Show()
    {
        var id = new Argument<string>("id") { Description = "the phenomenon's id" };
        var tier = TierOption();
        var format = Output.FormatOption();
        var json = Output.JsonOption(Documents.LabShow);
        var cmd = new Command("show", "Show a phenomenon: claim, method, sources, and its protocol's settings (for --set).") { id, tier, format, json };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            var p = Terminal.Phenomenon(r.GetValue(id)!);
            var t = ParseTier(r.GetValue(tier));
            var output = CommandOutput.Begin(r, format, json);
            output.Note($"{p.Title} ({p.Id})");
            output.Note($"Claim: {p.Claim}");
            output.Note($"Method: {p.Method}");
            foreach (var s in p.Sources) output.Note($"  source: {s.Citation}{(s.ArXiv is null ? "" : ", arXiv:" + s.ArXiv)}");
            var listing = new Listing("setting", "type", $"{t.ToString().ToLowerInvariant()} default", "meaning");
            foreach (var s in ProtocolBinding.Settings(p.Defaults(t)))
                listing.Add(s.Key + (s.IsThreshold ? " (threshold)" : ""), s.Type, s.Value, s.Description);
            output.Write(listing);
            output.Json(() => Documents.LabShowDocument(p, t));
            return 0;
        }));
        return cmd;
    }

    private static Command Rules(Option<string?> store)
    {
        var sims = new Option<int>("--simulations") { Description = "simulated experiments per scenario", DefaultValueFactory = _ => 2000 };
        var format = Output.FormatOption();
        var json = Output.JsonOption(Documents.LabRules);
        var cmd = new Command("rules", "Simulate each phenomenon's verdict rule (its latest stored verdict: estimators, seeds, regions, Holm) under no effect and under the claimed effect, and print how often it gives each wrong verdict.") { sims, format, json };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            int n = r.GetValue(sims);
            if (n < 10) throw new LabConfigException($"--simulations must be at least 10, found {n}");
            var output = CommandOutput.Begin(r, format, json);
            using var s = Terminal.OpenExistingStore(r.GetValue(store));
            var latest = s.LatestVerdicts();
            var listing = new Listing("phenomenon", "checks", "seeds", "false held", "false did not hold", "estimators");
            var rules = new System.Text.Json.Nodes.JsonArray();
            foreach (var p in Catalogue.All)
            {
                if (!latest.TryGetValue(p.Id, out var v)) { listing.Add(p.Id, "not run", "", "", "", ""); continue; }
                var rates = RuleSimulation.Simulate(v.Verdict, v.Seeds, n);
                listing.Add(p.Id, $"{rates.Checks}" + (rates.Skipped > 0 ? $" (+{rates.Skipped} not simulable)" : ""),
                    rates.Seeds.ToString(CultureInfo.InvariantCulture), Rate(rates.FalseHeld), Rate(rates.FalseDidNotHold),
                    string.Join(", ", v.Verdict.Checks.Select(c => c.Estimate.Kind.ToString()).Distinct()));
                rules.Add(new JsonObject
                {
                    ["phenomenon"] = p.Id, ["verdict_id"] = v.Id, ["checks"] = rates.Checks, ["not_simulable"] = rates.Skipped, ["seeds"] = rates.Seeds,
                    ["false_held"] = Output.Num(rates.FalseHeld), ["false_did_not_hold"] = Output.Num(rates.FalseDidNotHold),
                });
            }
            output.Write(listing);
            output.Note($"{n} simulated experiments per scenario; Monte Carlo standard error at 5% ~ {Math.Sqrt(0.05 * 0.95 / n):F3}");
            output.Json(() => new JsonObject { ["schema"] = Documents.LabRules, ["simulations"] = n, ["rules"] = rules });
            return 0;
        }));
        return cmd;
    }

    private static string Rate(double r) => double.IsNaN(r) ? "-" : r.ToString("F3", CultureInfo.InvariantCulture);

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
        var format = Output.FormatOption();
        var json = Output.JsonOption(Documents.LabRun);
        var sweep = new SweepOptions();
        var cmd = new Command("run", "Run phenomena: every arm × seed of a discovery block and an independent replication block not already finished in the store, then judge each block's verdict from the stored runs. " +
                                     "Several values of a setting (or --sweep FILE) make a sweep: every grid point planned, run and judged the same way, here or on a cluster (--executor).")
        {
            ids, all, tier, seeds, seedBase, noReplication, dataDir, set, format, json,
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
                    r.GetValue(seeds), r.GetValue(seedBase), !r.GetValue(noReplication), r.GetValue(dataDir), format, json, cancel);
            var protocols = chosen.Select(p => (P: p, Protocol: LabRunner.Resolve(p, t, overrides[p.Id], r.GetValue(seeds), r.GetValue(seedBase)))).ToList();
            bool replicate = !r.GetValue(noReplication);
            // Every path is checked before anything runs: a sweep must not end in an unwritable --json.
            Terminal.CheckDataDirectory(r.GetValue(dataDir));
            var output = CommandOutput.Begin(r, format, json);

            // The data too is read before the store is opened: a broken --data-dir leaves no new store behind. With --all,
            // a phenomenon whose Debian corpus is not installed is skipped (its package named) and the others run, so a
            // user who cannot install packages still gets the main job; one named on its own stops here instead.
            var data = new LabDataSource(r.GetValue(dataDir));
            var skipped = new List<(string Id, string Reason)>();
            foreach (var (p, protocol) in protocols.ToList())
            {
                try
                {
                    data.Resolve(p.DataFor(protocol, t));
                }
                catch (LabDataUnavailableException e) when (r.GetValue(all))
                {
                    skipped.Add((p.Id, e.Message));
                    protocols.RemoveAll(x => x.P.Id == p.Id);
                }
            }
            if (protocols.Count == 0)
                throw new LabConfigException($"no phenomenon can run: {string.Join("; ", skipped.Select(x => $"{x.Id}: {x.Reason}"))}");
            foreach (var (id, reason) in skipped) output.Note(SkippedLine(id, reason));

            using var runStore = Terminal.OpenStore(r.GetValue(store));
            output.Note($"run store: {runStore.Path}");
            if (runStore.UpgradedFrom is { } old)
                output.Note($"upgraded the run store from schema version {old} to the current one (runs are now held under leases)");
            var runner = new LabRunner(runStore, data);
            // Plan every phenomenon first: a full tier without the full dataset stops here, before anything runs.
            foreach (var (p, protocol) in protocols) runner.Plan(p, t, protocol);
            int blocks = replicate ? 2 : 1;
            IReadOnlyList<ReplicatedOutcome> outcomes;
            if (Terminal.Interactive)
                outcomes = RunWithProgress(protocols, runner, t, replicate, blocks, cancel);
            else
            {
                // No live display where nobody watches: one line per phenomenon as its verdict is known. Runs of several
                // phenomena execute at once, so events come from several threads.
                var judged = protocols.ToDictionary(x => x.P.Id, _ => new List<PhenomenonOutcome>());
                var gate = new Lock();
                var reporter = new Reporter(e =>
                {
                    if (e is not { Kind: LabProgressKind.Judged, Outcome: { } o }) return;
                    lock (gate)
                        if (Add(judged[e.Phenomenon], o, blocks) is { } done) output.Note(VerdictLine(done));
                });
                outcomes = runner.RunReplicated([.. protocols.Select(x => (x.P, x.Protocol))], t, replicate, progress: reporter, cancellation: cancel);
            }
            PrintOutcomes(output, outcomes);
            // Said again under the table, where a reader of the log looks for what ran.
            foreach (var (id, reason) in skipped) output.Note(SkippedLine(id, reason));
            output.Json(() => Documents.LabRunDocument(runStore.Path, outcomes, skipped));
            return 0;
        })));
        return cmd;
    }

    private static string SkippedLine(string id, string reason) => $"skipped {id}, its data is not on this machine: {reason}";

    // Collects a phenomenon's judged blocks, in whichever order they are judged; returns the whole outcome once its last
    // block is judged (the discovery block is the one with the lower seed base).
    private static ReplicatedOutcome? Add(List<PhenomenonOutcome> judged, PhenomenonOutcome o, int blocks)
    {
        judged.Add(o);
        if (judged.Count != blocks) return null;
        var ordered = judged.OrderBy(x => x.SeedBase).ToList();
        return new ReplicatedOutcome(ordered[0], blocks > 1 ? ordered[1] : null);
    }

    // A live display for a person at a terminal: one bar per phenomenon, each line fitted to the terminal's width so
    // nothing wraps (at 80 columns too), and each phenomenon's verdict printed above the bars as soon as it is judged.
    // Runs of several phenomena (and both blocks of one) execute at once: a bar shows its phenomenon's finished runs
    // plus the fractions of those in progress, and events, which come from several threads, are handled one at a time.
    private static IReadOnlyList<ReplicatedOutcome> RunWithProgress(List<(Phenomenon P, LabProtocol Protocol)> protocols, LabRunner runner, Tier t,
        bool replicate, int blocks, CancellationToken cancel)
    {
        int width = Terminal.Console.Profile.Width;
        bool narrow = width < 70;
        // Fixed columns: percentage (4), elapsed and remaining (8 each), spinner (1), and a space between columns.
        int fixedColumns = 4 + 8 + (narrow ? 0 : 8 + 1) + (narrow ? 3 : 5);
        int bar = Math.Clamp(width / 5, 8, 40);
        int description = Math.Max(10, width - fixedColumns - bar - 1);
        var columns = new List<ProgressColumn>
        {
            new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = bar }, new PercentageColumn(), new ElapsedTimeColumn(),
        };
        if (!narrow) columns.AddRange([new RemainingTimeColumn(), new SpinnerColumn()]);
        IReadOnlyList<ReplicatedOutcome> outcomes = [];
        Terminal.Console.Progress()
            .AutoClear(false)
            .Columns([.. columns])
            .Start(ctx =>
            {
                var tasks = protocols.ToDictionary(x => x.P.Id, x => ctx.AddTask(Markup.Escape(Fit(x.P.Id, description)), autoStart: false, maxValue: 1));
                var judged = protocols.ToDictionary(x => x.P.Id, _ => new List<PhenomenonOutcome>());
                // Per phenomenon: runs finished (or reused), and the fraction of each run in progress, keyed by its seed (which names
                // the block) and its index in the block.
                var finished = protocols.ToDictionary(x => x.P.Id, _ => 0);
                var running = protocols.ToDictionary(x => x.P.Id, _ => new Dictionary<(int Seed, int Run), double>());
                var gate = new Lock();
                var progress = new Reporter(e =>
                {
                    lock (gate)
                    {
                        var task = tasks[e.Phenomenon];
                        if (e is { Kind: LabProgressKind.Judged, Outcome: { } o })
                        {
                            if (Add(judged[e.Phenomenon], o, blocks) is { } done)
                            {
                                task.Value = 1;
                                task.Description = Markup.Escape(Fit(e.Phenomenon, description));
                                task.StopTask();
                                Terminal.Console.MarkupLine(VerdictMarkup(done, width));
                            }
                            return;
                        }
                        if (!task.IsStarted) task.StartTask();
                        var key = (e.Seed, e.RunIndex);
                        if (e.Kind is LabProgressKind.Finished or LabProgressKind.Reused)
                        {
                            running[e.Phenomenon].Remove(key);
                            finished[e.Phenomenon]++;
                        }
                        else
                            running[e.Phenomenon][key] = e.Fraction;
                        // Both blocks of a phenomenon have the same number of runs.
                        task.Value = Math.Min(1, (finished[e.Phenomenon] + running[e.Phenomenon].Values.Sum()) / (e.RunCount * (double)blocks));
                        task.Description = Markup.Escape(Fit($"{e.Phenomenon} {e.RunIndex + 1}/{e.RunCount} s{e.Seed} {e.Arm}", description));
                    }
                });
                outcomes = runner.RunReplicated([.. protocols.Select(x => (x.P, x.Protocol))], t, replicate, progress: progress, cancellation: cancel);
            });
        return outcomes;
    }

    // Cut to `width` characters with an ellipsis, so a progress line never wraps.
    private static string Fit(string text, int width) => text.Length <= width ? text.PadRight(width) : text[..(width - 1)] + "…";

    /// <summary>The one line printed as a phenomenon's verdict is known: id, outcome on both blocks, effect, runs and time.</summary>
    public static string VerdictLine(ReplicatedOutcome o)
    {
        var d = o.Discovery;
        int made = d.RunsExecuted + (o.Replication?.RunsExecuted ?? 0), reused = d.RunsReused + (o.Replication?.RunsReused ?? 0);
        double seconds = d.Seconds + (o.Replication?.Seconds ?? 0);
        return $"{o.Id}: {o.Summary}; {d.Verdict.Effect.Name} {d.Verdict.Effect.FormatWithUnit()}; runs {made} new, {reused} reused; " +
               $"{seconds.ToString("F1", CultureInfo.InvariantCulture)} s of run time";
    }

    // In a terminal the line is cut to its width (the summary table that follows has every number).
    private static string VerdictMarkup(ReplicatedOutcome o, int width)
    {
        string outcome = o.Discovery.Verdict.Outcome.Text();
        string rest = VerdictLine(o);
        int room = Math.Max(10, width - outcome.Length - 2);
        return $"[{Terminal.Colour(o.Discovery.Verdict.Outcome)}]{Markup.Escape(outcome)}[/] {Markup.Escape(rest.Length <= room ? rest : rest[..(room - 1)] + "…")}";
    }

    private static void PrintOutcomes(CommandOutput output, IReadOnlyList<ReplicatedOutcome> outcomes)
    {
        bool tsv = output.Format == OutputFormat.Tsv;
        string[] columns = ["phenomenon", "discovery", "replication", "effect [95% CI] (discovery)", "seeds", "tier", "runs (new/reused)", "run time (s)"];
        // TSV's standard output is data only: the command that reproduces each row is a column there.
        var listing = new Listing(tsv ? [.. columns, "reproduce"] : columns);
        foreach (var o in outcomes)
        {
            var d = o.Discovery;
            var rep = o.Replication;
            Cell VerdictCell(PhenomenonOutcome x, string suffix = "") => new(x.Verdict.Outcome.Text() +
                (x.Verdict.SeedsToDecide is { } n ? $" (~{n} seeds to decide)" : "") + suffix, Terminal.Colour(x.Verdict.Outcome));
            Cell[] cells =
            [
                o.Id,
                VerdictCell(d),
                rep is null ? "-" : VerdictCell(rep, o.Replicated == true ? " (replicated)" : " (not replicated)"),
                $"{d.Verdict.Effect.Name}: {d.Verdict.Effect.FormatWithUnit()}",
                rep is null ? $"{d.SeedBase}-{d.SeedBase + d.Seeds - 1}" : $"{d.SeedBase}-{d.SeedBase + d.Seeds - 1} / {rep.SeedBase}-{rep.SeedBase + rep.Seeds - 1}",
                d.Tier.ToString().ToLowerInvariant() + (d.Overrides.Any(k => k.Key is not ("seeds" or "seed_base")) ? " (modified)" : ""),
                $"{d.RunsExecuted + (rep?.RunsExecuted ?? 0)}/{d.RunsReused + (rep?.RunsReused ?? 0)}",
                (d.Seconds + (rep?.Seconds ?? 0)).ToString("F1", CultureInfo.InvariantCulture),
            ];
            listing.Add(tsv ? [.. cells, ReproduceCommand(d.Reproduction)] : cells);
        }
        output.Write(listing);
        var data = outcomes.Select(o => $"{o.Discovery.DataSource} (sha256 {o.Discovery.DataFingerprint})").Distinct().ToList();
        output.Note($"data: {string.Join("; ", data)}");
        output.Note($"code: Aperture {RunStore.CodeVersion} on {Environment.MachineName}");
        // Each command whole on one line, so that it can be copied from a log.
        foreach (var o in outcomes) output.Note($"reproduce: {ReproduceCommand(o.Discovery.Reproduction)}");
    }

    /// <summary>The <c>aperture</c> command line that reproduces a verdict, each setting one shell word (quoted when it must be).</summary>
    public static string ReproduceCommand(Reproduction r)
    {
        var parts = new List<string> { "./aperture lab run", r.Id, "--tier", r.Tier == Tier.Full ? "full" : "quick", "--seeds", r.Seeds.ToString(CultureInfo.InvariantCulture) };
        if (r.SeedBase != 0) parts.AddRange(["--seed-base", r.SeedBase.ToString(CultureInfo.InvariantCulture)]);
        foreach (var (k, v) in r.Overrides)
            if (k is not ("seeds" or "seed_base")) parts.Add($"--set {ShellWord($"{k}={v}")}");
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
