using System.Globalization;
using Aperture.Lab.Store;
using Microsoft.Data.Sqlite;

namespace Aperture.Lab.Tests;

public class RunStoreTests
{
    private static RunSpec Spec(string arm, int seed, string config = "{\"a\":1}") =>
        new(RunStore.RunIdentity("demo", Tier.Quick, arm, seed, config, "1", RunStore.CodeVersion, "none"), "demo", Tier.Quick, arm,
            new NamedArm(arm).ToJson(), seed, config, "1", RunStore.CodeVersion, LabDataset.None, "none", "none");

    private static RunContext Measured(RunSpec spec, double value)
    {
        var ctx = new RunContext(spec.Arm, spec.Seed, spec.Tier);
        ctx.Log("loss", 0, 1.0);
        ctx.Log("loss", 10, 0.5);
        ctx.Log("loss", 20, double.NaN);
        ctx.Record("value", value);
        ctx.Record("missing", double.NaN);
        ctx.SaveArtifact("note.json", "{\"hello\": \"world, \\\"quoted\\\"\"}");
        return ctx;
    }

    [Fact]
    public void IdentityDependsOnEveryPart()
    {
        string id = RunStore.RunIdentity("p", Tier.Quick, "a", 0, "{}", "1", "c1", "d1");
        Assert.Equal(32, id.Length);
        Assert.Equal(id, RunStore.RunIdentity("p", Tier.Quick, "a", 0, "{}", "1", "c1", "d1"));
        Assert.NotEqual(id, RunStore.RunIdentity("q", Tier.Quick, "a", 0, "{}", "1", "c1", "d1"));
        Assert.NotEqual(id, RunStore.RunIdentity("p", Tier.Full, "a", 0, "{}", "1", "c1", "d1"));
        Assert.NotEqual(id, RunStore.RunIdentity("p", Tier.Quick, "b", 0, "{}", "1", "c1", "d1"));
        Assert.NotEqual(id, RunStore.RunIdentity("p", Tier.Quick, "a", 1, "{}", "1", "c1", "d1"));
        Assert.NotEqual(id, RunStore.RunIdentity("p", Tier.Quick, "a", 0, "{\"x\":1}", "1", "c1", "d1"));
        Assert.NotEqual(id, RunStore.RunIdentity("p", Tier.Quick, "a", 0, "{}", "2", "c1", "d1"));
    }

    [Theory, SqliteStore, PostgreSqlStore]
    public void FinishedRunsRoundTripAndAreNotRedone(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        using var store = t.Open();
        long exp = store.EnsureExperiment("demo", "a demo");
        Assert.Equal(exp, store.EnsureExperiment("demo", "a demo"));
        var spec = Spec("arm", 0);
        Assert.Null(store.StatusOf(spec.RunId));
        Assert.True(store.BeginRun(spec, exp));
        Assert.Equal(RunStatus.Running, store.StatusOf(spec.RunId));
        Assert.True(store.FinishRun(spec.RunId, Measured(spec, 4.5), 1.25));
        Assert.Equal(RunStatus.Finished, store.StatusOf(spec.RunId));
        Assert.False(store.BeginRun(spec, exp));
        Assert.False(store.FinishRun(spec.RunId, Measured(spec, 9), 1));

        var run = store.LoadRun(spec.RunId);
        Assert.Equal(4.5, run.Result("value"));
        Assert.True(double.IsNaN(run.Result("missing")));
        Assert.Equal([(0L, 1.0), (10L, 0.5)], run.Metrics["loss"].Take(2));
        Assert.True(double.IsNaN(run.Metrics["loss"][2].Value));
        Assert.Contains("world", run.ReadArtifact("note.json"));
        Assert.Equal(1.25, run.Seconds);
        var row = store.FindRun(spec.RunId[..6]);
        Assert.Equal(1, row.Attempts);
        Assert.Equal("{\"a\":1}", row.ConfigJson);
    }

    [Theory, SqliteStore, PostgreSqlStore]
    public void AKilledRunIsRedoneAndAFailedOneRetried(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        var spec = Spec("arm", 1);
        var failing = Spec("arm", 2);
        using (var first = t.Open())
        {
            long exp = first.EnsureExperiment("demo", "");
            Assert.True(first.BeginRun(spec, exp));      // and then the process "dies"
            Assert.True(first.BeginRun(failing, exp));
            first.FailRun(failing.RunId, "boom", 0.1);
        }
        using var second = t.Open();
        Assert.Equal(RunStatus.Running, second.StatusOf(spec.RunId));
        Assert.Equal(RunStatus.Failed, second.StatusOf(failing.RunId));
        Assert.Equal("boom", second.FindRun(failing.RunId).Error);
        long e = second.EnsureExperiment("demo", "");
        Assert.True(second.BeginRun(spec, e));
        Assert.True(second.BeginRun(failing, e));
        Assert.Equal(2, second.FindRun(spec.RunId).Attempts);
        Assert.Null(second.FindRun(failing.RunId).Error);
        Assert.True(second.FinishRun(spec.RunId, Measured(spec, 1), 0.5));
        Assert.Equal(2, second.ListRuns().Count);
    }

    [Theory, SqliteStore, PostgreSqlStore]
    public void SeveralWritersAtOnceLoseNothing(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        const int writers = 4, perWriter = 25;
        var errors = new List<Exception>();
        var threads = Enumerable.Range(0, writers).Select(w => new Thread(() =>
        {
            try
            {
                // A store (a connection) per writer, as separate processes would have.
                using var store = t.Open();
                long exp = store.EnsureExperiment("demo", "");
                for (int i = 0; i < perWriter; i++)
                {
                    var spec = Spec("w" + w, i);
                    store.BeginRun(spec, exp);
                    store.FinishRun(spec.RunId, Measured(spec, w * 1000 + i), 0.01);
                }
            }
            catch (Exception e)
            {
                lock (errors) errors.Add(e);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Empty(errors);
        using var check = t.Open();
        var runs = check.ListRuns(status: RunStatus.Finished);
        Assert.Equal(writers * perWriter, runs.Count);
        Assert.Equal(writers * perWriter, runs.Select(r => r.RunId).Distinct().Count());
        foreach (var r in runs)
            Assert.Equal(int.Parse(r.Arm[1..], CultureInfo.InvariantCulture) * 1000 + r.Seed, check.LoadRun(r.RunId).Result("value"));
        if (backend != StoreBackend.Sqlite) return;
        using var db = new SqliteConnection($"Data Source={check.Path}");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", cmd.ExecuteScalar());
    }

    [Theory, SqliteStore, PostgreSqlStore]
    public void ExportsCsvWithParamsAndResults(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        using var store = t.Open();
        long exp = store.EnsureExperiment("demo", "");
        var a = Spec("arm,with comma", 0, "{\"lr\":0.1,\"name\":\"x\"}");
        var b = Spec("plain", 1, "{\"lr\":0.1,\"name\":\"x\"}");
        store.BeginRun(a, exp);
        store.FinishRun(a.RunId, Measured(a, 2.5), 0.1);
        store.BeginRun(b, exp);
        var w = new StringWriter();
        store.ExportCsv(w);
        var lines = w.ToString().TrimEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("run_id,phenomenon,tier,arm,seed,status", lines[0]);
        Assert.Contains("param.lr", lines[0]);
        Assert.Contains("result.value", lines[0]);
        Assert.Contains("\"arm,with comma\"", w.ToString());
        Assert.Contains(",2.5", lines.Single(l => l.Contains("with comma")));
        Assert.Contains(",running,", lines.Single(l => l.Contains("plain")));
    }

    [Fact]
    public void OpeningAFileThatIsNotAStoreSaysSo()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("junk.db"), "this is not a database, just text long enough to look like a header............");
        var e = Assert.Throws<InvalidDataException>(() => new RunStore(dir.File("junk.db")));
        Assert.Contains("junk.db", e.Message);
    }
}
