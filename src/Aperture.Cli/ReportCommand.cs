using System.CommandLine;
using Aperture.Lab.Report;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary><c>aperture report</c>.</summary>
internal static class ReportCommand
{
    public static Command Create(Option<string?> store)
    {
        var output = new Option<string>("--output", "-o") { Description = "the folder to write the HTML report into", DefaultValueFactory = _ => "report" };
        var cmd = new Command("report", "Write the static HTML report: a scorecard and one page per phenomenon, from the stored verdicts and runs.") { output };
        cmd.SetAction(r => Terminal.Guard(() =>
        {
            string folder = Terminal.CheckOutputFolder(r.GetValue(output)!, "--output");
            using var s = Terminal.OpenExistingStore(r.GetValue(store));
            ReportSummary summary = null!;
            Terminal.Console.Status().Start("writing the report", ctx =>
                summary = ReportWriter.Write(s, folder, LabCommands.ReproduceCommand, new Reporter(id => ctx.Status($"drawing {Markup.Escape(id)}"))));
            Terminal.Console.MarkupLineInterpolated($"wrote {summary.Pages.Count} pages and {summary.Images.Count} images: [blue]{summary.IndexPath}[/]");
            return 0;
        }));
        return cmd;
    }

    private sealed class Reporter(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
