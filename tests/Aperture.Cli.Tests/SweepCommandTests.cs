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
        Assert.Equal(1e-6, tolerances[1], 1e-20);
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
        var status = CliHarness.Run(["lab", "status", id[..6], "--store", store]);
        Assert.True(status.ExitCode == 0, status.All);
        Assert.Contains(id, status.Out);
        Assert.Contains("dimension", status.Out);
        // A rerun reuses every run.
        var again = CliHarness.Run(["lab", "run", "momentum-acceleration", "--store", store, .. Tiny, "--set", "dimension=8,12"]);
        Assert.True(again.ExitCode == 0, again.All);
        Assert.Contains("runs are already finished in the store and are reused", again.Out);
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
