using System.CommandLine;
using System.Globalization;
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
        var json = Output.JsonOption(Documents.StoreCopy);
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
            // Reported in order, on the copying thread (Progress<T> would post each line to the thread pool, so a line
            // could come after the table).
            var progress = new Lines(line => Terminal.Console.MarkupLineInterpolated($"[grey]{line}[/]"));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var c = source.CopyTo(target, progress);

            var table = new Listing("records", "copied", "already there");
            string N(long n) => n.ToString(CultureInfo.InvariantCulture);
            table.Add("runs", N(c.Runs), N(c.RunsPresent));
            table.Add("verdicts", N(c.Verdicts), N(c.VerdictsPresent));
            table.Add("stages", N(c.Stages), N(c.StagesPresent));
            table.Add("sweeps", N(c.Sweeps), N(c.SweepsPresent));
            table.Add("tags", N(c.Tags), N(c.TagsPresent));
            table.Add("notes", N(c.Notes), N(c.NotesPresent));
            table.Add("params", N(c.Params), "");
            table.Add("metric points", N(c.Metrics), "");
            table.Add("results", N(c.Results), "");
            table.Add("artifact files", N(c.Artifacts), "");
            table.Add("bytes of artifact and stage files", N(c.ArtifactBytes), "");
            Output.Print(table);
            Terminal.Console.MarkupLineInterpolated($"copied {source.Path} → {target.Path}");
            if (c.RunsUnfinished > 0)
                Terminal.Console.MarkupLineInterpolated($"[yellow]{c.RunsUnfinished} runs were not copied: they are running or failed in the source[/]");

            if (jsonPath is not null || jsonToStdout)
            {
                string text = Output.Serialize(Documents.StoreCopyDocument(source.Path, target.Path, c, clock.Elapsed.TotalSeconds));
                if (jsonToStdout) Terminal.Out.Write(text);
                else Terminal.WriteAtomically(jsonPath!, text);
            }
            return 0;
        }));
        return cmd;
    }

    private sealed class Lines(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
