using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;

namespace Aperture.Cli;

/// <summary>
/// The <c>aperture</c> command: builds the command tree, parses, and runs one command. Callable in-process (the tests
/// do), with its own standard output and error.
/// </summary>
internal static partial class Cli
{
    /// <summary>The command tree.</summary>
    public static RootCommand Build()
    {
        var store = new Option<string?>("--store")
        {
            Description = $"the run store: an SQLite file, or a PostgreSQL database as postgresql://USER@HOST:PORT/DATABASE; " +
                          $"default ${Aperture.Lab.Store.RunStore.PathVariable} or ./aperture.db",
            Recursive = true,
        };
        var artifacts = new Option<string?>("--artifacts")
        {
            Description = "the folder of the store's artifacts: for PostgreSQL, one every node reaches (default " +
                          $"${Aperture.Lab.Store.RunStore.ArtifactsVariable}); for SQLite, default beside the store's file",
            Recursive = true,
        };
        return new RootCommand("Aperture: a deep-learning engine and a phenomena lab.")
        {
            store,
            artifacts,
            LabCommands.Create(store),
            RunsCommands.Create(store),
            ReportCommand.Create(store),
            StoreCommand.Create(),
            TrainCommand.Create(),
            DemoCommand.Create(),
            OpticsCommand.Create(),
            LlcCommand.Create(),
        };
    }

    /// <summary>
    /// Runs the command line <paramref name="args"/>, writing to <paramref name="stdout"/> and <paramref name="stderr"/>,
    /// and returns the exit code: 0 on success, 2 for a mistake in the command line, 1 for any other failure, 130 when
    /// stopped. Nothing escapes as an exception.
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, bool interactive, CancellationToken cancel)
    {
        Terminal.Attach(stdout, stderr, interactive);
        return Terminal.Guard(() =>
        {
            var root = Build();
            var parsed = root.Parse(args);
            if (parsed.Action is not HelpAction && (parsed.Errors.Count > 0 || OptionLikeArgument(parsed) is not null))
            {
                string message = OptionLikeArgument(parsed) is { } token
                    ? $"unknown option {token}{Terminal.DidYouMean(token, OptionNames(parsed.CommandResult.Command))} for `{CommandPath(parsed.CommandResult.Command)}`"
                    : Describe(parsed.Errors.OrderBy(Priority).First(), parsed);
                Terminal.PrintError(message);
                var command = parsed.CommandResult.Command;
                stderr.WriteLine($"usage: {Usage(command)}");
                stderr.WriteLine($"see `{CommandPath(command)} --help` for more");
                return 2;
            }
            var config = new InvocationConfiguration
            {
                Output = stdout,
                Error = stderr,
                ProcessTerminationTimeout = null,
                // Every action runs inside Terminal.Guard; anything that still escaped is reported by the outer Guard.
                EnableDefaultExceptionHandler = false,
            };
            // --artifacts is read where the store is opened, whichever command opens it.
            Terminal.ArtifactsOption = parsed.GetValue<string?>("--artifacts");
            return parsed.InvokeAsync(config, cancel).GetAwaiter().GetResult();
        });
    }

    // A command that takes any number of arguments (`lab run ID...`) would take an unknown option as one of them.
    private static string? OptionLikeArgument(ParseResult parsed) =>
        parsed.CommandResult.Children.OfType<ArgumentResult>()
            .SelectMany(a => a.Tokens).Select(t => t.Value)
            .FirstOrDefault(v => v.Length > 1 && v[0] == '-' && !double.TryParse(v, System.Globalization.CultureInfo.InvariantCulture, out _));

    // An unknown token explains a "required command missing" error too, so it is reported first.
    private static int Priority(ParseError e) =>
        e.Message.StartsWith("Unrecognized", StringComparison.Ordinal) ? 0 : e.Message.StartsWith("Required command", StringComparison.Ordinal) ? 2 : 1;

    /// <summary>One line for a parse error, in the command's own words: the option or argument, what it takes, what was found.</summary>
    private static string Describe(ParseError error, ParseResult parsed)
    {
        string message = error.Message;
        var command = parsed.CommandResult.Command;
        var quoted = Quoted().Matches(message).Select(m => m.Groups[1].Value).ToList();

        if (message.StartsWith("Unrecognized command or argument", StringComparison.Ordinal) && quoted.Count > 0)
        {
            string token = quoted[0];
            if (token.StartsWith('-'))
            {
                var names = OptionNames(command).ToList();
                return $"unknown option {token}{Terminal.DidYouMean(token, names)} for `{CommandPath(command)}`";
            }
            var subcommands = command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name).ToList();
            if (subcommands.Count > 0)
                return $"unknown command '{token}'{Terminal.DidYouMean(token, subcommands)}; `{CommandPath(command)}` has: {string.Join(", ", subcommands)}";
            return $"unexpected argument '{token}' for `{CommandPath(command)}`";
        }
        if (message.StartsWith("Required command was not provided", StringComparison.Ordinal))
            return $"`{CommandPath(command)}` needs a command: {string.Join(", ", command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))}";

        switch (error.SymbolResult)
        {
            case OptionResult o:
            {
                string name = o.Option.Name;
                if (message.StartsWith("Required argument", StringComparison.Ordinal) && message.Contains("missing", StringComparison.Ordinal))
                    return TypeWords(o.Option.ValueType) is "a value" ? $"{name} needs a value" : $"{name} needs a value ({TypeWords(o.Option.ValueType)})";
                if (message.Contains("not recognized. Must be one of", StringComparison.Ordinal) && quoted.Count > 1)
                    return $"{name} must be one of {string.Join(", ", quoted.Skip(1))}; found '{quoted[0]}'{Terminal.DidYouMean(quoted[0], quoted.Skip(1))}";
                if (message.StartsWith("Cannot parse argument", StringComparison.Ordinal) && quoted.Count > 0)
                    return $"{name} expects {TypeWords(o.Option.ValueType)}, found '{quoted[0]}'";
                return $"{name}: {Clean(message)}";
            }
            case ArgumentResult a:
            {
                string name = $"<{a.Argument.Name}>";
                if (message.StartsWith("Required argument", StringComparison.Ordinal) && message.Contains("missing", StringComparison.Ordinal))
                    return $"`{CommandPath(command)}` needs {name}: {a.Argument.Description}";
                if (message.Contains("not recognized. Must be one of", StringComparison.Ordinal) && quoted.Count > 1)
                    return $"{name} must be one of {string.Join(", ", quoted.Skip(1))}; found '{quoted[0]}'{Terminal.DidYouMean(quoted[0], quoted.Skip(1))}";
                if (message.StartsWith("Cannot parse argument", StringComparison.Ordinal) && quoted.Count > 0)
                    return $"{name} expects {TypeWords(a.Argument.ValueType)}, found '{quoted[0]}'";
                return $"{name}: {Clean(message)}";
            }
            default:
                return Clean(message);
        }
    }

    /// <summary>What a value of <paramref name="type"/> looks like, in words (never a .NET type name).</summary>
    public static string TypeWords(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t.IsArray) t = t.GetElementType()!;
        if (t == typeof(int)) return "an integer from -2147483648 to 2147483647";
        if (t == typeof(long)) return "an integer";
        if (t == typeof(ulong)) return "a whole number from 0 to 18446744073709551615";
        if (t == typeof(uint)) return "a whole number from 0 to 4294967295";
        if (t == typeof(double) || t == typeof(float)) return "a number";
        if (t == typeof(bool)) return "true or false";
        return "a value";
    }

    // The parser's own message with any .NET type name put in words and its lines folded into one.
    private static string Clean(string message)
    {
        string text = TypeName().Replace(message, m => Type.GetType(m.Value.Replace("`1[", "`1[[").Replace("]", "]]")) is { } t ? TypeWords(t) : "a value");
        return string.Join(' ', text.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    private static IEnumerable<string> OptionNames(Command command)
    {
        for (Command? c = command; c is not null; c = c.Parents.OfType<Command>().FirstOrDefault())
            foreach (var o in c.Options)
                if (!o.Hidden && (c == command || o.Recursive))
                    foreach (var n in o.Aliases.Prepend(o.Name))
                        if (n.StartsWith("--", StringComparison.Ordinal)) yield return n;
    }

    /// <summary>"aperture lab run".</summary>
    public static string CommandPath(Command command)
    {
        var names = new List<string>();
        for (Command? c = command; c is not null; c = c.Parents.OfType<Command>().FirstOrDefault())
            names.Add(c is RootCommand ? "aperture" : c.Name);
        names.Reverse();
        return string.Join(' ', names);
    }

    /// <summary>The command's one-line usage: "aperture lab run [&lt;id&gt;...] [options]".</summary>
    public static string Usage(Command command)
    {
        var parts = new List<string> { CommandPath(command) };
        if (command.Subcommands.Any(c => !c.Hidden)) parts.Add($"<{string.Join("|", command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))}>");
        foreach (var a in command.Arguments.Where(a => !a.Hidden))
            parts.Add(a.Arity.MinimumNumberOfValues == 0 ? $"[<{a.Name}>...]" : a.Arity.MaximumNumberOfValues > 1 ? $"<{a.Name}>..." : $"<{a.Name}>");
        parts.Add("[options]");
        return string.Join(' ', parts);
    }

    [GeneratedRegex("'([^']*)'")]
    private static partial Regex Quoted();

    [GeneratedRegex(@"System\.[A-Za-z0-9_.]+(`1\[System\.[A-Za-z0-9_.]+\])?")]
    private static partial Regex TypeName();
}
