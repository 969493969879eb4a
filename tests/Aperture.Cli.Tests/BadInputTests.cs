namespace Aperture.Cli.Tests;

/// <summary>
/// The table of bad command lines: each gives a non-zero exit, no stack trace, and one error line naming the
/// argument or file (plus, for a parse error, the command's usage). Placeholders: {d} the fixture folder, {ro} a
/// folder this process cannot write, {run} the first 8 digits of a run in good.db.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class BadInputTests(BadInputFixture fixture) : IClassFixture<BadInputFixture>
{
    /// <summary>A bad command line, the text its error line must contain, and a path that must not exist afterwards.</summary>
    public sealed record Case(string Expect, string[] Args, string? MustNotExist = null)
    {
        public override string ToString() => string.Join(' ', Args.Select(a => a.Length == 0 ? "\"\"" : a));
    }

    private static Case C(string expect, params string[] args) => new(expect, args);

    // A sweep of a few seconds, if anything let it start.
    private static readonly string[] TinySweep = ["lab", "run", "momentum-acceleration", "--seeds", "2", "--set", "dimension=10", "--set", "kappas=10,100,1000"];

    private static Case Sweep(string expect, params string[] more) => new(expect, [.. TinySweep, .. more]);

    public static IEnumerable<Case> Cases()
    {
        // ---- commands and options the parser rejects ----
        yield return C("needs a command");
        yield return C("'frob'", "frob");
        yield return C("--frob", "--frob");
        yield return C("`aperture lab` needs a command", "lab");
        yield return C("'frob'", "lab", "frob");
        yield return C("did you mean 'list'", "lab", "lsit");
        yield return C("`aperture runs` needs a command", "runs");
        yield return C("did you mean 'export'", "runs", "exprot");
        yield return C("did you mean 'report'", "reprot");
        yield return C("--store needs a value", "runs", "list", "--store");

        // ---- lab run: arguments ----
        yield return C("name at least one phenomenon", "lab", "run");
        yield return C("unknown option --frob", "lab", "run", "momentum-acceleration", "--frob");
        yield return C("unknown option --frob", "lab", "run", "--frob");
        yield return C("did you mean '--seeds'", "lab", "run", "momentum-acceleration", "--seed", "3");
        yield return C("did you mean 'momentum-acceleration'", "lab", "run", "momentum-acceleraton");
        yield return C("unknown phenomenon 'zzz'", "lab", "run", "zzz");
        yield return C("--all", "lab", "run", "--all", "momentum-acceleration");
        yield return C("named twice", "lab", "run", "momentum-acceleration", "momentum-acceleration");
        yield return C("--seeds expects an integer", "lab", "run", "momentum-acceleration", "--seeds", "abc");
        yield return C("--seeds expects an integer", "lab", "run", "momentum-acceleration", "--seeds", "1.5");
        yield return C("--seeds expects an integer", "lab", "run", "momentum-acceleration", "--seeds", "99999999999");
        yield return C("--seeds needs a value", "lab", "run", "momentum-acceleration", "--seeds");
        yield return C("seeds", "lab", "run", "momentum-acceleration", "--seeds", "0");
        yield return C("seeds", "lab", "run", "momentum-acceleration", "--seeds", "-3");
        yield return C("--seed-base expects an integer", "lab", "run", "momentum-acceleration", "--seed-base", "x");
        yield return C("seed_base", "lab", "run", "momentum-acceleration", "--seed-base", "-1");
        yield return C("--tier must be one of quick, full; found 'medium'", "lab", "run", "momentum-acceleration", "--tier", "medium");
        yield return C("did you mean 'quick'", "lab", "run", "momentum-acceleration", "--tier", "quik");
        yield return C("--tier needs a value", "lab", "run", "momentum-acceleration", "--tier");
        yield return C("--set needs a value", "lab", "run", "momentum-acceleration", "--set");
        yield return C("'noequals'", "lab", "run", "momentum-acceleration", "--set", "noequals");
        yield return C("'=5'", "lab", "run", "momentum-acceleration", "--set", "=5");
        yield return C("did you mean 'dimension'", "lab", "run", "momentum-acceleration", "--set", "dimenson=3");
        yield return C("did you mean 'kappas'", "lab", "run", "momentum-acceleration", "--set", "kapas=10,100");
        yield return C("dimension", "lab", "run", "momentum-acceleration", "--set", "dimension=abc");
        yield return C("dimension", "lab", "run", "momentum-acceleration", "--set", "dimension=1");
        yield return C("kappas", "lab", "run", "momentum-acceleration", "--set", "kappas=10");
        yield return C("'init-scale' is not among", "lab", "run", "momentum-acceleration", "--set", "init-scale.seeds=3");
        yield return C("did you mean 'momentum-acceleration'", "lab", "run", "momentum-acceleration", "--set", "momentum-acceleraton.dimension=3");

        // ---- lab run: paths, all checked before anything runs (the store is not even created) ----
        foreach (var (expect, json) in new[]
                 {
                     ("--json needs a file path", ""), ("is a directory", "{d}"), ("'{d}/afile' is a file", "{d}/afile/out.json"),
                     ("is not writable", "{ro}/out.json"), ("'{d}/afile' is a file", "{d}/afile/deeper/out.json"),
                 })
            yield return new Case(expect, [.. TinySweep, "--json", json, "--store", "{d}/never-json.db"], "{d}/never-json.db");
        yield return C("--json needs a value", [.. TinySweep, "--json"]);
        yield return new Case("--data-dir '{d}/missing-data' does not exist", [.. TinySweep, "--data-dir", "{d}/missing-data", "--store", "{d}/never-data.db"], "{d}/never-data.db");
        yield return new Case("'{d}/afile' is a file", [.. TinySweep, "--data-dir", "{d}/afile", "--store", "{d}/never-data.db"], "{d}/never-data.db");
        yield return new Case("--data-dir needs a folder path", [.. TinySweep, "--data-dir", "", "--store", "{d}/never-data.db"], "{d}/never-data.db");
        yield return C("--store needs a file path", [.. TinySweep, "--store", ""]);
        yield return C("'{d}/folder.db' is a directory", [.. TinySweep, "--store", "{d}/folder.db"]);
        yield return C("'{d}/afile' is a file", [.. TinySweep, "--store", "{d}/afile/runs.db"]);
        yield return C("{ro}/new.db", [.. TinySweep, "--store", "{ro}/new.db"]);
        // A Fashion-MNIST phenomenon reading a broken data folder.
        foreach (var data in new[] { "data-empty", "data-garbage", "data-truncated", "data-short" })
            yield return new Case(data, ["lab", "run", "random-labels", "--seeds", "2", "--data-dir", "{d}/" + data, "--store", "{d}/never-" + data + ".db"],
                "{d}/never-" + data + ".db");

        // ---- lab show, list, rules ----
        yield return C("`aperture lab show` needs <id>", "lab", "show");
        yield return C("did you mean 'momentum-acceleration'", "lab", "show", "momentum-accelaration");
        yield return C("--tier must be one of", "lab", "show", "momentum-acceleration", "--tier", "huge");
        yield return C("unexpected argument 'extra'", "lab", "show", "momentum-acceleration", "extra");
        yield return C("unknown option --frob", "lab", "list", "--frob");
        yield return C("unexpected argument 'extra'", "lab", "list", "extra");
        yield return new Case("--simulations must be at least 10", ["lab", "rules", "--simulations", "5", "--store", "{d}/good.db"]);
        yield return C("--simulations expects an integer", "lab", "rules", "--simulations", "many");
        yield return new Case("{d}/missing-rules.db", ["lab", "rules", "--store", "{d}/missing-rules.db"], "{d}/missing-rules.db");

        // ---- runs ----
        yield return C("did you mean 'running'", "runs", "list", "--status", "runing", "--store", "{d}/good.db");
        yield return C("unknown option --frob", "runs", "list", "--frob");
        yield return C("--phenomenon needs a value", "runs", "list", "--phenomenon");
        yield return new Case("no run store at '{d}/missing-list.db'", ["runs", "list", "--store", "{d}/missing-list.db"], "{d}/missing-list.db");
        yield return C("`aperture runs show` needs <run>", "runs", "show");
        yield return C("'xyz'", "runs", "show", "xyz", "--store", "{d}/good.db");
        yield return C("'abcdef0123'", "runs", "show", "abcdef0123", "--store", "{d}/good.db");
        yield return new Case("{d}/missing-show.db", ["runs", "show", "{run}", "--store", "{d}/missing-show.db"], "{d}/missing-show.db");
        yield return C("'{d}' is a directory", "runs", "export", "--store", "{d}/good.db", "-o", "{d}");
        yield return C("'{d}/afile' is a file", "runs", "export", "--store", "{d}/good.db", "-o", "{d}/afile/runs.csv");
        yield return C("is not writable", "runs", "export", "--store", "{d}/good.db", "-o", "{ro}/runs.csv");
        yield return C("--output needs a file path", "runs", "export", "--store", "{d}/good.db", "-o", "");
        yield return C("--output needs a value", "runs", "export", "--store", "{d}/good.db", "-o");
        yield return new Case("{d}/missing-export.db", ["runs", "export", "--store", "{d}/missing-export.db"], "{d}/missing-export.db");
        yield return C("'{d}' is a directory", "runs", "export", "--store", "{d}/good.db", "--metrics", "{d}");
        yield return C("is not writable", "runs", "export", "--store", "{d}/good.db", "--verdicts", "{ro}/verdicts.csv");
        yield return C("'{d}/afile' is a file", "runs", "export", "--store", "{d}/good.db", "--dir", "{d}/afile");
        yield return C("--parquet goes with --dir", "runs", "export", "--store", "{d}/good.db", "--parquet");
        // A named file's format is its extension's: no CSV written under another format's name.
        yield return new Case("--output '{d}/runs.xlsx': runs export writes CSV (a file named *.csv) or Parquet (*.parquet), found the extension '.xlsx'",
            ["runs", "export", "--store", "{d}/good.db", "-o", "{d}/runs.xlsx"], "{d}/runs.xlsx");
        yield return new Case("--metrics '{d}/metrics': runs export writes CSV (a file named *.csv) or Parquet (*.parquet), found no extension",
            ["runs", "export", "--store", "{d}/good.db", "--metrics", "{d}/metrics"], "{d}/metrics");
        yield return new Case("--verdicts '{d}/v.csv': --parquet asks for Parquet, but the file is named *.csv",
            ["runs", "export", "--store", "{d}/good.db", "--dir", "{d}/pq-export", "--parquet", "--verdicts", "{d}/v.csv"], "{d}/pq-export");
        yield return C("--output -: standard output is written as CSV, but --parquet asks for Parquet", "runs", "export", "--store", "{d}/good.db", "--dir", "{d}/pq-export", "--parquet", "-o", "-");
        yield return C("only one export can go to standard output", "runs", "export", "--store", "{d}/good.db", "-o", "-", "--metrics", "-");
        yield return C("--format must be one of table, markdown, tsv, json; found 'csv'", "runs", "list", "--format", "csv", "--store", "{d}/good.db");
        yield return C("--tier must be one of quick, full", "runs", "list", "--tier", "medium", "--store", "{d}/good.db");
        yield return C("--limit must be 0 (all) or more", "runs", "list", "--limit", "-2", "--store", "{d}/good.db");
        yield return C("--limit expects an integer", "runs", "list", "--limit", "many", "--store", "{d}/good.db");
        yield return C("--tag expects KEY=VALUE", "runs", "list", "--tag", "novalue", "--store", "{d}/good.db");
        yield return C("is not writable", "runs", "list", "--json", "{ro}/runs.json", "--store", "{d}/good.db");
        // A folder no file can be created in (Linux's /proc): the reason in words, not the name of the file tried.
        if (OperatingSystem.IsLinux()) yield return C("the folder '/proc' is not writable (no file can be created there)", "runs", "list", "--json", "/proc/runs.json", "--store", "{d}/good.db");
        yield return C("`aperture runs metrics` needs <run>", "runs", "metrics");
        yield return C("'abcdef0123'", "runs", "metrics", "abcdef0123", "--store", "{d}/good.db");
        yield return C("no metric 'nonesuch'", "runs", "metrics", "{run}", "nonesuch", "--store", "{d}/good.db");
        yield return C("is not writable", "runs", "metrics", "{run}", "--csv", "{ro}/m.csv", "--store", "{d}/good.db");
        yield return C("cannot share it", "runs", "metrics", "{run}", "--csv", "-", "--json", "-", "--store", "{d}/good.db");
        yield return C("`aperture runs compare` needs <b>", "runs", "compare", "{run}");
        yield return C("'abcdef0123'", "runs", "compare", "{run}", "abcdef0123", "--store", "{d}/good.db");
        yield return C("`aperture runs tag` needs <tag>", "runs", "tag", "{run}");
        yield return C("<tag> expects KEY=VALUE, found '=x'", "runs", "tag", "{run}", "=x", "--store", "{d}/good.db");
        yield return new Case("no run store at '{d}/missing-tag.db'", ["runs", "tag", "{run}", "a=b", "--store", "{d}/missing-tag.db"], "{d}/missing-tag.db");
        yield return C("`aperture runs note` needs <text>", "runs", "note", "{run}");
        yield return C("needs some text", "runs", "note", "{run}", " ", "--store", "{d}/good.db");
        yield return C("did you mean 'momentum-acceleration'", "verdicts", "list", "momentum-aceleration", "--store", "{d}/good.db");
        yield return C("`aperture verdicts` needs a command", "verdicts");
        yield return C("is not writable", "lab", "list", "--json", "{ro}/lab.json");
        yield return C("did you mean 'markdown'", "lab", "show", "momentum-acceleration", "--format", "markdwn");

        // ---- report ----
        yield return C("'{d}/afile' is a file", "report", "--store", "{d}/good.db", "-o", "{d}/afile");
        yield return C("'{d}/afile' is a file", "report", "--store", "{d}/good.db", "-o", "{d}/afile/report");
        yield return C("is not writable", "report", "--store", "{d}/good.db", "-o", "{ro}/report");
        yield return C("--output needs a folder path", "report", "--store", "{d}/good.db", "-o", "");
        yield return new Case("{d}/missing-report.db", ["report", "--store", "{d}/missing-report.db", "-o", "{d}/report-never"], "{d}/missing-report.db");

        // ---- train ----
        yield return C("--epochs expects an integer", "train", "--epochs", "abc");
        yield return C("epochs", "train", "--epochs", "0");
        yield return C("epochs", "train", "--epochs", "-1");
        yield return C("batch", "train", "--batch-size", "0");
        yield return C("--lr expects a number", "train", "--lr", "abc");
        yield return C("learning rate", "train", "--lr", "-1");
        yield return C("learning rate", "train", "--lr", "NaN");
        yield return C("did you mean 'mlp'", "train", "--model", "mpl");
        yield return C("--data must be one of", "train", "--data", "cifar10");
        yield return C("--seed expects a whole number", "train", "--seed", "-1");
        yield return C("unknown option --frob", "train", "--frob");
        yield return C("--data-dir '{d}/missing-data' does not exist", "train", "--data-dir", "{d}/missing-data");
        yield return C("'{d}/afile' is a file", "train", "--data-dir", "{d}/afile");
        foreach (var data in new[] { "data-empty", "data-garbage", "data-truncated", "data-short" })
            yield return C(data, "train", "--epochs", "1", "--data-dir", "{d}/" + data);
        yield return C("--json needs a file path", "train", "--json", "");
        yield return C("is a directory", "train", "--json", "{d}");
        yield return C("'{d}/afile' is a file", "train", "--json", "{d}/afile/train.json");
        yield return C("is not writable", "train", "--json", "{ro}/train.json");

        // ---- demo ----
        yield return C("unexpected argument 'extra'", "demo", "extra");
        yield return C("unknown option --frob", "demo", "--frob");

        // ---- damaged, foreign and misplaced stores, through every command that opens one ----
        foreach (var store in BadInputFixture.DamagedStores)
        {
            string s = "{d}/" + store;
            yield return C(store, "runs", "list", "--store", s);
            yield return C(store, "runs", "show", "{run}", "--store", s);
            yield return C(store, "runs", "export", "--store", s);
            yield return C(store, "report", "--store", s, "-o", "{d}/report-" + store);
            yield return C(store, "lab", "rules", "--store", s);
            // An SQLite file with no tables at all is where a concurrent sweep is creating a store: a sweep takes it.
            if (store != "no-tables.db") yield return Sweep(store, "--store", s);
        }
        foreach (var cmd in new[] { new[] { "runs", "list" }, ["runs", "export"], ["report", "-o", "{d}/report-folder"], ["lab", "rules"] })
        {
            yield return C("'{d}/folder.db' is a directory", [.. cmd, "--store", "{d}/folder.db"]);
            yield return C("'{d}/afile' is a file", [.. cmd, "--store", "{d}/afile/runs.db"]);
        }

        // ---- PostgreSQL addresses that are malformed, name no server that answers, or lack an artifacts folder ----
        // (port 1 on loopback: nothing listens there, so the connection is refused at once)
        const string Nowhere = "postgresql://nobody@127.0.0.1:1/aperture";
        yield return C("--store 'postgresql://u@db.example.org' names no database", "runs", "list", "--store", "postgresql://u@db.example.org");
        yield return C("parameter 'colour'", "runs", "list", "--store", "postgresql://u@h/db?colour=blue");
        yield return C("sslmode='sometimes'", "runs", "list", "--store", "postgresql://u@h/db?sslmode=sometimes");
        yield return C("is a mysql:// address", "runs", "list", "--store", "mysql://u@h/db");
        yield return C("not a valid Npgsql connection string", "runs", "list", "--store", "Host=h;Frobnicate=1");
        yield return C("needs an artifacts folder that every node reaches: pass --artifacts DIR", [.. TinySweep, "--store", Nowhere]);
        yield return C("is the server running", [.. TinySweep, "--store", Nowhere, "--artifacts", "{d}/pg-artifacts"]);
        yield return C("is the server running", "runs", "list", "--store", Nowhere, "--artifacts", "{d}/pg-artifacts");
        yield return C("--artifacts '{d}/afile' is a file", "runs", "list", "--store", Nowhere, "--artifacts", "{d}/afile");
        yield return C("<to> 'postgresql://u@h' names no database", "store", "copy", "{d}/good.db", "postgresql://u@h");
        yield return C("no run store at '{d}/missing-copy.db'", "store", "copy", "{d}/missing-copy.db", "{d}/never-copy.db");
        yield return C("needs an artifacts folder that every node reaches: pass --to-artifacts DIR", "store", "copy", "{d}/good.db", Nowhere);
        yield return C("same store", "store", "copy", "{d}/good.db", "{d}/good.db");

        yield return C("a sweep runs one phenomenon; 2 are named (momentum-acceleration, relu-piecewise-linear): --executor processes runs a sweep, so give one command per phenomenon",
            "lab", "run", "momentum-acceleration", "relu-piecewise-linear", "--executor", "processes", "--store", "{d}/never-two.db");

        // ---- words train: the trainer's settings, named by their options and checked before the corpus is read ----
        yield return C("--dim must lie in [1, 10000] (got 0)", "words", "train", "--corpus", "planted", "--dim", "0");
        yield return C("--window must lie in [1, 100] (got 101)", "words", "train", "--corpus", "planted", "--window", "101");
        yield return C("--negatives must lie in [0, 100] (got -1)", "words", "train", "--corpus", "planted", "--negatives", "-1");
        yield return C("--epochs must lie in [1, 10000] (got 0)", "words", "train", "--corpus", "planted", "--epochs", "0");
        yield return C("--alpha must lie in [1E-09, 10] (got 0)", "words", "train", "--corpus", "planted", "--alpha", "0");
        yield return C("--alpha must lie in [1E-09, 10] (got NaN)", "words", "train", "--corpus", "planted", "--alpha", "NaN");
        yield return C("--sample must lie in [0, 1] (got 2)", "words", "train", "--corpus", "planted", "--sample", "2");
        // A text with too few words (three words once each under the default --min-count 5; an empty file).
        yield return C("--corpus '{d}/afile' has 0 distinct word(s) seen at least 5 time(s) (--min-count)", "words", "train", "--corpus", "{d}/afile");
        yield return C("--corpus '{d}/zero.db' has 0 distinct word(s) seen at least 1 time(s)", "words", "train", "--corpus", "{d}/zero.db", "--min-count", "1");
    }

    public static TheoryData<Case> Table() => [.. Cases()];

    [Theory]
    [MemberData(nameof(Table))]
    public void BadInputGetsOneLineAndNoStackTrace(Case c)
    {
        string Fill(string s) => s.Replace("{d}", fixture.Dir).Replace("{ro}", fixture.ReadOnly).Replace("{run}", fixture.RunIds[0][..8]);
        var args = c.Args.Select(Fill).ToArray();
        var result = CliHarness.Run(args);
        CliHarness.AssertOneLineError(result, Fill(c.Expect), "aperture " + string.Join(' ', args));
        if (c.MustNotExist is { } path) Assert.False(File.Exists(Fill(path)), $"{Fill(path)} was created");
    }

    [Fact]
    public void TheTableIsAtLeastTheIssuesSize()
    {
        var cases = Cases().ToList();
        Assert.True(cases.Count >= 95, $"{cases.Count} cases");
        Assert.Equal(cases.Count, cases.Select(c => c.ToString()).Distinct().Count());
    }
}
