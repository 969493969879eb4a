using Aperture.Lab;
using Aperture.Lab.Store;
using Aperture.Lab.Sweeps;

namespace Aperture.Cli.Tests;

/// <summary>
/// <c>aperture lab run</c> as a sweep: <c>--set</c> with several values and ranges, <c>--sweep FILE</c> in JSON and
/// YAML, the executors' options, <c>lab status</c> and <c>lab cancel</c>, and one-line errors for bad input.
/// </summary>
public sealed class SweepCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "aperture-sweep-cli-" + Guid.NewGuid().ToString("N")[..10]);

    public SweepCommandTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string At(string name) => Path.Combine(_dir, name);

    private static readonly string[] Tiny = ["--seeds", "2", "--no-replication", "--set", "kappas=10,100,1000", "--set", "noisy_kappa=100"];

    private static IReadOnlyList<ProtocolSetting> MomentumSettings => ProtocolBinding.Settings(Catalogue.Get("momentum-acceleration").Defaults(Tier.Quick));

    [Fact]
    public void SetSplitsFixedValuesListsAndRanges()
    {
        var (fixedSettings, axes) = SweepArguments.Split(
        [
            KeyValuePair.Create("dimension", "8,16"),
            KeyValuePair.Create("tolerance", "log:1e-8..1e-4:3"),
            KeyValuePair.Create("noisy_kappa", "100"),
            KeyValuePair.Create("kappas", "10,100"),               // a list setting: one value
            KeyValuePair.Create("momenta", "0.5,0.9;0.8,0.99"),    // a list setting swept: lists separated by ';'
            KeyValuePair.Create("rows_per_dimension", "int:2..4"),
            KeyValuePair.Create("step_scales", "1"),
        ], MomentumSettings);
        Assert.Equal(["noisy_kappa=100", "kappas=10,100", "step_scales=1"], fixedSettings.Select(kv => $"{kv.Key}={kv.Value}"));
        Assert.Equal(["dimension", "tolerance", "momenta", "rows_per_dimension"], axes.Select(a => a.Setting));
        Assert.Equal(["8", "16"], axes[0].Expand());
        Assert.Equal(SweepAxisKind.LogUniform, axes[1].Kind);
        var tolerances = axes[1].Expand().Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(1e-8, tolerances[0]);
        Assert.Equal(1e-6, tolerances[1]);   // exactly the number typed on a whole decade
        Assert.Equal(1e-4, tolerances[2]);
        Assert.Equal(["0.5,0.9", "0.8,0.99"], axes[2].Expand());
        Assert.Equal(["2", "3", "4"], axes[3].Expand());
        var lin = SweepArguments.Split([KeyValuePair.Create("tolerance", "lin:0..1:5")], MomentumSettings).Axes.Single();
        Assert.Equal(["0", "0.25", "0.5", "0.75", "1"], lin.Expand());
    }

    [Theory]
    [InlineData("tolerance=log:1e-8..1e-4", "give how many values")]
    [InlineData("tolerance=log:1e-8-1e-4:3", "expected MIN..MAX")]
    [InlineData("tolerance=lin:a..b:3", "expected numbers")]
    [InlineData("tolerance=lin:0..1:three", "the count must be an integer")]
    [InlineData("dimension=int:1.5..4", "int ranges need integer ends")]
    [InlineData("tolerance=log:0..1:3", "needs min > 0")]
    [InlineData("tolerance=lin:1..0:3", "min ≤ max")]
    [InlineData("kappas=log:1..100:3", "is a list")]
    [InlineData("dimension=8,,16", "an empty value")]
    [InlineData("dimension=8,8", "listed twice")]
    [InlineData("dimension=8,-4", "sweep point 1 (dimension=-4)")]
    [InlineData("learning_rate=0.1,0.2", "no setting 'learning_rate'")]
    public void BadSweepsAreOneLineErrors(string set, string expected)
    {
        var r = CliHarness.Run(["lab", "run", "momentum-acceleration", "--store", At("bad.db"), "--seeds", "2", "--set", set]);
        CliHarness.AssertOneLineError(r, expected, set);
        Assert.Equal(2, r.ExitCode);
    }

    [Fact]
    public void SweepRunsEveryPointAndStatusShowsTheRecord()
    {
        string store = At("sweep.db");
        var r = CliHarness.Run(["lab", "run", "momentum-acceleration", "--store", store, .. Tiny, "--set", "dimension=8,12"]);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("2 grid points", r.Out);
        string id;
        using (var s = RunStore.OpenExisting(store))
        {
            var sweep = Assert.Single(s.Sweeps());
            id = sweep.Id;
            Assert.Equal(2, sweep.Points.Count);
            Assert.All(sweep.Points, p => Assert.NotNull(p.Outcome));
            Assert.Equal(sweep.RunCount, s.ListRuns().Count);
        }
        Assert.Contains($"sweep {id} judged", r.Out);
        // Redirected, the judged points are a Markdown table: one row per point and block, no box drawing.
        Assert.Contains("| point | dimension | block | verdict | effect [95% CI] | seeds |", r.Out);
        Assert.Equal(2, r.Out.Split('\n').Count(l => l.StartsWith("| ", StringComparison.Ordinal) && l.Contains(" | discovery | ", StringComparison.Ordinal)));
        Assert.DoesNotContain(r.Out, c => c is >= '\u2500' and <= '\u257F');
        var status = CliHarness.Run(["lab", "status", id[..6], "--store", store]);
        Assert.True(status.ExitCode == 0, status.All);
        Assert.Contains(id, status.Out);
        Assert.Contains("dimension", status.Out);
        Assert.DoesNotContain(status.Out, c => c is >= '\u2500' and <= '\u257F');
        // TSV: the points only, the notes on standard error.
        var tsv = CliHarness.Run(["lab", "status", id[..6], "--store", store, "--format", "tsv"]);
        Assert.True(tsv.ExitCode == 0, tsv.All);
        var lines = tsv.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("point\tdimension\tblock\truns finished\trunning\tfailed\tverdict\teffect [95% CI]", lines[0]);
        Assert.Equal(3, lines.Length);   // the header and two points (no replication block)
        Assert.Contains(id, tsv.Err);
        Assert.DoesNotContain("lease that has lapsed", status.All);
        // A run left marked running by a worker killed before it could release it (its lease lapsed) is said to be
        // without a worker, and the rerun below takes it over.
        string orphan;
        using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={store};Pooling=False"))
        {
            c.Open();
            using var pick = c.CreateCommand();
            pick.CommandText = "SELECT run_id FROM runs ORDER BY run_id LIMIT 1";
            orphan = (string)pick.ExecuteScalar()!;
            using var kill = c.CreateCommand();
            kill.CommandText = "UPDATE runs SET status = 'running', lease_owner = 'vm/1/1/gone', lease_expires = 1 WHERE run_id = $id";
            kill.Parameters.AddWithValue("$id", orphan);
            Assert.Equal(1, kill.ExecuteNonQuery());
        }
        var orphaned = CliHarness.Run(["lab", "status", id[..6], "--store", store]);
        Assert.True(orphaned.ExitCode == 0, orphaned.All);
        Assert.Contains($"1 running run(s) hold a lease that has lapsed ({orphan[..12]}): no worker holds them any more", orphaned.All);
        // A rerun reuses every finished run (and computes the orphaned one again).
        var again = CliHarness.Run(["lab", "run", "momentum-acceleration", "--store", store, .. Tiny, "--set", "dimension=8,12"]);
        Assert.True(again.ExitCode == 0, again.All);
        Assert.Contains("runs are already finished in the store and are reused", again.Out);
        using (var s = RunStore.OpenExisting(store)) Assert.Equal(RunStatus.Finished, s.StatusesOf([orphan])[orphan]);
    }

    [Fact]
    public void YamlAndJsonSpecFilesDescribeTheSameSweep()
    {
        File.WriteAllText(At("sweep.yaml"), """
            # a W&B-shaped sweep
            method: grid
            phenomenon: momentum-acceleration
            seeds: 2
            replicate: false
            parameters:
              kappas: {value: [10, 100, 1000]}
              noisy_kappa: {value: 100}
              dimension:
                values: [8, 12]
            """);
        File.WriteAllText(At("sweep.json"), """
            {"method": "grid", "phenomenon": "momentum-acceleration", "seeds": 2, "replicate": false,
             "parameters": {"kappas": {"value": [10, 100, 1000]}, "noisy_kappa": {"value": 100}, "dimension": {"values": [8, 12]}}}
            """);
        var yaml = CliHarness.Run(["lab", "run", "--sweep", At("sweep.yaml"), "--store", At("y.db")]);
        Assert.True(yaml.ExitCode == 0, yaml.All);
        var json = CliHarness.Run(["lab", "run", "--sweep", At("sweep.json"), "--store", At("j.db")]);
        Assert.True(json.ExitCode == 0, json.All);
        // The same sweep as on the command line, to the id.
        var cli = CliHarness.Run(["lab", "run", "momentum-acceleration", "--store", At("c.db"), .. Tiny, "--set", "dimension=8,12"]);
        Assert.True(cli.ExitCode == 0, cli.All);
        string Id(string db)
        {
            using var s = RunStore.OpenExisting(At(db));
            return Assert.Single(s.Sweeps()).Id;
        }
        Assert.Equal(Id("y.db"), Id("j.db"));
        Assert.Equal(Id("c.db"), Id("j.db"));
    }

    [Theory]
    [InlineData("bad.yaml", "parameters: [unclosed", "not valid YAML at line")]
    [InlineData("bad.json", "{\"parameters\": ", "not valid JSON")]
    [InlineData("method.yaml", "method: bayes\nphenomenon: momentum-acceleration\nparameters: {}", "must be grid")]
    [InlineData("dup.yaml", "phenomenon: momentum-acceleration\nparameters: {}\nparameters: {}", "Duplicate key parameters")]
    [InlineData("unknown.yaml", "phenomenon: nope\nparameters: {}", "no phenomenon 'nope'")]
    [InlineData("range.yaml", "phenomenon: momentum-acceleration\nparameters:\n  tolerance: {values: [1e-6, 8]}", "sweep point 1 (tolerance=8)")]
    [InlineData("list.yaml", "phenomenon: momentum-acceleration\nparameters:\n  dimension: {values: [[8, [1]]]}", "not a list of lists")]
    public void BadSpecFilesAreOneLineErrorsNamingTheFile(string name, string text, string expected)
    {
        File.WriteAllText(At(name), text);
        var r = CliHarness.Run(["lab", "run", "--sweep", At(name), "--store", At("bad.db")]);
        CliHarness.AssertOneLineError(r, expected, name);
        if (!expected.StartsWith("sweep point", StringComparison.Ordinal)) Assert.Contains(name, r.Err);
    }

    [Theory]
    [InlineData(new[] { "--executor", "local", "--jobs", "2" }, "--jobs is for --executor processes")]
    [InlineData(new[] { "--executor", "processes", "--partition", "gpu" }, "--partition is for --executor slurm")]
    [InlineData(new[] { "--executor", "slurm", "--time", "soon" }, "--time expects a Slurm time limit")]
    [InlineData(new[] { "--executor", "slurm", "--array-parallelism", "0" }, "--array-parallelism must be at least 1")]
    [InlineData(new[] { "--executor", "slurm", "--signal", "TERM@30" }, "--signal expects USR1@SECONDS")]
    [InlineData(new[] { "--executor", "slurm", "--signal", "USR1@0" }, "SECONDS must lie in [1, 65535]")]
    [InlineData(new[] { "--executor", "processes", "--signal", "USR1@30" }, "--signal is for --executor slurm")]
    [InlineData(new[] { "--executor", "cloud" }, "--executor")]
    [InlineData(new[] { "--jobs", "2" }, "--jobs is for --executor processes")]
    [InlineData(new[] { "--max-retries", "2" }, "--max-retries is for --executor processes or slurm")]
    public void ExecutorOptionsAreChecked(string[] options, string expected)
    {
        var r = CliHarness.Run(["lab", "run", "momentum-acceleration", "--store", At("opts.db"), .. Tiny, .. options]);
        CliHarness.AssertOneLineError(r, expected, string.Join(' ', options));
    }

    [Fact]
    public void SlurmExecutorWithoutSlurmSaysSo()
    {
        // An empty PATH for the Slurm client commands: sbatch cannot be found.
        string? path = Environment.GetEnvironmentVariable("PATH");
        try
        {
            Environment.SetEnvironmentVariable("PATH", At("no-bin"));
            var r = CliHarness.Run(["lab", "run", "momentum-acceleration", "--store", At("noslurm.db"), .. Tiny, "--executor", "slurm"]);
            CliHarness.AssertOneLineError(r, "sbatch not found", "no sbatch");
            Assert.Equal(1, r.ExitCode);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
        }
    }

    /// <summary>
    /// `lab run` as a sweep, `lab status` and `lab cancel` write the sweep's record as aperture.sweep/1 (validated
    /// against its schema); `lab tag` and `lab untag` annotate a sweep, and status shows the tags.
    /// </summary>
    [Fact]
    public void SweepCommandsWriteTheSweepDocumentAndSweepsCarryTags()
    {
        string store = At("json.db");
        var run = CliHarness.Run(["lab", "run", "momentum-acceleration", "--store", store, .. Tiny, "--set", "dimension=8,12", "--json", "-"]);
        Assert.True(run.ExitCode == 0, run.All);
        var doc = OutputFixture.Validate(run.Out, "sweep");
        Assert.Equal("run", (string?)doc["command"]);
        Assert.Equal("local", (string?)doc["executor"]);
        string id = (string)doc["sweep"]!["id"]!;
        var points = doc["points"]!.AsArray();
        Assert.Equal(["8", "12"], points.Select(p => (string?)p!["settings"]!["dimension"]));
        Assert.All(points, p => Assert.NotNull((string?)p!["verdict"]));
        Assert.Equal((int)doc["sweep"]!["run_count"]!, (int)doc["runs"]!["finished"]!);
        Assert.Equal(["dimension"], doc["sweep"]!["swept"]!.AsArray().Select(x => (string?)x));
        Assert.Contains("judged", run.Err);   // the human summary goes to standard error while --json - owns standard output
        using (var s = RunStore.OpenExisting(store))
        {
            var record = s.FindSweep(id);
            Assert.Equal(record.Points.Select(p => p.Outcome!.Value.Text()), points.Select(p => (string?)p!["verdict"]));
            Assert.Equal(record.Points.Select(p => p.Effect!.Value), points.Select(p => (double)p!["effect"]!["value"]!));
        }

        Assert.Equal(0, CliHarness.Run(["lab", "tag", id[..8], "purpose=dimension check", "owner=lab", "--store", store]).ExitCode);
        Assert.Equal(0, CliHarness.Run(["lab", "untag", id[..8], "owner", "--store", store]).ExitCode);
        CliHarness.AssertOneLineError(CliHarness.Run(["lab", "untag", id[..8], "owner", "--store", store]), "no tag 'owner'", "untag of a removed tag");
        CliHarness.AssertOneLineError(CliHarness.Run(["lab", "tag", id[..8], "novalue", "--store", store]), "KEY=VALUE", "a tag without =");
        CliHarness.AssertOneLineError(CliHarness.Run(["lab", "tag", "ffffffff", "a=b", "--store", store]), "no sweep", "an unknown sweep");
        string file = At("status.json");
        var status = CliHarness.Run(["lab", "status", id[..8], "--store", store, "--json", file]);
        Assert.True(status.ExitCode == 0, status.All);
        Assert.Contains("purpose=dimension check", status.Out);
        var st = OutputFixture.Validate(File.ReadAllText(file), "sweep");
        Assert.Equal("status", (string?)st["command"]);
        Assert.Null(st["executor"]);
        Assert.Equal("dimension check", (string?)st["sweep"]!["tags"]!["purpose"]);
        Assert.Single(st["sweep"]!["tags"]!.AsObject());
        Assert.False((bool)st["sweep"]!["cancelled"]!);
        Assert.Empty(st["jobs"]!.AsArray());

        var cancel = CliHarness.Run(["lab", "cancel", id[..8], "--store", store, "--json", "-"]);
        Assert.True(cancel.ExitCode == 0, cancel.All);
        var c = OutputFixture.Validate(cancel.Out, "sweep");
        Assert.Equal("cancel", (string?)c["command"]);
        Assert.True((bool)c["sweep"]!["cancelled"]!);
        Assert.Empty(c["cancelled_jobs"]!.AsArray());
    }

    [Fact]
    public void WorkerAndCancelNameWhatIsMissing()
    {
        string store = At("w.db");
        var run = CliHarness.Run(["lab", "run", "momentum-acceleration", "--store", store, .. Tiny, "--set", "dimension=8,12"]);
        Assert.True(run.ExitCode == 0, run.All);
        CliHarness.AssertOneLineError(CliHarness.Run(["lab", "worker", "--store", store, "--sweep", "ffffffff"]), "no sweep", "unknown sweep");
        CliHarness.AssertOneLineError(CliHarness.Run(["lab", "worker", "--store", At("absent.db"), "--sweep", "ffffffff"]), "absent.db", "no store");
        string id;
        using (var s = RunStore.OpenExisting(store)) id = s.Sweeps()[0].Id;
        CliHarness.AssertOneLineError(CliHarness.Run(["lab", "worker", "--store", store, "--sweep", id, "--task", "99"]), "--task 99", "bad task");
        // A worker on a finished sweep finds everything done.
        var w = CliHarness.Run(["lab", "worker", "--store", store, "--sweep", id, "--task", "0"]);
        Assert.True(w.ExitCode == 0, w.All);
        Assert.Contains("0 run(s) computed, 1 found finished", w.Out);
        var c = CliHarness.Run(["lab", "cancel", id, "--store", store]);
        Assert.True(c.ExitCode == 0, c.All);
        using (var s = RunStore.OpenExisting(store)) Assert.True(s.IsSweepCancelled(id));
    }
}
