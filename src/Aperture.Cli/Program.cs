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
    DemoCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
