using System.Text.Json.Nodes;
using Aperture.Lab.Store;
using Aperture.Lab.Sweeps;

namespace Aperture.Lab.Tests;

/// <summary>Grid sweeps: axes, the Cartesian product, the W&amp;B-shaped spec, validation, the stored record and the response curve.</summary>
public class SweepTests
{
    [Fact]
    public void LogUniformAxisHitsBothEndsAndIsGeometric()
    {
        var v = SweepAxis.LogUniform("learning_rate", 1e-3, 1e-1, 5).Expand().Select(double.Parse).ToArray();
        Assert.Equal(5, v.Length);
        Assert.Equal(1e-3, v[0]);
        Assert.Equal(1e-1, v[4]);
        Assert.Equal(1e-2, v[2]);   // a whole decade is the number typed, bit for bit
        for (int i = 1; i < 5; i++) Assert.Equal(Math.Sqrt(10), v[i] / v[i - 1], 12);
    }

    [Fact]
    public void LogUniformAxisPutsWholeDecadesOnTheNumbersTyped()
    {
        // A point on a decade must be the setting `--set tolerance=1e-6` gives, or the two plan different runs.
        Assert.Equal(["1E-08", "1E-06", "0.0001"], SweepAxis.LogUniform("tolerance", 1e-8, 1e-4, 3).Expand());
        Assert.Equal(["1E-06", "1E-05", "0.0001", "0.001", "0.01", "0.1", "1"], SweepAxis.LogUniform("x", 1e-6, 1, 7).Expand());
        Assert.Equal(["10", "100", "1000", "10000"], SweepAxis.LogUniform("kappa", 10, 1e4, 4).Expand());
        var half = SweepAxis.LogUniform("x", 1, 100, 5).Expand().Select(double.Parse).ToArray();
        Assert.Equal(new double[] { 1, 10, 100 }, new[] { half[0], half[2], half[4] });
        Assert.Equal(Math.Sqrt(10), half[1], 14);
    }

    [Fact]
    public void UniformAndIntegerAxes()
    {
        Assert.Equal(["0", "0.25", "0.5", "0.75", "1"], SweepAxis.Uniform("momentum", 0, 1, 5).Expand());
        Assert.Equal(["3"], SweepAxis.Uniform("momentum", 3, 3, 1).Expand());
        Assert.Equal(["1", "2", "3", "4"], SweepAxis.IntUniform("width", 1, 4).Expand());
        Assert.Equal(["16", "76", "136", "196", "256"], SweepAxis.IntUniform("width", 16, 256, 5).Expand());
        Assert.Equal("log:0.001..0.1:5", SweepAxis.LogUniform("lr", 1e-3, 1e-1, 5).ToString());
        Assert.Equal("int:1..8", SweepAxis.IntUniform("w", 1, 8).ToString());
    }

    [Theory]
    [InlineData("min ≤ max")]
    [InlineData("min > 0")]
    [InlineData("count of at least 1")]
    [InlineData("fewer than the count 5")]
    [InlineData("listed twice")]
    [InlineData("gives one value")]
    [InlineData("finite min and max")]
    public void MalformedAxesAreRefusedWithTheReason(string reason)
    {
        Func<SweepAxis> make = reason switch
        {
            "min ≤ max" => () => SweepAxis.Uniform("x", 2, 1, 3),
            "min > 0" => () => SweepAxis.LogUniform("x", 0, 1, 3),
            "count of at least 1" => () => SweepAxis.Uniform("x", 0, 1, 0),
            "fewer than the count 5" => () => SweepAxis.IntUniform("x", 0, 3, 5),
            "listed twice" => () => SweepAxis.Values("x", ["1", "2", " 1"]),
            "finite min and max" => () => SweepAxis.Uniform("x", 0, double.PositiveInfinity, 2),
            _ => () => SweepAxis.Uniform("x", 1, 1, 3),
        };
        var e = Assert.Throws<LabConfigException>(() => make());
        Assert.Contains(reason, e.Message);
        Assert.Contains("'x'", e.Message);
    }

    [Fact]
    public void GridIsTheCartesianProductLastAxisFastest()
    {
        var spec = new SweepSpec("momentum-acceleration", Tier.Quick,
            [SweepAxis.Values("dimension", ["8", "16"]), SweepAxis.Values("tolerance", ["1e-4", "1e-6", "1e-8"])])
        {
            Fixed = [KeyValuePair.Create("noisy_kappa", "100")],
        };
        var grid = spec.Grid();
        Assert.Equal(6, grid.Count);
        string Row(IReadOnlyList<KeyValuePair<string, string>> p) => string.Join(" ", p.Select(kv => $"{kv.Key}={kv.Value}"));
        Assert.Equal("noisy_kappa=100 dimension=8 tolerance=1e-4", Row(grid[0]));
        Assert.Equal("noisy_kappa=100 dimension=8 tolerance=1e-6", Row(grid[1]));
        Assert.Equal("noisy_kappa=100 dimension=16 tolerance=1e-8", Row(grid[5]));
        Assert.Single(new SweepSpec("x", Tier.Quick, []).Grid());   // no axis: one point (an array of seeded runs)
    }

    [Fact]
    public void GridRefusesASettingSweptTwiceOrBothFixedAndSwept()
    {
        var twice = new SweepSpec("p", Tier.Quick, [SweepAxis.Values("a", ["1", "2"]), SweepAxis.Values("A", ["3", "4"])]);
        Assert.Contains("swept twice", Assert.Throws<LabConfigException>(() => twice.Grid()).Message);
        var both = new SweepSpec("p", Tier.Quick, [SweepAxis.Values("a", ["1", "2"])]) { Fixed = [KeyValuePair.Create("a", "3")] };
        Assert.Contains("both a single value and several", Assert.Throws<LabConfigException>(() => both.Grid()).Message);
        var huge = new SweepSpec("p", Tier.Quick, [SweepAxis.IntUniform("a", 1, 1000), SweepAxis.IntUniform("b", 1, 1000)]);
        Assert.Contains("1000000 points", Assert.Throws<LabConfigException>(() => huge.Grid()).Message);
    }

    [Fact]
    public void WandbShapedSpecIsReadAndRoundTrips()
    {
        var node = JsonNode.Parse("""
            { "method": "grid", "phenomenon": "momentum-acceleration", "tier": "quick", "seeds": 3, "seed_base": 10, "replicate": false,
              "parameters": {
                "dimension": { "value": 8 },
                "kappas": { "values": [[10, 100], [10, 1000]] },
                "tolerance": { "distribution": "log_uniform_values", "min": 1e-8, "max": 1e-4, "count": 3 },
                "rows_per_dimension": { "distribution": "int_uniform", "min": 2, "max": 4 } } }
            """);
        var spec = SweepSpec.FromJson(node, "sweep.json");
        Assert.Equal("momentum-acceleration", spec.Phenomenon);
        Assert.Equal(3, spec.Seeds);
        Assert.Equal(10, spec.SeedBase);
        Assert.False(spec.Replicate);
        Assert.Equal([KeyValuePair.Create("dimension", "8")], spec.Fixed);
        Assert.Equal(["10,100", "10,1000"], spec.Axes[0].Expand());
        Assert.Equal(SweepAxisKind.LogUniform, spec.Axes[1].Kind);
        Assert.Equal(["2", "3", "4"], spec.Axes[2].Expand());
        Assert.Equal(2 * 3 * 3, spec.Grid().Count);
        var again = SweepSpec.FromJson(spec.ToJson(), "stored");
        Assert.Equal(spec.ToJson(), again.ToJson());
        Assert.Equal(spec.Grid().Select(p => string.Join(",", p)), again.Grid().Select(p => string.Join(",", p)));
    }

    [Theory]
    [InlineData("""{"method": "random", "phenomenon": "p", "parameters": {}}""", "'method' must be grid")]
    [InlineData("""{"phenomenon": "p", "metric": {"name": "loss"}, "parameters": {}}""", "unknown key 'metric'")]
    [InlineData("""{"phenomenon": "p", "parameters": {"a": {"distribution": "normal", "min": 0, "max": 1, "count": 2}}}""", "distribution must be log_uniform_values, uniform or int_uniform")]
    [InlineData("""{"phenomenon": "p", "parameters": {"a": {"distribution": "uniform", "min": 0, "max": 1}}}""", "needs a 'count'")]
    [InlineData("""{"phenomenon": "p", "parameters": {"a": {"distribution": "uniform", "min": "zero", "max": 1, "count": 2}}}""", "'min' must be a number")]
    [InlineData("""{"phenomenon": "p", "parameters": {"a": {"values": 3}}}""", "'values' must be a list")]
    [InlineData("""{"phenomenon": "p", "parameters": {"a": {"values": [1], "min": 0}}}""", "unexpected key 'min'")]
    [InlineData("""{"phenomenon": "p", "seeds": 2.5, "parameters": {}}""", "'seeds' must be an integer")]
    [InlineData("""{"parameters": {}}""", "name the phenomenon")]
    [InlineData("""[1, 2]""", "a sweep spec is an object")]
    [InlineData("""{"phenomenon": "p", "tier": "huge", "parameters": {}}""", "must be quick or full")]
    public void MalformedSpecsAreRefusedNamingTheKey(string json, string expected)
    {
        var e = Assert.Throws<LabConfigException>(() => SweepSpec.FromJson(json, "spec.json"));
        Assert.StartsWith("spec.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void PlanRefusesAnUnknownSettingAndAValueOutOfRangeBeforeAnythingRuns()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var runner = new LabRunner(store);
        var unknown = new SweepSpec("momentum-acceleration", Tier.Quick, [SweepAxis.Values("learning_rate", ["0.1", "0.2"])]);
        var e = Assert.Throws<LabConfigException>(() => SweepPlan.Create(unknown, runner));
        Assert.Contains("no setting 'learning_rate'", e.Message);
        // seeds must lie in [2, 10000]: the second point is out of range, and the error names it.
        var outOfRange = new SweepSpec("momentum-acceleration", Tier.Quick, [SweepAxis.Values("dimension", ["8", "-3"])]) { Seeds = 2 };
        e = Assert.Throws<LabConfigException>(() => SweepPlan.Create(outOfRange, runner));
        Assert.Contains("sweep point 1 (dimension=-3)", e.Message);
        Assert.Contains("dimension", e.Message);
        Assert.Empty(store.ListRuns());
    }

    internal static SweepSpec DimensionSweep(int seeds = 2) =>
        new("momentum-acceleration", Tier.Quick, [SweepAxis.Values("dimension", ["8", "12"])])
        {
            Fixed = [KeyValuePair.Create("kappas", "10,100,1000"), KeyValuePair.Create("noisy_kappa", "100")],
            Seeds = seeds,
            Replicate = false,
        };

    [Fact]
    public void SweepIsPlannedStoredRunAndJudgedLikeSeparateRuns()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var runner = new LabRunner(store);
        var sweeps = new SweepRunner(store, runner);
        var plan = sweeps.Prepare(DimensionSweep(), runsPerTask: 3);
        Assert.Equal(2, plan.Points.Count);
        Assert.Equal(plan.Points.Sum(p => p.RunIds.Count), plan.Runs.Count);
        Assert.Equal((plan.Runs.Count + 2) / 3, plan.Tasks.Count);
        // The same spec planned again is the same sweep.
        Assert.Equal(plan.Id, SweepPlan.Create(DimensionSweep(), runner, 3).Id);
        Assert.NotEqual(plan.Id, SweepPlan.Create(DimensionSweep(3), runner, 3).Id);

        var outcome = sweeps.Run(plan, new LocalExecutor(runner));
        var record = store.FindSweep(plan.Id[..6]);
        Assert.Equal(plan.Runs.Count, record.RunCount);
        Assert.All(record.Points, p => Assert.NotNull(p.VerdictId));
        // Each point's verdict is what `lab run` with that setting gives on the same store.
        foreach (var (point, o) in outcome.Points)
        {
            var alone = runner.Judge(plan.Phenomenon, Tier.Quick, point.Protocol);
            Assert.Equal(alone.Verdict.Outcome, o.Verdict.Outcome);
            Assert.Equal(alone.Verdict.Effect.Value, o.Verdict.Effect.Value);
        }
        // Task i's stored run specs are the plan's, and read back to the same identities.
        for (int t = 0; t < plan.Tasks.Count; t++)
            Assert.Equal(plan.Tasks[t].Select(r => r.RunId), store.SweepTaskRuns(plan.Id, t).Select(r => r.RunId));
        Assert.Equal(plan.Runs.Count, store.ListRuns().Count);
    }

    [Fact]
    public void ResponseCurveDrawsEachCheckWithItsIntervalAgainstTheSweptSetting()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var runner = new LabRunner(store);
        var sweeps = new SweepRunner(store, runner);
        var plan = sweeps.Prepare(DimensionSweep());
        var outcome = sweeps.Run(plan, new LocalExecutor(runner));
        var judged = outcome.Points.Select(p => new JudgedPoint(p.Point.Point, p.Point.Block, p.Point.Settings, p.Outcome.Verdict)).ToList();
        var figures = ResponseCurve.Figures(plan.Spec, judged);
        var checks = judged[0].Verdict.Checks;
        Assert.Equal(checks.Count, figures.Count(f => checks.Any(c => f.Title.StartsWith(c.Estimate.Name, StringComparison.Ordinal))));
        foreach (var f in figures)
        {
            Assert.Equal("dimension", f.XLabel);
            var s = Assert.Single(f.Series);
            Assert.Equal([8.0, 12.0], s.X);
            Assert.NotNull(s.Low);
            Assert.NotNull(s.High);
            for (int i = 0; i < s.X.Length; i++)
                if (double.IsFinite(s.Y[i])) Assert.InRange(s.Y[i], s.Low![i], s.High![i]);
        }
        var heavyBall = figures.First(f => f.Title.StartsWith(checks[0].Estimate.Name, StringComparison.Ordinal));
        Assert.Equal(checks[0].Estimate.Value, heavyBall.Series[0].Y[0]);

        // The report draws it on the sweep's page, linked from the phenomenon's, with the sweep's tags on both.
        store.TagSweep(plan.Id, "purpose", "dimension check");
        string outDir = dir.File("report");
        var summary = Aperture.Lab.Report.ReportWriter.Write(store, outDir, [plan.Phenomenon], r => r.Id);
        string page = Path.Combine(outDir, $"{plan.Phenomenon.Id}-sweep-{plan.Id}.html");
        Assert.Contains(page, summary.Pages);
        Assert.Contains($"{plan.Phenomenon.Id}-sweep-{plan.Id}.html", File.ReadAllText(Path.Combine(outDir, plan.Phenomenon.Id + ".html")));
        Assert.Contains("<span class=\"tag\">purpose=dimension check</span>", File.ReadAllText(Path.Combine(outDir, plan.Phenomenon.Id + ".html")));
        Assert.Contains("<span class=\"tag\">purpose=dimension check</span>", File.ReadAllText(page));
        // Each figure is written as SVG and as PNG (at 2×), wide and narrow (for phones).
        var images = summary.Images.Where(i => i.Contains("-sweep-" + plan.Id + "-response-", StringComparison.Ordinal)).ToList();
        foreach (var ext in new[] { ".png", ".svg" })
        {
            Assert.Equal(figures.Count, images.Count(i => i.EndsWith("-narrow" + ext, StringComparison.Ordinal)));
            Assert.Equal(figures.Count, images.Count(i => i.EndsWith(ext, StringComparison.Ordinal) && !i.EndsWith("-narrow" + ext, StringComparison.Ordinal)));
        }
        Assert.All(images, i => Assert.True(new FileInfo(i).Length > 1000));
        Assert.All(images, i => Assert.Contains(Path.GetFileName(i), File.ReadAllText(page)));
    }

    [Fact]
    public void ArraySpecsCollapseAndParse()
    {
        Assert.Equal("0-2,5,7-8", SlurmExecutor.ArraySpec([8, 0, 1, 2, 5, 7, 1]));
        Assert.Equal([0, 1, 2, 5, 7, 8], SlurmExecutor.ParseArray("0-2,5,7-8%2"));
        Assert.Equal([3], SlurmExecutor.ParseArray("3"));
    }

    [Fact]
    public void JobScriptRunsTheWorkerForItsArrayTaskAndRequeuesOnTheWarningSignal()
    {
        var worker = new WorkerCommand((id, task) => ["/usr/bin/dotnet", "/opt/aperture it's/Aperture.Cli.dll", "lab", "worker", "--sweep", id, "--task", task!]);
        var executor = new SlurmExecutor(worker, new SlurmOptions { ScriptDirectory = "/shared/sweeps", Partition = "gpu", Time = "1:00:00", ArrayParallelism = 4, CpusPerTask = 2 });
        string script = executor.Script(new SlurmPlanInfo("abcd1234abcd1234", "momentum-acceleration", 40, 10, 4));
        Assert.StartsWith("#!/bin/bash\n", script);
        foreach (var line in (string[])["#SBATCH --array=0-9", "#SBATCH --requeue", "#SBATCH --signal=B:USR1@60", "#SBATCH --partition=gpu",
                     "#SBATCH --time=1:00:00", "#SBATCH --cpus-per-task=2", "#SBATCH --output=/shared/sweeps/abcd1234abcd1234/slurm-%A_%a.out"])
            Assert.Contains(line + "\n", script);
        Assert.Contains("'/usr/bin/dotnet' '/opt/aperture it'\\''s/Aperture.Cli.dll' 'lab' 'worker' '--sweep' 'abcd1234abcd1234' '--task' \"$SLURM_ARRAY_TASK_ID\" &", script);
        Assert.Contains("trap on_usr1 USR1", script);
        Assert.Contains("scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"", script);
        // A worker that finished as the warning came (exit 0) ends the task; only a stopped one is requeued.
        Assert.Contains("if [ \"$status\" -eq 0 ]; then exit 0; fi", script);
        Assert.True(script.IndexOf("exit 0; fi", StringComparison.Ordinal) < script.IndexOf("scontrol requeue", StringComparison.Ordinal));
        var early = new SlurmExecutor(worker, new SlurmOptions { ScriptDirectory = "/shared/sweeps", Time = "1", SignalSeconds = 25 });
        Assert.Contains("#SBATCH --signal=B:USR1@25\n", early.Script(new SlurmPlanInfo("abcd1234abcd1234", "momentum-acceleration", 40, 10, 4)));
    }
}
