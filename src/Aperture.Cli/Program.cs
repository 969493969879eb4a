using Aperture.Cli;

// The `aperture` command: parsing, progress and printing only. The science lives in Aperture.Lab.
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
return Cli.Run(args, Console.Out, Console.Error, interactive: !Console.IsOutputRedirected, stop.Token);
