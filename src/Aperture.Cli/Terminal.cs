using Aperture.Lab;
using Aperture.Lab.Store;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary>
/// A mistake in the command line that the parser cannot see (an output path that cannot be written, an unknown
/// phenomenon): one line for the user, exit code 2.
/// </summary>
internal sealed class CommandLineException(string message) : Exception(message);

/// <summary>
/// Shared console plumbing: where output goes, opening the store, checking output paths before anything runs, and
/// turning every failure into one line on standard error.
/// </summary>
internal static class Terminal
{
    /// <summary>The console that human-readable output (tables, progress) is written to: standard output, or standard error while <c>--json -</c> owns standard output.</summary>
    public static IAnsiConsole Console { get; private set; } = AnsiConsole.Console;

    /// <summary>Standard output, for machine-readable output (CSV, <c>--json -</c>).</summary>
    public static TextWriter Out { get; private set; } = System.Console.Out;

    /// <summary>Standard error, for error lines.</summary>
    public static TextWriter Error { get; private set; } = System.Console.Error;

    private static IAnsiConsole _stdout = AnsiConsole.Console, _stderr = AnsiConsole.Console;
    private static bool _colourErrors;

    /// <summary>Whether standard output is a terminal someone watches (live progress, drawn tables) rather than a pipe or a file.</summary>
    public static bool Interactive { get; private set; }

    /// <summary>Whether the terminal is plain (TERM=dumb): no colour, no cursor movement, no box-drawing or other non-ASCII graphics.</summary>
    public static bool Plain { get; private set; }

    /// <summary>Points the console at <paramref name="stdout"/> and <paramref name="stderr"/> for one invocation.</summary>
    public static void Attach(TextWriter stdout, TextWriter stderr, bool interactive)
    {
        Out = stdout;
        Error = stderr;
        Plain = Environment.GetEnvironmentVariable("TERM") == "dumb";
        Interactive = interactive && !Plain;
        bool colour = Interactive && Environment.GetEnvironmentVariable("NO_COLOR") is not { Length: > 0 };
        _stdout = Create(stdout, Interactive, colour);
        _stderr = Create(stderr, Interactive, colour);
        _colourErrors = colour && !System.Console.IsErrorRedirected;
        Console = _stdout;
    }

    /// <summary>The width the user asked for with <c>COLUMNS</c> (a positive integer), else null.</summary>
    public static int? RequestedWidth =>
        int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int w) && w > 0
            ? Math.Min(w, 10_000) : null;

    private static IAnsiConsole Create(TextWriter writer, bool interactive, bool colour)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            // The caller knows whether standard output is a terminal (Program asks the console); TERM=dumb has
            // already made it non-interactive.
            Ansi = interactive ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = colour ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
        });
        // COLUMNS wins; redirected output is read by programs and by people with wide windows, so a table drawn there
        // (--format table) is not wrapped at 80 columns.
        if (RequestedWidth is { } w) console.Profile.Width = w;
        else if (!interactive) console.Profile.Width = 1000;
        if (Plain) console.Profile.Capabilities.Unicode = false;
        return console;
    }

    /// <summary>Sends human-readable output to standard error, so that standard output holds only the JSON of <c>--json -</c>.</summary>
    public static void HumanOutputToStandardError() => Console = _stderr;

    /// <summary>Prints one error line, "error: …", on standard error (newlines in the message folded into spaces).</summary>
    public static void PrintError(string message)
    {
        string line = string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Error.WriteLine(_colourErrors ? $"\e[31merror:\e[0m {line}" : $"error: {line}");
    }

    // ---- the run store ----

    /// <summary>
    /// The artifacts folder given by --artifacts for this invocation (set by <see cref="Cli.Run"/>), else null: then
    /// a PostgreSQL store's is $APERTURE_ARTIFACTS, an SQLite store's a folder beside its file.
    /// </summary>
    public static string? ArtifactsOption { get; set; }

    /// <summary>Opens the store for a command that writes to it: created if absent (never from a 0-byte or foreign file).</summary>
    public static RunStore OpenStore(string? store) => OpenStore(store, ArtifactsOption, "--store", "--artifacts");

    /// <summary>Opens an existing store for a command that only reads it: a missing store is an error, never created.</summary>
    public static RunStore OpenExistingStore(string? store) => OpenExistingStore(store, ArtifactsOption, "--store", "--artifacts");

    /// <summary>
    /// Opens (creating) the store <paramref name="store"/> (a file path or a PostgreSQL address; null: $APERTURE_STORE
    /// or ./aperture.db) with its artifacts in <paramref name="artifacts"/>; <paramref name="option"/> and
    /// <paramref name="artifactsOption"/> name where they came from, for errors.
    /// </summary>
    public static RunStore OpenStore(string? store, string? artifacts, string option, string artifactsOption)
    {
        var address = StoreAddressOf(store, option);
        if (address.Backend == StoreBackend.Sqlite) CheckStorePath(address.Display, option);
        CurrentStore = address.Display;
        return new RunStore(address, ArtifactsFolder(address, artifacts, artifactsOption), create: true);
    }

    /// <summary>Opens the existing store <paramref name="store"/> for reading: see <see cref="OpenStore(string?, string?, string, string)"/>.</summary>
    public static RunStore OpenExistingStore(string? store, string? artifacts, string option, string artifactsOption)
    {
        var address = StoreAddressOf(store, option);
        if (address.Backend == StoreBackend.Sqlite)
        {
            CheckStorePath(address.Display, option);
            if (!File.Exists(address.Display))
                throw new CommandLineException($"no run store at '{address.Display}': run `aperture lab run` first, or pass {option} PATH (or set ${RunStore.PathVariable}) to name an existing one");
        }
        CurrentStore = address.Display;
        return new RunStore(address, ArtifactsFolder(address, artifacts, artifactsOption), create: false);
    }

    /// <summary>
    /// Opens an existing store for a command that writes to it (a worker, a tag, a note): a missing store is an error,
    /// never created empty; an older one is upgraded.
    /// </summary>
    public static RunStore OpenExistingStoreForWriting(string? store)
    {
        using (OpenExistingStore(store)) { }
        return OpenStore(store);
    }

    private static StoreAddress StoreAddressOf(string? store, string option)
    {
        if (store is not null && string.IsNullOrWhiteSpace(store))
            throw new CommandLineException($"{option} needs a file path or postgresql://USER@HOST:PORT/DATABASE, found an empty one");
        string origin = store is null && Environment.GetEnvironmentVariable(RunStore.PathVariable) is { Length: > 0 } ? $"${RunStore.PathVariable}" : option;
        return StoreAddress.Parse(store ?? RunStore.DefaultPath, origin);
    }

    // The artifacts folder: the option; else for PostgreSQL $APERTURE_ARTIFACTS (required), for SQLite null (the
    // folder beside the file). Checked to be a folder, or creatable as one.
    private static string? ArtifactsFolder(StoreAddress address, string? given, string option)
    {
        if (given is null && address.Backend == StoreBackend.Sqlite) return null;
        string? chosen = given ?? RunStore.DefaultArtifactRoot;
        if (chosen is null)
        {
            throw new CommandLineException($"the PostgreSQL store '{address.Display}' needs an artifacts folder that every node reaches: " +
                                           $"pass {option} DIR or set ${RunStore.ArtifactsVariable}");
        }
        string origin = given is null ? $"${RunStore.ArtifactsVariable}" : option;
        if (string.IsNullOrWhiteSpace(chosen)) throw new CommandLineException($"{origin} needs a folder, found an empty value");
        string full;
        try
        {
            full = Path.GetFullPath(chosen);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new CommandLineException($"{origin} '{chosen}' is not a usable folder path: {e.Message}");
        }
        if (File.Exists(full)) throw new CommandLineException($"{origin} '{chosen}' is a file; give the folder that holds the store's artifacts");
        if (FileAncestor(full) is { } file) throw new CommandLineException($"{origin} '{chosen}' cannot be created: '{file}' is a file, not a folder");
        return full;
    }

    private static void CheckStorePath(string full, string option)
    {
        if (Directory.Exists(full)) throw new CommandLineException($"{option} '{full}' is a directory; give the path of the store's SQLite file");
        if (FileAncestor(full) is { } file) throw new CommandLineException($"{option} '{full}' cannot be created: '{file}' is a file, not a folder");
    }

    // ---- output paths, checked before anything runs ----

    /// <summary>
    /// Checks that the file <paramref name="path"/>, given to <paramref name="option"/>, can be written, before any
    /// work whose result it would hold is done: not empty, not a directory, no file in the way of its folder, and a
    /// folder this process may create files in. Returns null for "-" (standard output) when <paramref name="allowStdout"/>.
    /// </summary>
    public static string? CheckOutputFile(string path, string option, bool allowStdout)
    {
        if (allowStdout && path == "-") return null;
        string full = FullOutputPath(path, option, "file");
        if (Directory.Exists(full)) throw new CommandLineException($"{option} '{path}' is a directory; give a file path");
        CheckCanCreateIn(full, path, option);
        return full;
    }

    /// <summary>Checks that the folder <paramref name="path"/>, given to <paramref name="option"/>, exists or can be created, and can be written.</summary>
    public static string CheckOutputFolder(string path, string option)
    {
        string full = FullOutputPath(path, option, "folder");
        if (File.Exists(full)) throw new CommandLineException($"{option} '{path}' is a file; give a folder to write into");
        if (Directory.Exists(full)) ProbeWritable(full, path, option);
        else CheckCanCreateIn(full, path, option);
        return full;
    }

    private static string FullOutputPath(string path, string option, string what)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new CommandLineException($"{option} needs a {what} path, found an empty one");
        try
        {
            return Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new CommandLineException($"{option} '{path}' is not a usable path: {e.Message}");
        }
    }

    // The nearest existing ancestor of `full` must be a folder this process can create files in (the missing ones
    // are created on writing).
    private static void CheckCanCreateIn(string full, string given, string option)
    {
        if (FileAncestor(full) is { } file) throw new CommandLineException($"{option} '{given}' cannot be written: '{file}' is a file, not a folder");
        string? dir = Path.GetDirectoryName(full);
        while (dir is not null && !Directory.Exists(dir)) dir = Path.GetDirectoryName(dir);
        if (dir is null) throw new CommandLineException($"{option} '{given}' cannot be written: none of its folders exists");
        ProbeWritable(dir, given, option);
    }

    // The first ancestor of `full` that exists as a file (so no folder can be made there), if any.
    private static string? FileAncestor(string full)
    {
        for (string? dir = Path.GetDirectoryName(full); dir is not null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(dir)) return dir;
        return null;
    }

    // Permission bits do not tell the whole story (root, read-only mounts, ACLs): create and delete a file to find out.
    private static void ProbeWritable(string dir, string given, string option)
    {
        string probe = Path.Combine(dir, $".aperture-write-check-{Guid.NewGuid():N}");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The reason in words, without the probe file's own name (which means nothing to the reader).
            string why = e switch
            {
                UnauthorizedAccessException => "permission denied",
                FileNotFoundException or DirectoryNotFoundException => "no file can be created there",
                _ => e.Message.Replace(probe, dir, StringComparison.Ordinal).TrimEnd('.'),
            };
            throw new CommandLineException($"{option} '{given}' cannot be written: the folder '{dir}' is not writable ({why})");
        }
    }

    /// <summary>Checks that a <c>--data-dir</c> folder exists before any data is read.</summary>
    public static void CheckDataDirectory(string? path)
    {
        if (path is null) return;
        if (string.IsNullOrWhiteSpace(path)) throw new CommandLineException("--data-dir needs a folder path, found an empty one");
        if (File.Exists(path)) throw new CommandLineException($"--data-dir '{path}' is a file; give the folder that holds the IDX files");
        if (!Directory.Exists(path)) throw new CommandLineException($"--data-dir '{path}' does not exist");
    }

    // ---- did you mean ----

    /// <summary>" (did you mean 'x'?)" when one of <paramref name="candidates"/> is a plausible typo of <paramref name="given"/>, else "".</summary>
    public static string DidYouMean(string given, IEnumerable<string> candidates)
    {
        var best = candidates
            .Select(c => (Candidate: c, Distance: EditDistance(given.ToLowerInvariant(), c.ToLowerInvariant())))
            .Where(x => x.Distance <= Math.Max(2, x.Candidate.Length / 3) || x.Candidate.StartsWith(given, StringComparison.OrdinalIgnoreCase) && given.Length >= 3)
            .OrderBy(x => x.Distance).ThenBy(x => x.Candidate, StringComparer.Ordinal)
            .Select(x => x.Candidate)
            .FirstOrDefault();
        return best is null ? "" : $"; did you mean '{best}'?";
    }

    // Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours each cost 1.
    private static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }

    /// <summary>The catalogue's phenomenon <paramref name="id"/>, or a one-line error with a suggestion.</summary>
    public static Phenomenon Phenomenon(string id)
    {
        if (Catalogue.All.FirstOrDefault(p => p.Id == id) is { } p) return p;
        throw new CommandLineException($"unknown phenomenon '{id}'{DidYouMean(id, Catalogue.All.Select(x => x.Id))} (see `aperture lab list`)");
    }

    // ---- errors ----

    /// <summary>Set while a command has a store open, so an SQLite failure anywhere can name it.</summary>
    public static string? CurrentStore { get; set; }

    /// <summary>
    /// Runs a command body and turns every failure into one line on standard error and an exit code: 2 for a mistake
    /// in the command line, 1 for anything else, 130 when stopped. An unexpected exception still gets one line; its
    /// stack trace is printed only when APERTURE_DEBUG is set.
    /// </summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (CommandLineException e)
        {
            PrintError(e.Message);
            return 2;
        }
        catch (LabConfigException e)
        {
            PrintError(e.Message);
            return 2;
        }
        catch (OperationCanceledException)
        {
            Console.MarkupLine("[yellow]stopped[/]: finished runs are stored; run the same command again to resume.");
            return 130;
        }
        catch (SqliteException e)
        {
            PrintError(StoreFailure(e));
            return 1;
        }
        catch (DbException e)
        {
            // PostgreSQL (the connection lost, a server error): the server's own words, with the store.
            string store = CurrentStore is { } s ? $"run store '{s}'" : "the run store";
            PrintError($"{store} failed: {(e is Npgsql.PostgresException p ? $"{p.MessageText} (SQLSTATE {p.SqlState})" : e.Message.TrimEnd('.'))}; " +
                       "if the server was restarted or the network dropped, run the same command again to resume");
            return 1;
        }
        catch (Exception e) when (e is LabRunException or IOException or InvalidDataException or UnauthorizedAccessException)
        {
            // A bad data file (DataFormatException is an IOException) or store (InvalidDataException): their
            // messages name the file and what is wrong with it.
            PrintError(e.Message);
            return 1;
        }
        catch (OutOfMemoryException e)
        {
            PrintError($"out of memory ({e.Message}); the input asks for more memory than this machine can give");
            return 1;
        }
        catch (Exception e)
        {
            PrintError($"unexpected {e.GetType().Name}: {e.Message} (this is a bug in Aperture; set APERTURE_DEBUG=1 to see where it happened)");
            if (Environment.GetEnvironmentVariable("APERTURE_DEBUG") is { Length: > 0 }) Error.WriteLine(e.ToString());
            return 1;
        }
        finally
        {
            CurrentStore = null;
        }
    }

    private static string StoreFailure(SqliteException e)
    {
        string store = CurrentStore is { } s ? $"run store '{s}'" : "the run store";
        return e.SqliteErrorCode switch
        {
            11 or 26 => $"{store} is damaged or not an SQLite database ({e.Message.TrimEnd('.')}): restore it from a backup, " +
                        "or move it aside and pass --store NEW.db to start a new one",
            5 or 6 => $"{store} is locked by another process for too long ({e.Message.TrimEnd('.')}); try again when it finishes",
            8 => $"{store} cannot be written ({e.Message.TrimEnd('.')}): check its permissions and those of its folder",
            13 => $"{store}: the disk is full ({e.Message.TrimEnd('.')})",
            _ => $"{store} failed: {e.Message.TrimEnd('.')}; if it persists, move the store aside and pass --store NEW.db",
        };
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
