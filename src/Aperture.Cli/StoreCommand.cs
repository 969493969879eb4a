using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Aperture.Lab.Store;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary><c>aperture store copy FROM TO</c>: move runs between a laptop's SQLite file and a cluster's PostgreSQL database.</summary>
internal static class StoreCommand
{
    public static Command Create()
    {
        var store = new Command("store", "Manage run stores: copy runs between SQLite files and PostgreSQL databases.");
        store.Subcommands.Add(Copy());
        return store;
    }

    private static Command Copy()
    {
        var from = new Argument<string>("from") { Description = "the store to copy from: an SQLite file, or postgresql://USER@HOST:PORT/DATABASE" };
        var to = new Argument<string>("to") { Description = "the store to copy into (created if absent): an SQLite file, or postgresql://USER@HOST:PORT/DATABASE" };
        var fromArtifacts = new Option<string?>("--from-artifacts")
        {
            Description = $"the source's artifacts folder (default: beside an SQLite file; for PostgreSQL --artifacts or ${RunStore.ArtifactsVariable})",
        };
        var toArtifacts = new Option<string?>("--to-artifacts")
        {
            Description = $"the target's artifacts folder (default: beside an SQLite file; for PostgreSQL --artifacts or ${RunStore.ArtifactsVariable})",
        };
        var json = new Option<string?>("--json") { Description = "also write the counts as JSON to this file (- for standard output)" };
        var cmd = new Command("copy",
            "Copy finished runs (params, metrics, results, artifacts), verdicts, stages, sweeps, tags and notes from one store into another. " +
            "Idempotent: what the target already has is left alone, so copying again copies nothing.") { from, to, fromArtifacts, toArtifacts, json };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            string? jsonPath = r.GetValue(json) is { } j ? Terminal.CheckOutputFile(j, "--json", allowStdout: true) : null;
            bool jsonToStdout = r.GetValue(json) == "-";
            if (jsonToStdout) Terminal.HumanOutputToStandardError();
            string fromText = r.GetValue(from)!, toText = r.GetValue(to)!;
            // A folder given for one side only, or the shared --artifacts, goes to whichever side is PostgreSQL.
            string? Artifacts(string store, string? own) =>
                own ?? (StoreAddress.IsPostgreSql(store) ? Terminal.ArtifactsOption : null);
            using var source = Terminal.OpenExistingStore(fromText, Artifacts(fromText, r.GetValue(fromArtifacts)), "<from>", "--from-artifacts");
            using var target = Terminal.OpenStore(toText, Artifacts(toText, r.GetValue(toArtifacts)), "<to>", "--to-artifacts");
            var progress = new Progress<string>(line => Terminal.Console.MarkupLineInterpolated($"[grey]{line}[/]"));
            var c = source.CopyTo(target, progress);

            var table = new Table().AddColumns("", "copied", "already there");
            string N(long n) => n.ToString(CultureInfo.InvariantCulture);
            table.AddRow("runs", N(c.Runs), N(c.RunsPresent));
            table.AddRow("verdicts", N(c.Verdicts), N(c.VerdictsPresent));
            table.AddRow("stages", N(c.Stages), N(c.StagesPresent));
            table.AddRow("sweeps", N(c.Sweeps), N(c.SweepsPresent));
            table.AddRow("tags", N(c.Tags), N(c.TagsPresent));
            table.AddRow("notes", N(c.Notes), N(c.NotesPresent));
            table.AddRow("params", N(c.Params), "");
            table.AddRow("metric points", N(c.Metrics), "");
            table.AddRow("results", N(c.Results), "");
            table.AddRow("artifact files", N(c.Artifacts), "");
            table.AddRow("bytes of artifact and stage files", N(c.ArtifactBytes), "");
            Terminal.Console.Write(table);
            Terminal.Console.MarkupLineInterpolated($"copied {source.Path} → {target.Path}");
            if (c.RunsUnfinished > 0)
                Terminal.Console.MarkupLineInterpolated($"[yellow]{c.RunsUnfinished} runs were not copied: they are running or failed in the source[/]");

            if (jsonPath is not null || jsonToStdout)
            {
                string text = JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["from"] = source.Path,
                    ["to"] = target.Path,
                    ["runs_copied"] = c.Runs,
                    ["runs_present"] = c.RunsPresent,
                    ["runs_unfinished"] = c.RunsUnfinished,
                    ["params"] = c.Params,
                    ["metrics"] = c.Metrics,
                    ["results"] = c.Results,
                    ["artifacts"] = c.Artifacts,
                    ["artifact_bytes"] = c.ArtifactBytes,
                    ["verdicts_copied"] = c.Verdicts,
                    ["verdicts_present"] = c.VerdictsPresent,
                    ["stages_copied"] = c.Stages,
                    ["stages_present"] = c.StagesPresent,
                    ["sweeps_copied"] = c.Sweeps,
                    ["sweeps_present"] = c.SweepsPresent,
                    ["tags_copied"] = c.Tags,
                    ["tags_present"] = c.TagsPresent,
                    ["notes_copied"] = c.Notes,
                    ["notes_present"] = c.NotesPresent,
                }, new JsonSerializerOptions { WriteIndented = true }) + "\n";
                if (jsonToStdout) Terminal.Out.Write(text);
                else Terminal.WriteAtomically(jsonPath!, text);
            }
            return 0;
        }));
        return cmd;
    }
}
