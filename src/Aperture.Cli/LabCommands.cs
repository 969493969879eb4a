using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Lab;
using Aperture.Lab.Store;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary><c>aperture lab list | show | run</c>.</summary>
internal static class LabCommands
{
    public static Command Create(Option<string?> store)
    {
        var lab = new Command("lab", "The phenomena lab: list phenomena, show their protocols, run them.");
        lab.Subcommands.Add(List());
        lab.Subcommands.Add(Show());
        lab.Subcommands.Add(Run(store));
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
            AnsiConsole.Write(table);
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
            var p = Catalogue.Get(r.GetValue(id)!);
            var t = ParseTier(r.GetValue(tier));
            AnsiConsole.MarkupLineInterpolated($"[bold]{p.Title}[/] ({p.Id})");
            AnsiConsole.MarkupLineInterpolated($"[bold]Claim:[/] {p.Claim}");
            AnsiConsole.MarkupLineInterpolated($"[bold]Method:[/] {p.Method}");
            foreach (var s in p.Sources) AnsiConsole.MarkupLineInterpolated($"  source: {s.Citation}{(s.ArXiv is null ? "" : ", arXiv:" + s.ArXiv)}");
            var table = new Table().AddColumns("setting", "type", $"{t.ToString().ToLowerInvariant()} default", "meaning");
            foreach (var s in ProtocolBinding.Settings(p.Defaults(t)))
                table.AddRow(Markup.Escape(s.Key + (s.IsThreshold ? " (threshold)" : "")), Markup.Escape(s.Type), Markup.Escape(s.Value), Markup.Escape(s.Description));
            AnsiConsole.Write(table);
            return 0;
        }));
        return cmd;
    }

    private static Command Run(Option<string?> store)
    {
        var ids = new Argument<string[]>("id") { Description = "phenomena to run (see `aperture lab list`)", Arity = ArgumentArity.ZeroOrMore };
        var all = new Option<bool>("--all") { Description = "run every phenomenon in the catalogue" };
        var tier = TierOption();
        var seeds = new Option<int?>("--seeds") { Description = "seeds per arm (overrides the tier's default)" };
        var set = new Option<string[]>("--set")
        {
            Description = "override a protocol setting: key=value, or id.key=value for one phenomenon (see `aperture lab show ID`)",
            AllowMultipleArgumentsPerToken = false,
        };
        var json = new Option<string?>("--json") { Description = "also write the results as JSON to this file (one record per phenomenon)" };
        var cmd = new Command("run", "Run phenomena: every arm × seed not already finished in the store, then judge each verdict from the stored runs.")
        {
            ids, all, tier, seeds, set, json,
        };
        cmd.SetAction((r, cancel) => Task.FromResult(Terminal.Guard(() =>
        {
            var chosen = r.GetValue(all) ? Catalogue.All : (r.GetValue(ids) ?? []).Select(Catalogue.Get).ToList();
            if (chosen.Count == 0) throw new LabConfigException("name at least one phenomenon, or pass --all (see `aperture lab list`)");
            if (r.GetValue(all) && r.GetValue(ids) is { Length: > 0 }) throw new LabConfigException("give phenomenon ids or --all, not both");
            var t = ParseTier(r.GetValue(tier));
            var overrides = SplitOverrides(r.GetValue(set) ?? [], chosen);
            var protocols = chosen.Select(p => (P: p, Protocol: LabRunner.Resolve(p, t, overrides[p.Id], r.GetValue(seeds)))).ToList();

            using var runStore = Terminal.OpenStore(r.GetValue(store));
            AnsiConsole.MarkupLineInterpolated($"run store: [blue]{runStore.Path}[/]");
            var runner = new LabRunner(runStore);
            var outcomes = new List<PhenomenonOutcome>();
            AnsiConsole.Progress()
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
                        var outcome = runner.Run(p, t, protocol, progress, cancel);
                        task.Value = 1;
                        task.Description = Markup.Escape(p.Id);
                        task.StopTask();
                        outcomes.Add(outcome);
                    }
                });
            PrintOutcomes(outcomes);
            if (r.GetValue(json) is { } path) Terminal.WriteAtomically(path, OutcomesJson(outcomes));
            return 0;
        })));
        return cmd;
    }

    private static void PrintOutcomes(IReadOnlyList<PhenomenonOutcome> outcomes)
    {
        var table = new Table().AddColumns("phenomenon", "verdict", "effect [[95% CI]]", "seeds", "tier", "runs (new/reused)", "seconds");
        foreach (var o in outcomes)
            table.AddRow(
                Markup.Escape(o.Id),
                $"[{Terminal.Colour(o.Verdict.Outcome)}]{Markup.Escape(o.Verdict.Outcome.Text())}[/]",
                Markup.Escape($"{o.Verdict.Effect.Name}: {o.Verdict.Effect.Format()}"),
                o.Seeds.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(o.Tier.ToString().ToLowerInvariant() + (o.Overrides.Any(k => k.Key != "seeds") ? " (modified)" : "")),
                $"{o.RunsExecuted}/{o.RunsReused}",
                o.Seconds.ToString("F1", CultureInfo.InvariantCulture));
        AnsiConsole.Write(table);
        foreach (var o in outcomes) AnsiConsole.MarkupLineInterpolated($"[grey]reproduce:[/] {o.Command}");
    }

    private static string OutcomesJson(IReadOnlyList<PhenomenonOutcome> outcomes)
    {
        static JsonNode? Num(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;
        var array = new JsonArray();
        foreach (var o in outcomes)
            array.Add(new JsonObject
            {
                ["id"] = o.Id,
                ["verdict"] = o.Verdict.Outcome.Text(),
                ["effect"] = Num(o.Verdict.Effect.Value),
                ["ci_low"] = Num(o.Verdict.Effect.Low),
                ["ci_high"] = Num(o.Verdict.Effect.High),
                ["seeds"] = o.Seeds,
                ["tier"] = o.Tier.ToString().ToLowerInvariant(),
                ["seconds"] = Math.Round(o.Seconds, 3),
            });
        return array.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    // "key=value" applies to every chosen phenomenon (each must have the key); "id.key=value" to one.
    private static Dictionary<string, List<KeyValuePair<string, string>>> SplitOverrides(string[] sets, IReadOnlyList<Phenomenon> chosen)
    {
        var result = chosen.ToDictionary(p => p.Id, _ => new List<KeyValuePair<string, string>>());
        foreach (var s in sets)
        {
            int eq = s.IndexOf('=');
            if (eq <= 0) throw new LabConfigException($"--set expects key=value, found '{s}'");
            string key = s[..eq].Trim(), value = s[(eq + 1)..];
            var target = chosen.FirstOrDefault(p => key.StartsWith(p.Id + ".", StringComparison.Ordinal));
            if (target is not null) result[target.Id].Add(KeyValuePair.Create(key[(target.Id.Length + 1)..], value));
            else foreach (var p in chosen) result[p.Id].Add(KeyValuePair.Create(key, value));
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
