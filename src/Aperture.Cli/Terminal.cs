using Aperture.Lab;
using Aperture.Lab.Store;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary>Shared console plumbing: opening the store, reporting errors, writing files whole.</summary>
internal static class Terminal
{
    public static RunStore OpenStore(string? path) => new(string.IsNullOrWhiteSpace(path) ? RunStore.DefaultPath : path);

    /// <summary>Runs a command body, turning the lab's configuration and run errors into a message and an exit code.</summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (LabConfigException e)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return 2;
        }
        catch (LabRunException e)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return 1;
        }
        catch (InvalidDataException e)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            AnsiConsole.MarkupLine("[yellow]stopped[/]: finished runs are stored; run the same command again to resume.");
            return 130;
        }
    }

    /// <summary>Writes a file whole: to a temporary name, then renamed over the target.</summary>
    public static void WriteAtomically(string path, string content) => Aperture.IO.AtomicFile.WriteAllText(path, content);

    public static string Colour(Outcome o) => o switch
    {
        Outcome.Held => "green",
        Outcome.DidNotHold => "red",
        _ => "yellow",
    };
}
