using System.CommandLine;
using System.Globalization;
using Aperture.Lab;
using Aperture.Lab.Store;

namespace Aperture.Cli;

/// <summary><c>aperture verdicts list</c>: each phenomenon's verdict history.</summary>
internal static class VerdictsCommands
{
    public static Command Create(Option<string?> store)
    {
        var verdicts = new Command("verdicts", "The verdicts stored in the run store: each phenomenon's history across code versions and seed blocks.");
        verdicts.Subcommands.Add(List(store));
        return verdicts;
    }

    private static Command List(Option<string?> store)
    {
        var id = new Argument<string?>("id") { Description = "one phenomenon (default: every phenomenon with a stored verdict)", Arity = ArgumentArity.ZeroOrOne };
        var tier = new Option<string?>("--tier") { Description = "only verdicts of this tier" }.AcceptOnlyFromAmong("quick", "full");
        var format = Output.FormatOption();
        var all = new Option<bool>("--all")
        {
            Description = "one row per stored verdict; by default a block judged again with the same code, protocol, tier, seed block, settings " +
                          "and data, and the same result, is one row that says how many times it was judged (the JSON always holds every verdict)",
        };
        var json = Output.JsonOption(Documents.VerdictList);
        var cmd = new Command("list", "List stored verdicts, oldest first for each phenomenon: when, which code and protocol version, which seed block, with what outcome and effect.") { id, tier, all, format, json };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            if (r.GetValue(id) is { } given) Terminal.Phenomenon(given);
            var output = CommandOutput.Begin(r, format, json);
            using var s = Terminal.OpenExistingStore(r.GetValue(store));
            var history = s.VerdictHistory(r.GetValue(id));
            if (r.GetValue(tier) is { } t) history = [.. history.Where(v => v.Tier == RunStoreNames.Tier(t))];
            var rows = r.GetValue(all) ? [.. history.Select(v => (First: v, Times: 1))] : Judgements(history);
            // "settings": what --set changed from the tier's defaults, so that two "modified" verdicts (two points of a
            // sweep) are told apart.
            var listing = new Listing("verdict", "phenomenon", "judged (UTC)", "times", "code", "protocol", "tier", "settings", "seeds", "outcome", "effect [95% CI]", "checks held");
            foreach (var (v, times) in rows)
            {
                var changed = v.Overrides.Where(kv => kv.Key is not ("seeds" or "seed_base")).ToList();
                listing.Add(
                    v.Id.ToString(CultureInfo.InvariantCulture), v.Phenomenon, v.Created, times.ToString(CultureInfo.InvariantCulture),
                    Output.ShortVersion(v.CodeVersion), "v" + v.ProtocolVersion,
                    v.Tier.ToString().ToLowerInvariant() + (changed.Count > 0 ? " (modified)" : ""),
                    string.Join(" ", changed.Select(kv => $"{kv.Key}={kv.Value}")),
                    $"{v.SeedBase}-{v.SeedBase + v.Seeds - 1}",
                    new Cell(v.Verdict.Outcome.Text(), Terminal.Colour(v.Verdict.Outcome)),
                    $"{v.Verdict.Effect.Name}: {v.Verdict.Effect.FormatWithUnit()}",
                    $"{v.Verdict.Checks.Count(c => c.Outcome == Outcome.Held)}/{v.Verdict.Checks.Count}");
            }
            output.Write(listing);
            int phenomena = history.Select(v => v.Phenomenon).Distinct().Count();
            output.Note($"{history.Count} verdicts of {phenomena} phenomena in {s.Path}");
            if (rows.Count < history.Count)
                output.Note($"{rows.Count} distinct judgements, each shown once with its count; --all lists each");
            output.Json(() => Documents.VerdictListDocument(s.Path, history));
            return 0;
        }));
        return cmd;
    }

    /// <summary>
    /// The history with each repeated judgement shown once: verdicts of the same phenomenon, code, protocol, tier, seed
    /// block, settings and data whose outcome, effect and checks read the same are one judgement (rerunning a command
    /// that reuses every run judges again and stores another verdict). In the order of each judgement's first verdict.
    /// </summary>
    internal static List<(VerdictRecord First, int Times)> Judgements(IReadOnlyList<VerdictRecord> history)
    {
        var order = new List<string>();
        var groups = new Dictionary<string, (VerdictRecord First, int Times)>(StringComparer.Ordinal);
        foreach (var v in history)
        {
            string key = string.Join("\u001f", [
                v.Phenomenon, v.CodeVersion, v.ProtocolVersion, v.Tier.ToString(),
                v.SeedBase.ToString(CultureInfo.InvariantCulture), v.Seeds.ToString(CultureInfo.InvariantCulture),
                string.Join(",", v.Overrides.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value)),
                v.DataFingerprint, v.Verdict.Outcome.Text(), v.Verdict.Effect.Name, Exact(v.Verdict.Effect.Value), Exact(v.Verdict.Effect.Low), Exact(v.Verdict.Effect.High),
                string.Join(",", v.Verdict.Checks.Select(c => c.Outcome.Text() + ":" + Exact(c.Estimate.Value)))]);
            if (groups.TryGetValue(key, out var g)) groups[key] = (g.First, g.Times + 1);
            else
            {
                groups[key] = (v, 1);
                order.Add(key);
            }
        }
        return [.. order.Select(k => groups[k])];
    }

    private static string Exact(double x) => x.ToString("R", CultureInfo.InvariantCulture);
}
