using System.CommandLine;
using Aperture.Cli;

// The `aperture` command: parsing, progress and printing only. The science lives in Aperture.Lab.
var store = new Option<string?>("--store")
{
    Description = $"the run store (SQLite file); default ${Aperture.Lab.Store.RunStore.PathVariable} or ./aperture.db",
    Recursive = true,
};
var root = new RootCommand("Aperture: a deep-learning engine and a phenomena lab.")
{
    store,
    LabCommands.Create(store),
    RunsCommands.Create(store),
    ReportCommand.Create(store),
    TrainCommand.Create(),
    LlcCommand.Create(),
    DemoCommand.Create(),
};
// Ctrl+C or SIGTERM cancels the sweep between measurements (finished runs are kept; the current one is redone next
// time); a second signal ends the process at once.
using var stop = new CancellationTokenSource();
void OnSignal(System.Runtime.InteropServices.PosixSignalContext context)
{
    context.Cancel = !stop.IsCancellationRequested;
    stop.Cancel();
}
using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, OnSignal);
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, OnSignal);
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, stop.Token);
