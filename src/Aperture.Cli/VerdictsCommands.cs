using System.CommandLine;
using System.Globalization;
using Aperture.Lab;

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
        var json = Output.JsonOption(Documents.VerdictList);
        var cmd = new Command("list", "List stored verdicts, oldest first for each phenomenon: when, which code and protocol version, which seed block, with what outcome and effect.") { id, tier, format, json };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            if (r.GetValue(id) is { } given) Terminal.Phenomenon(given);
            var output = CommandOutput.Begin(r, format, json);
            using var s = Terminal.OpenExistingStore(r.GetValue(store));
            var history = s.VerdictHistory(r.GetValue(id));
            if (r.GetValue(tier) is { } t) history = [.. history.Where(v => v.Tier == RunStoreNames.Tier(t))];
            var listing = new Listing("verdict", "phenomenon", "judged (UTC)", "code", "protocol", "tier", "seeds", "outcome", "effect [95% CI]", "checks held");
            foreach (var v in history)
            {
                bool modified = v.Overrides.Any(kv => kv.Key is not ("seeds" or "seed_base"));
                listing.Add(
                    v.Id.ToString(CultureInfo.InvariantCulture), v.Phenomenon, v.Created, Output.ShortVersion(v.CodeVersion), "v" + v.ProtocolVersion,
                    v.Tier.ToString().ToLowerInvariant() + (modified ? " (modified)" : ""),
                    $"{v.SeedBase}-{v.SeedBase + v.Seeds - 1}",
                    new Cell(v.Verdict.Outcome.Text(), Terminal.Colour(v.Verdict.Outcome)),
                    $"{v.Verdict.Effect.Name}: {v.Verdict.Effect.FormatWithUnit()}",
                    $"{v.Verdict.Checks.Count(c => c.Outcome == Outcome.Held)}/{v.Verdict.Checks.Count}");
            }
            output.Write(listing);
            output.Note($"{history.Count} verdicts of {history.Select(v => v.Phenomenon).Distinct().Count()} phenomena in {s.Path}");
            output.Json(() => Documents.VerdictListDocument(s.Path, history));
            return 0;
        }));
        return cmd;
    }
}
