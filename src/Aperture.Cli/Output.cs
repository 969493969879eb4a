using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Aperture.Cli;

/// <summary>How a listing is printed: <c>--format table|markdown|tsv|json</c>.</summary>
internal enum OutputFormat
{
    /// <summary>A drawn table for a terminal (ASCII borders with TERM=dumb), as wide as the terminal or <c>COLUMNS</c>.</summary>
    Table,
    /// <summary>A GitHub-flavoured Markdown table: one row per line, never wrapped (the default when output is redirected).</summary>
    Markdown,
    /// <summary>Tab-separated values with a header line: one row per line; notes go to standard error.</summary>
    Tsv,
    /// <summary>The command's JSON document (its documented schema) on standard output; notes go to standard error.</summary>
    Json,
}

/// <summary>One cell of a <see cref="Listing"/>: plain text, with a colour used only when drawn as a table in colour.</summary>
internal readonly record struct Cell(string Text, string? Colour = null)
{
    public static implicit operator Cell(string? text) => new(text ?? "");
}

/// <summary>A table of plain text: the form every listing command builds once and prints in any format.</summary>
internal sealed class Listing(params string[] columns)
{
    public IReadOnlyList<string> Columns { get; } = columns;

    public List<Cell[]> Rows { get; } = [];

    public Listing Add(params Cell[] cells)
    {
        if (cells.Length != Columns.Count) throw new ArgumentException($"a row of {cells.Length} cells for {Columns.Count} columns");
        Rows.Add(cells);
        return this;
    }
}

/// <summary>
/// What a command prints and where: the format chosen by <c>--format</c> (table in a terminal, Markdown when
/// redirected), notes beside the listings, and the JSON document of <c>--json PATH|-</c> or <c>--format json</c>.
/// Every path is checked by <see cref="Begin"/>, before any work.
/// </summary>
internal sealed class CommandOutput
{
    private readonly string? _jsonPath;

    private CommandOutput(OutputFormat format, string? jsonPath, bool jsonToStdout)
    {
        Format = format;
        _jsonPath = jsonPath;
        JsonToStandardOutput = jsonToStdout || format == OutputFormat.Json;
    }

    /// <summary>The format of the listings.</summary>
    public OutputFormat Format { get; }

    /// <summary>Whether standard output holds the JSON document only (human output then goes to standard error).</summary>
    public bool JsonToStandardOutput { get; }

    /// <summary>Whether a JSON document is wanted at all.</summary>
    public bool WantsJson => JsonToStandardOutput || _jsonPath is not null;

    /// <summary>
    /// Reads <c>--format</c> and <c>--json</c> (either may be absent from a command), checks the JSON path can be
    /// written, and sends human output to standard error when standard output is the JSON's.
    /// </summary>
    public static CommandOutput Begin(ParseResult r, Option<string?>? format, Option<string?>? json)
    {
        var f = format is not null && r.GetValue(format) is { } name ? Parse(name) : Output.DefaultFormat;
        string? given = json is not null ? r.GetValue(json) : null;
        string? path = given is not null ? Terminal.CheckOutputFile(given, "--json", allowStdout: true) : null;
        var output = new CommandOutput(f, path, given == "-");
        if (output.JsonToStandardOutput) Terminal.HumanOutputToStandardError();
        return output;
    }

    private static OutputFormat Parse(string name) => name switch
    {
        "markdown" => OutputFormat.Markdown,
        "tsv" => OutputFormat.Tsv,
        "json" => OutputFormat.Json,
        _ => OutputFormat.Table,
    };

    // The listings' own format; with --format json they are still shown (on standard error) as a table for a person.
    private OutputFormat ListingFormat => Format == OutputFormat.Json ? Output.DefaultFormat : Format;

    private int _listings;

    /// <summary>Prints a listing in the chosen format (on standard error when standard output holds JSON).</summary>
    public void Write(Listing listing, string? title = null)
    {
        var format = ListingFormat;
        // A blank line between listings (a Markdown table brings its own).
        if (_listings++ > 0 && format != OutputFormat.Markdown) Terminal.Console.Profile.Out.Writer.WriteLine();
        if (title is not null && format != OutputFormat.Tsv) Note(format == OutputFormat.Markdown ? $"### {title}" : title);
        Output.Render(listing, format);
    }

    /// <summary>
    /// A line for a person beside the listings (the store, a count, a command to reproduce): on standard output
    /// for a table or Markdown, on standard error for TSV and JSON, whose standard output is data only.
    /// </summary>
    public void Note(string text)
    {
        if (ListingFormat == OutputFormat.Tsv && !JsonToStandardOutput) Terminal.Error.WriteLine(text);
        else Terminal.Console.Profile.Out.Writer.WriteLine(text);
    }

    /// <summary>Writes the JSON document where <c>--json</c> or <c>--format json</c> asked (built only then).</summary>
    public void Json(Func<JsonObject> document)
    {
        if (!WantsJson) return;
        string text = Output.Serialize(document());
        if (JsonToStandardOutput) Terminal.Out.Write(text);
        if (_jsonPath is not null) Terminal.WriteAtomically(_jsonPath, text);
    }
}

/// <summary>Formatting shared by the commands: the listing renderers, the <c>--format</c> and <c>--json</c> options, and JSON helpers.</summary>
internal static class Output
{
    /// <summary>Table in a terminal; Markdown when standard output is redirected (a log, a pipe): one row per line, never wrapped.</summary>
    public static OutputFormat DefaultFormat => Terminal.Interactive ? OutputFormat.Table : OutputFormat.Markdown;

    /// <summary>The <c>--format</c> option of a listing command.</summary>
    public static Option<string?> FormatOption() => new Option<string?>("--format")
    {
        Description = "table (the default in a terminal), markdown (the default when output is redirected: one row per line), tsv, or json (the --json document on standard output)",
    }.AcceptOnlyFromAmong("table", "markdown", "tsv", "json");

    /// <summary>The <c>--json PATH|-</c> option, naming the document's schema.</summary>
    public static Option<string?> JsonOption(string schema) => new("--json")
    {
        Description = $"also write the result as JSON (schema {schema}, see docs/cli.md) to this file; - for standard output (the rest then goes to standard error)",
    };

    /// <summary>
    /// Prints <paramref name="listing"/> in <paramref name="format"/> (table, Markdown or TSV) on the current console.
    /// </summary>
    public static void Render(Listing listing, OutputFormat format)
    {
        switch (format)
        {
            case OutputFormat.Markdown:
                // A blank line first: a table must not continue a paragraph or the table before it.
                Terminal.Console.Profile.Out.Writer.WriteLine();
                WriteMarkdown(Terminal.Console, listing);
                break;
            case OutputFormat.Tsv:
                WriteTsv(Terminal.Console, listing);
                break;
            default:
                // A table wider than the terminal would wrap every cell into a column of fragments: show each row as
                // a record (one "column: value" line per cell) instead, which reads cleanly at 80 columns.
                if (NaturalWidth(listing) > Terminal.Console.Profile.Width) WriteRecords(Terminal.Console, listing);
                else Terminal.Console.Write(ToTable(listing));
                break;
        }
    }

    /// <summary>Prints a listing of a command without <c>--format</c>: a table in a terminal, Markdown when redirected.</summary>
    public static void Print(Listing listing) => Render(listing, DefaultFormat);

    /// <summary>A Spectre table of <paramref name="listing"/>: rounded borders, ASCII ones with TERM=dumb.</summary>
    public static Table ToTable(Listing listing)
    {
        var table = new Table { Border = Terminal.Plain ? TableBorder.Ascii : TableBorder.Rounded };
        foreach (var c in listing.Columns) table.AddColumn(new TableColumn(Markup.Escape(c)));
        foreach (var row in listing.Rows)
            table.AddRow(row.Select(c => c.Colour is null ? Markup.Escape(c.Text) : $"[{c.Colour}]{Markup.Escape(c.Text)}[/]").ToArray());
        return table;
    }

    /// <summary>The width of <paramref name="listing"/> drawn as a table without wrapping: each column's widest cell, padding and borders.</summary>
    public static int NaturalWidth(Listing listing) =>
        1 + listing.Columns.Select((c, i) => 3 + Math.Max(c.Length, listing.Rows.Count == 0 ? 0 : listing.Rows.Max(r => r[i].Text.Length))).Sum();

    /// <summary>Each row as a block of "column: value" lines, the first cell as its heading, a blank line between rows.</summary>
    public static void WriteRecords(IAnsiConsole console, Listing listing)
    {
        int pad = listing.Columns.Skip(1).Select(c => c.Length).DefaultIfEmpty(0).Max();
        for (int r = 0; r < listing.Rows.Count; r++)
        {
            var row = listing.Rows[r];
            if (r > 0) console.WriteLine();
            console.MarkupLine($"[bold]{Markup.Escape(row[0].Text)}[/]");
            var grid = new Grid().AddColumn(new GridColumn { NoWrap = true, Padding = new Padding(2, 0, 1, 0) }).AddColumn();
            for (int c = 1; c < row.Length; c++)
                grid.AddRow(new Markup(Markup.Escape(listing.Columns[c].PadRight(pad))),
                    new Markup(row[c].Colour is null ? Markup.Escape(row[c].Text) : $"[{row[c].Colour}]{Markup.Escape(row[c].Text)}[/]"));
            console.Write(grid);
        }
    }

    /// <summary>A Markdown table: a pipe in a cell is escaped, line breaks become spaces, so every row stays on one line.</summary>
    public static void WriteMarkdown(IAnsiConsole console, Listing listing)
    {
        var w = console.Profile.Out.Writer;
        static string Md(string s) => OneLine(s).Replace("\\", "\\\\").Replace("|", "\\|");
        w.WriteLine("| " + string.Join(" | ", listing.Columns.Select(Md)) + " |");
        w.WriteLine("|" + string.Join("|", listing.Columns.Select(_ => "---")) + "|");
        foreach (var row in listing.Rows) w.WriteLine("| " + string.Join(" | ", row.Select(c => Md(c.Text))) + " |");
    }

    /// <summary>Tab-separated values with a header line; a tab or line break inside a cell becomes a space.</summary>
    public static void WriteTsv(IAnsiConsole console, Listing listing)
    {
        var w = console.Profile.Out.Writer;
        w.WriteLine(string.Join('\t', listing.Columns.Select(OneLine)));
        foreach (var row in listing.Rows) w.WriteLine(string.Join('\t', row.Select(c => OneLine(c.Text))));
    }

    private static string OneLine(string s)
    {
        if (s.AsSpan().IndexOfAny("\t\r\n") < 0) return s;
        var b = new StringBuilder(s.Length);
        foreach (char c in s) b.Append(c is '\t' or '\r' or '\n' ? ' ' : c);
        return b.ToString();
    }

    /// <summary>A number for JSON: null for NaN and infinities (JSON has neither).</summary>
    public static JsonNode? Num(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;

    /// <summary>A nullable number for JSON.</summary>
    public static JsonNode? Num(double? v) => v is { } x ? Num(x) : null;

    /// <summary>A JSON array of strings.</summary>
    public static JsonArray Strings(IEnumerable<string> items) => new([.. items.Select(s => (JsonNode?)JsonValue.Create(s))]);

    /// <summary>A JSON object of string pairs, in the order given.</summary>
    public static JsonObject Pairs(IEnumerable<KeyValuePair<string, string>> pairs)
    {
        var o = new JsonObject();
        foreach (var (k, v) in pairs) o[k] = v;
        return o;
    }

    /// <summary>Indented JSON, non-ASCII text kept readable, ending in a newline.</summary>
    public static string Serialize(JsonNode node) =>
        node.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";

    /// <summary>The commit in a code version "1.0.0+&lt;sha&gt;", or null when the version carries none.</summary>
    public static string? Commit(string codeVersion)
    {
        int plus = codeVersion.IndexOf('+');
        if (plus < 0) return null;
        string sha = codeVersion[(plus + 1)..];
        return sha.Length >= 7 && sha.All(Uri.IsHexDigit) ? sha : null;
    }

    /// <summary>A short form of a code version for a table column: "1.0.0+368d425" instead of the whole commit.</summary>
    public static string ShortVersion(string codeVersion) =>
        Commit(codeVersion) is { } sha ? codeVersion[..(codeVersion.IndexOf('+') + 1)] + sha[..7] : codeVersion;

    /// <summary>A number in a table cell: G6, "NaN", "∞".</summary>
    public static string G(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
