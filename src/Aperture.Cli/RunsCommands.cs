using System.CommandLine;
using System.Globalization;
using Aperture.Lab;
using Aperture.Lab.Store;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary><c>aperture runs list | show | export</c>.</summary>
internal static class RunsCommands
{
    public static Command Create(Option<string?> store)
    {
        var runs = new Command("runs", "Inspect the run store: list runs, show one, export them as CSV.");
        runs.Subcommands.Add(List(store));
        runs.Subcommands.Add(Show(store));
        runs.Subcommands.Add(Export(store));
        return runs;
    }

    private static Option<string?> PhenomenonOption() => new("--phenomenon") { Description = "only this phenomenon's runs" };

    private static Command List(Option<string?> store)
    {
        var phenomenon = PhenomenonOption();
        var status = new Option<string?>("--status") { Description = "only runs with this status" };
        status.AcceptOnlyFromAmong("running", "finished", "failed");
        var cmd = new Command("list", "List runs, newest first.") { phenomenon, status };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            using var s = Terminal.OpenExistingStore(r.GetValue(store));
            RunStatus? st = r.GetValue(status) is { } x ? Enum.Parse<RunStatus>(x, ignoreCase: true) : null;
            var rows = s.ListRuns(r.GetValue(phenomenon), st);
            var table = new Table().AddColumns("run", "phenomenon", "tier", "arm", "seed", "status", "attempts", "seconds", "started (UTC)");
            foreach (var run in rows)
                table.AddRow(run.RunId[..12], Markup.Escape(run.Phenomenon), run.Tier.ToString().ToLowerInvariant(), Markup.Escape(run.Arm),
                    run.Seed.ToString(CultureInfo.InvariantCulture), StatusMarkup(run.Status), run.Attempts.ToString(CultureInfo.InvariantCulture),
                    run.Seconds?.ToString("F2", CultureInfo.InvariantCulture) ?? "", Markup.Escape(run.StartTime));
            Terminal.Console.Write(table);
            Terminal.Console.MarkupLineInterpolated($"{rows.Count} runs in {s.Path}");
            return 0;
        }));
        return cmd;
    }

    private static Command Show(Option<string?> store)
    {
        var id = new Argument<string>("run") { Description = "a run id, or a unique prefix of one (at least 4 hex digits)" };
        var cmd = new Command("show", "Show one run: identity, config, results, metrics and artifacts.") { id };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            using var s = Terminal.OpenExistingStore(r.GetValue(store));
            var run = s.FindRun(r.GetValue(id)!);
            var grid = new Grid().AddColumn().AddColumn();
            void Row(string k, string? v) => grid.AddRow(new Markup($"[bold]{Markup.Escape(k)}[/]"), new Text(v ?? ""));
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
            Terminal.Console.Write(grid);
            if (run.Status == RunStatus.Finished)
            {
                var stored = s.LoadRun(run.RunId);
                var results = new Table().AddColumns("result", "value");
                foreach (var (k, v) in stored.Results) results.AddRow(Markup.Escape(k), v.ToString("R", CultureInfo.InvariantCulture));
                Terminal.Console.Write(results);
                var metrics = new Table().AddColumns("metric", "steps", "first", "last");
                foreach (var (k, pts) in stored.Metrics)
                    metrics.AddRow(Markup.Escape(k), pts.Count.ToString(CultureInfo.InvariantCulture),
                        $"{pts[0].Value.ToString("G6", CultureInfo.InvariantCulture)} @ {pts[0].Step}",
                        $"{pts[^1].Value.ToString("G6", CultureInfo.InvariantCulture)} @ {pts[^1].Step}");
                if (stored.Metrics.Count > 0) Terminal.Console.Write(metrics);
                foreach (var (name, path) in stored.Artifacts) Terminal.Console.MarkupLineInterpolated($"artifact [blue]{name}[/]: {path}");
            }
            return 0;
        }));
        return cmd;
    }

    private static Command Export(Option<string?> store)
    {
        var phenomenon = PhenomenonOption();
        var output = new Option<string?>("--output", "-o") { Description = "the CSV file to write (default, or -: standard output)" };
        var cmd = new Command("export", "Export runs as CSV: one row per run, with its settings (param.*) and final results (result.*).") { phenomenon, output };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            string? path = r.GetValue(output) is { } o ? Terminal.CheckOutputFile(o, "--output", allowStdout: true) : null;
            using var s = Terminal.OpenExistingStore(r.GetValue(store));
            if (path is not null)
            {
                using var w = new StringWriter(CultureInfo.InvariantCulture);
                s.ExportCsv(w, r.GetValue(phenomenon));
                Terminal.WriteAtomically(path, w.ToString());
                Terminal.Console.MarkupLineInterpolated($"wrote [blue]{Path.GetFullPath(path)}[/]");
            }
            else
            {
                s.ExportCsv(Terminal.Out, r.GetValue(phenomenon));
            }
            return 0;
        }));
        return cmd;
    }

    private static string StatusMarkup(RunStatus s) => s switch
    {
        RunStatus.Finished => "[green]finished[/]",
        RunStatus.Failed => "[red]failed[/]",
        _ => "[yellow]running[/]",
    };
}
