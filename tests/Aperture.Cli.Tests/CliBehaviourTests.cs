using System.Text.Json;

namespace Aperture.Cli.Tests;

/// <summary>What the command does with good input that the bad-input table cannot show, and the same contract from a real process.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class CliBehaviourTests(BadInputFixture fixture) : IClassFixture<BadInputFixture>
{
    private static readonly string[] TinySweep = ["lab", "run", "momentum-acceleration", "--seeds", "2", "--set", "dimension=10", "--set", "kappas=10,100,1000"];

    [Fact]
    public void JsonDashWritesTheRecordToStandardOutputAndNothingElse()
    {
        string store = fixture.At("json-stdout.db");
        var r = CliHarness.Run([.. TinySweep, "--store", store, "--json", "-"]);
        Assert.True(r.ExitCode == 0, r.All);
        using var doc = JsonDocument.Parse(r.Out);   // the whole of standard output is the JSON record
        Assert.Equal("momentum-acceleration", doc.RootElement.GetProperty("results")[0].GetProperty("id").GetString());
        Assert.Contains("run store:", r.Err);        // the human-readable output went to standard error
        Assert.False(File.Exists("-"));
    }

    [Fact]
    public void ReadOnlyCommandsReadAGoodStore()
    {
        var list = CliHarness.Run("runs", "list", "--store", fixture.At("good.db"));
        Assert.True(list.ExitCode == 0, list.All);
        Assert.Contains("3 runs in", list.Out);
        var show = CliHarness.Run("runs", "show", fixture.RunIds[0][..8], "--store", fixture.At("good.db"));
        Assert.True(show.ExitCode == 0, show.All);
        Assert.Contains(fixture.RunIds[0], show.Out);
        var csv = CliHarness.Run("runs", "export", "--store", fixture.At("good.db"), "-o", "-");
        Assert.True(csv.ExitCode == 0, csv.All);
        Assert.Equal(4, csv.Out.Trim().Split('\n').Length);
    }

    [Fact]
    public void ParseErrorsPrintTheCommandsUsageNotItsHelp()
    {
        var r = CliHarness.Run("lab", "run", "--seeds", "x", "momentum-acceleration");
        var lines = r.Err.Trim().Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.Equal("usage: aperture lab run [<id>...] [options]", lines[1].Trim());
        Assert.DoesNotContain("Options:", r.All);
    }

    /// <summary>
    /// A user who cannot install packages: with the King James Bible's program off the PATH, <c>lab run --all</c> runs
    /// every other phenomenon, names the skipped one and its package before the runs and under the table, lists it in
    /// the JSON, and exits 0; <c>lab run word-analogies</c> alone stops with one error line and leaves no store.
    /// </summary>
    [Fact]
    public void LabRunAllSkipsAPhenomenonWhoseCorpusIsNotInstalledAndRunsTheRest()
    {
        var noBible = new Dictionary<string, string> { ["PATH"] = fixture.At("empty-path") };
        string store = fixture.At("skip-corpus.db"), json = fixture.At("skip-corpus.json");
        var r = CliHarness.RunProcess(noBible, "lab", "run", "--all", "--seeds", "2", "--no-replication", "--store", store, "--json", json);
        Assert.True(r.ExitCode == 0, r.All);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var skippedLines = lines.Select((l, i) => (l, i)).Where(x => x.l.StartsWith("skipped word-analogies, its data is not on this machine: ", StringComparison.Ordinal)).ToList();
        Assert.True(skippedLines.Count == 2, r.All);
        Assert.All(skippedLines, x => Assert.Contains("'bible' (not found); install the Debian packages bible-kjv", x.l));
        int table = Array.FindIndex(lines, l => l.StartsWith("| phenomenon", StringComparison.Ordinal));
        Assert.True(skippedLines[0].i < table && skippedLines[1].i > table, r.All);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var ran = doc.RootElement.GetProperty("results").EnumerateArray().Select(x => x.GetProperty("id").GetString()).ToList();
        Assert.Equal(Aperture.Lab.Catalogue.All.Select(p => p.Id).Where(id => id != "word-analogies"), ran);
        var skipped = doc.RootElement.GetProperty("skipped").EnumerateArray().Single();
        Assert.Equal("word-analogies", skipped.GetProperty("id").GetString());
        Assert.Contains("bible-kjv", skipped.GetProperty("reason").GetString());

        string alone = fixture.At("skip-corpus-alone.db");
        CliHarness.AssertOneLineError(CliHarness.RunProcess(noBible, "lab", "run", "word-analogies", "--store", alone), "bible-kjv", "lab run word-analogies without bible");
        Assert.False(File.Exists(alone));
    }

    public static TheoryData<string[], string> ProcessCases() => new()
    {
        { ["lab", "run", "momentum-acceleration", "--frob"], "unknown option --frob" },
        { ["lab", "run", "momentum-acceleration", "--seeds", "x"], "--seeds expects an integer" },
        { ["runs", "list", "--store", "{d}/zero.db"], "zero.db" },
        { ["runs", "list", "--store", "{d}/pages.db"], "pages.db" },
        { ["train", "--epochs", "1", "--data-dir", "{d}/data-garbage"], "data-garbage" },
        { ["train", "--json", "{ro}/x.json"], "is not writable" },
    };

    /// <summary>The same contract from the built command run as a child process: the real console, exit codes and streams.</summary>
    [Theory]
    [MemberData(nameof(ProcessCases))]
    public void AsAProcess(string[] args, string expect)
    {
        string Fill(string s) => s.Replace("{d}", fixture.Dir).Replace("{ro}", fixture.ReadOnly);
        var filled = args.Select(Fill).ToArray();
        CliHarness.AssertOneLineError(CliHarness.RunProcess(filled), Fill(expect), "aperture " + string.Join(' ', filled));
    }
}
