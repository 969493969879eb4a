using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aperture.Lab.Store;
using Xunit.Abstractions;

namespace Aperture.Lab.Tests;

/// <summary>
/// The store on PostgreSQL behaves as on SQLite: many writers claim each run once, runs copy between the two without
/// losing a bit, a phenomenon gives the same results and verdict in either; and a bad address or an unreachable
/// server is one clear error.
/// </summary>
public class PostgreSqlStoreTests(ITestOutputHelper output)
{
    private static RunSpec Spec(string arm, int seed) =>
        new(RunStore.RunIdentity("demo", Tier.Quick, arm, seed, "{}", "1", RunStore.CodeVersion, "none"), "demo", Tier.Quick, arm,
            new NamedArm(arm).ToJson(), seed, "{}", "1", RunStore.CodeVersion, LabDataset.None, "none", "none");

    /// <summary>Four writers, a connection each, claim the same 40 planned runs at once: each run is computed by exactly one.</summary>
    [Theory, SqliteStore, PostgreSqlStore]
    public void ManyWritersClaimingTheSamePlannedRunsComputeEachOnce(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        const int writers = 4, count = 40;
        var plan = Enumerable.Range(0, count).Select(i => Spec("arm", i)).ToList();
        var computedBy = new ConcurrentDictionary<string, ConcurrentBag<int>>();
        var errors = new ConcurrentBag<Exception>();
        using (var create = t.Open()) create.EnsureExperiment("demo", "");
        using var start = new Barrier(writers);
        var threads = Enumerable.Range(0, writers).Select(w => new Thread(() =>
        {
            try
            {
                using var store = t.Open();
                long exp = store.EnsureExperiment("demo", "");
                start.SignalAndWait();
                foreach (var spec in plan)
                {
                    if (store.Claim(spec, exp) != RunClaim.Claimed) continue;
                    computedBy.GetOrAdd(spec.RunId, _ => []).Add(w);
                    var ctx = new RunContext(spec.Arm, spec.Seed, spec.Tier);
                    ctx.Record("writer", w);
                    ctx.Log("step", 0, spec.Seed);
                    Assert.True(store.FinishRun(spec.RunId, ctx, 0.01));
                }
            }
            catch (Exception e)
            {
                errors.Add(e);
            }
        })).ToList();
        threads.ForEach(th => th.Start());
        threads.ForEach(th => th.Join());
        Assert.Empty(errors);

        using var check = t.Open();
        var runs = check.ListRuns();
        Assert.Equal(count, runs.Count);
        Assert.All(runs, r => Assert.Equal(RunStatus.Finished, r.Status));
        Assert.All(runs, r => Assert.Equal(1, r.Attempts));
        Assert.Equal(count, computedBy.Count);
        Assert.All(computedBy, kv => Assert.Single(kv.Value));
        // The stored result names the writer that computed it.
        foreach (var (id, by) in computedBy) Assert.Equal(by.Single(), check.LoadRun(id).Result("writer"));
        var share = computedBy.Values.GroupBy(b => b.Single()).ToDictionary(g => g.Key, g => g.Count());
        output.WriteLine($"{backend}: runs per writer {string.Join(", ", Enumerable.Range(0, writers).Select(w => share.GetValueOrDefault(w)))}");
    }

    /// <summary>
    /// A phenomenon's runs and verdicts copied SQLite → this backend → SQLite keep every bit of every result, metric
    /// and artifact; copying again copies nothing.
    /// </summary>
    [Theory, SqliteStore, PostgreSqlStore]
    public void StoreCopyRoundTripKeepsEveryBitAndIsIdempotent(StoreBackend backend)
    {
        using var local = new TestStore(StoreBackend.Sqlite);
        using var middle = new TestStore(backend);
        using var origin = local.Open("origin");
        var outcome = new LabRunner(origin).RunReplicated(Tiny.Momentum, Tier.Quick, Tiny.MomentumProtocol(2));
        var unfinished = Spec("left-running", 0);
        Assert.True(origin.BeginRun(unfinished, origin.EnsureExperiment("demo", "")));
        byte[] stage = [.. Enumerable.Range(0, 300).Select(i => (byte)(i * 7))];
        origin.StagesFor("demo", "1").Save("body of arm x, seed 0", "body", stage);

        using var remote = middle.Open("remote");
        var first = origin.CopyTo(remote);
        int runs = outcome.Discovery.RunIds.Count + outcome.Replication!.RunIds.Count;
        Assert.Equal(runs, first.Runs);
        Assert.Equal(0, first.RunsPresent);
        Assert.Equal(1, first.RunsUnfinished);
        Assert.Equal(2, first.Verdicts);
        Assert.Equal(1, first.Stages);
        Assert.True(first.Results > 0 && first.Metrics > 0 && first.Params > 0);

        var again = origin.CopyTo(remote);
        Assert.Equal((0, runs, 0, 2, 0L, 0L, 0, 1), (again.Runs, again.RunsPresent, again.Verdicts, again.VerdictsPresent, again.Metrics, again.Artifacts,
            again.Stages, again.StagesPresent));

        using var back = local.Open("back");
        var second = remote.CopyTo(back);
        Assert.Equal((runs, 2), (second.Runs, second.Verdicts));
        Assert.Equal(0, second.RunsUnfinished);
        Assert.Equal(0, remote.CopyTo(back).Runs + remote.CopyTo(back).Verdicts);

        foreach (var copy in (RunStore[])[remote, back])
        {
            AssertSameRuns(origin, copy);
            Assert.Equal(stage, copy.StagesFor("demo", "1").TryLoad("body of arm x, seed 0"));
            var ours = origin.Verdicts(Tiny.Momentum.Id);
            var theirs = copy.Verdicts(Tiny.Momentum.Id);
            Assert.Equal(ours.Select(VerdictBits), theirs.Select(VerdictBits));
            Assert.Equal(ours.Select(v => v.RunIds), theirs.Select(v => v.RunIds));
            Assert.Equal(ours.Select(v => (v.Created, v.Host, v.ProtocolJson, v.SeedBase)), theirs.Select(v => (v.Created, v.Host, v.ProtocolJson, v.SeedBase)));
            Assert.Equal(origin.LatestVerdicts()[Tiny.Momentum.Id].Created, copy.LatestVerdicts()[Tiny.Momentum.Id].Created);
        }
    }

    /// <summary>
    /// Sweep records (spec, points with their runs and verdicts, tasks, jobs), tags on runs and sweeps and notes
    /// copy SQLite → this backend → SQLite; copying again copies nothing; a target holding the sweep unjudged gets
    /// its verdicts, and a note new to the target goes after the target's own.
    /// </summary>
    [Theory, SqliteStore, PostgreSqlStore]
    public void StoreCopyCarriesSweepsTagsAndNotesIdempotently(StoreBackend backend)
    {
        using var local = new TestStore(StoreBackend.Sqlite);
        using var middle = new TestStore(backend);
        using var origin = local.Open("origin");
        var runner = new LabRunner(origin);
        var sweeps = new Aperture.Lab.Sweeps.SweepRunner(origin, runner);
        var plan = sweeps.Prepare(SweepTests.DimensionSweep(), runsPerTask: 3);
        sweeps.Run(plan, new Aperture.Lab.Sweeps.LocalExecutor(runner));
        origin.AddSweepJob(plan.Id, "4242", "slurm", "0-1", 0);
        string run = plan.Runs[0].RunId;
        origin.TagRun(run, "reviewed", "yes");
        origin.TagSweep(plan.Id, "purpose", "dimension check");
        origin.NoteRun(run, "first");
        origin.NoteRun(run, "second");

        using var remote = middle.Open("remote");
        var first = origin.CopyTo(remote);
        Assert.Equal((plan.Runs.Count, 1, 0, 2, 0, 2, 0), (first.Runs, first.Sweeps, first.SweepsPresent, first.Tags, first.TagsPresent, first.Notes, first.NotesPresent));
        var again = origin.CopyTo(remote);
        Assert.Equal((0, 0, 1, 0, 2, 0, 2), (again.Runs, again.Sweeps, again.SweepsPresent, again.Tags, again.TagsPresent, again.Notes, again.NotesPresent));
        using var back = local.Open("back");
        var second = remote.CopyTo(back);
        Assert.Equal((plan.Runs.Count, 1, 2, 2), (second.Runs, second.Sweeps, second.Tags, second.Notes));
        Assert.Equal((0, 0, 0), (remote.CopyTo(back).Sweeps, remote.CopyTo(back).Tags, remote.CopyTo(back).Notes));

        var ours = origin.FindSweep(plan.Id);
        foreach (var copy in (RunStore[])[remote, back])
        {
            var theirs = copy.FindSweep(plan.Id);
            Assert.Equal((ours.Phenomenon, ours.Tier, ours.SpecJson, ours.RunsPerTask, ours.TaskCount, ours.RunCount, ours.CodeVersion, ours.Created),
                (theirs.Phenomenon, theirs.Tier, theirs.SpecJson, theirs.RunsPerTask, theirs.TaskCount, theirs.RunCount, theirs.CodeVersion, theirs.Created));
            Assert.Equal(ours.Points.Count, theirs.Points.Count);
            foreach (var (a, b) in ours.Points.Zip(theirs.Points))
            {
                Assert.Equal((a.Point, a.Block, a.ProtocolJson, a.Outcome), (b.Point, b.Block, b.ProtocolJson, b.Outcome));
                Assert.Equal(a.Settings, b.Settings);
                Assert.Equal(a.RunIds, b.RunIds);
                Assert.Equal(a.Effect, b.Effect);
                // The point names the copy of its verdict (the target numbers verdicts its own way).
                Assert.Equal(VerdictBits(origin.VerdictById(ours.Phenomenon, a.VerdictId!.Value)), VerdictBits(copy.VerdictById(theirs.Phenomenon, b.VerdictId!.Value)));
            }
            Assert.Equal(origin.SweepTaskRunIds(plan.Id), copy.SweepTaskRunIds(plan.Id));
            for (int t = 0; t < ours.TaskCount; t++)
                Assert.Equal(origin.SweepTaskRuns(plan.Id, t), copy.SweepTaskRuns(plan.Id, t));
            Assert.Equal(origin.SweepJobs(plan.Id), copy.SweepJobs(plan.Id));
            Assert.Equal(origin.Tags(run), copy.Tags(run));
            Assert.Equal(origin.SweepTags(plan.Id), copy.SweepTags(plan.Id));
            Assert.Equal(origin.Notes(run), copy.Notes(run));
        }

        // A target that planned the same sweep and has not judged it gets the verdicts; one that has notes of its
        // own keeps them first.
        using var partial = local.Open("partial");
        Assert.True(partial.SaveSweep(plan));
        Assert.All(partial.FindSweep(plan.Id).Points, p => Assert.Null(p.VerdictId));
        var fill = origin.CopyTo(partial);
        Assert.Equal((0, 1), (fill.Sweeps, fill.SweepsPresent));
        Assert.Equal(ours.Points.Select(p => (p.Outcome, p.Effect)), partial.FindSweep(plan.Id).Points.Select(p => (p.Outcome, p.Effect)));
        back.NoteRun(run, "the target's own");
        origin.NoteRun(run, "third");
        var more = origin.CopyTo(back);
        Assert.Equal((1, 2), (more.Notes, more.NotesPresent));
        Assert.Equal(["first", "second", "the target's own", "third"], back.Notes(run).Select(n => n.Text));
        Assert.Equal([1, 2, 3, 4], back.Notes(run).Select(n => n.Position));
    }

    /// <summary>A quick tier run into PostgreSQL gives the same results, metrics and verdict, bit for bit, as into SQLite.</summary>
    [Theory, PostgreSqlStore]
    public void APhenomenonGivesTheSameBitsInPostgreSqlAsInSqlite(StoreBackend backend)
    {
        using var local = new TestStore(StoreBackend.Sqlite);
        using var server = new TestStore(backend);
        using var sqlite = local.Open();
        using var postgres = server.Open();
        foreach (var (phenomenon, protocol) in new[] { (Tiny.Momentum as Phenomenon, Tiny.MomentumProtocol(3)), (Tiny.Relu, Tiny.ReluProtocol(3)) })
        {
            var a = new LabRunner(sqlite).Run(phenomenon, Tier.Quick, protocol);
            var b = new LabRunner(postgres).Run(phenomenon, Tier.Quick, protocol);
            Assert.Equal(a.RunIds, b.RunIds);
            Assert.Equal(a.RunIds.Count, b.RunsExecuted);
            Assert.Equal(VerdictBits(a.Verdict), VerdictBits(b.Verdict));
            // And as stored: read back from each store.
            Assert.Equal(VerdictBits(sqlite.Verdicts(phenomenon.Id)[0]), VerdictBits(postgres.Verdicts(phenomenon.Id)[0]));
            output.WriteLine($"{phenomenon.Id}: {a.Verdict.Outcome} in both, effect {a.Verdict.Effect.Value:R}");
        }
        AssertSameRuns(sqlite, postgres, sameTimes: false);
    }

    /// <summary>Two `aperture lab run` processes on one PostgreSQL store: every run computed once, artifacts in the shared folder.</summary>
    [Theory, PostgreSqlStore]
    public async Task TwoProcessesOnOnePostgreSqlStoreComputeEachRunOnce(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        string store = t.Location(), artifacts = t.Artifacts()!;
        string[] sweep = ["lab", "run", "momentum-acceleration", "--seeds", "4", "--set", "dimension=12", "--set", "kappas=10,100,1000"];
        var processes = Enumerable.Range(0, 2).Select(i =>
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in (string[])[Tiny.CliDll, .. sweep, "--store", store, "--artifacts", artifacts, "--json", t.Dir.File($"sweep{i}.json")])
                psi.ArgumentList.Add(a);
            psi.Environment["NO_COLOR"] = "1";
            return Process.Start(psi)!;
        }).ToList();
        var logs = processes.Select(p => (Out: p.StandardOutput.ReadToEndAsync(), Err: p.StandardError.ReadToEndAsync())).ToList();
        int computed = 0;
        for (int i = 0; i < 2; i++)
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            await processes[i].WaitForExitAsync(limit.Token);
            string log = await logs[i].Out + "\n" + await logs[i].Err;
            Assert.True(processes[i].ExitCode == 0, $"sweep {i} failed ({processes[i].ExitCode}): {log}");
            processes[i].Dispose();
            using var doc = JsonDocument.Parse(File.ReadAllText(t.Dir.File($"sweep{i}.json")));
            var record = doc.RootElement.GetProperty("results")[0];
            computed += record.GetProperty("discovery").GetProperty("runs_new").GetInt32() + record.GetProperty("replication").GetProperty("runs_new").GetInt32();
        }
        using var check = t.Open();
        var runs = check.ListRuns();
        Assert.All(runs, r => Assert.Equal(RunStatus.Finished, r.Status));
        Assert.All(runs, r => Assert.Equal(1, r.Attempts));
        Assert.Equal(runs.Count, computed);
        foreach (var r in runs)
            foreach (var (_, path) in check.LoadRun(r.RunId).Artifacts)
                Assert.StartsWith(Path.GetFullPath(artifacts), path);
    }

    /// <summary>`aperture store copy` between SQLite and PostgreSQL from the command line: counts printed, --json, idempotent.</summary>
    [Theory, PostgreSqlStore]
    public void StoreCopyCommandCopiesAndCountsAndCopiesNothingTheSecondTime(StoreBackend backend)
    {
        using var local = new TestStore(StoreBackend.Sqlite);
        using var server = new TestStore(backend);
        using (var origin = local.Open()) new LabRunner(origin).Run(Tiny.Momentum, Tier.Quick, Tiny.MomentumProtocol(2));
        string target = server.Location(), artifacts = server.Artifacts()!;
        (int Code, string Out, string Err) Cli(params string[] args)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in (string[])[Tiny.CliDll, .. args]) psi.ArgumentList.Add(a);
            psi.Environment["NO_COLOR"] = "1";
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            string stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, stdout.Result, stderr);
        }
        var first = Cli("store", "copy", local.Location(), target, "--to-artifacts", artifacts, "--json", "-");
        Assert.True(first.Code == 0, first.Err + first.Out);
        using (var doc = JsonDocument.Parse(first.Out))
        {
            Assert.Equal(Tiny.MomentumProtocol(2).Seeds * Tiny.Momentum.ArmsFor(Tiny.MomentumProtocol(2)).Count, doc.RootElement.GetProperty("runs_copied").GetInt32());
            Assert.Equal(1, doc.RootElement.GetProperty("verdicts_copied").GetInt32());
        }
        Assert.Contains("runs", first.Err);   // the table goes to standard error while --json - owns standard output
        var second = Cli("store", "copy", local.Location(), target, "--artifacts", artifacts, "--json", "-");
        Assert.True(second.Code == 0, second.Err + second.Out);
        using (var doc = JsonDocument.Parse(second.Out))
        {
            Assert.Equal(0, doc.RootElement.GetProperty("runs_copied").GetInt32());
            Assert.Equal(0, doc.RootElement.GetProperty("verdicts_copied").GetInt32());
            Assert.Equal(1, doc.RootElement.GetProperty("verdicts_present").GetInt32());
        }
        // A PostgreSQL side without an artifacts folder is refused before anything is copied, naming the option.
        var bare = Cli("store", "copy", local.Location(), target);
        Assert.Equal(2, bare.Code);
        Assert.Contains("--to-artifacts", bare.Err);
        Assert.DoesNotContain("   at ", bare.Err);
    }

    [Fact]
    public void BadAddressesAreRefusedSayingWhatWasExpected()
    {
        foreach (var (text, words) in new[]
                 {
                     ("postgresql://user@host:5432", "names no database"),
                     ("postgresql:///db", "names no host"),
                     ("postgresql://user@host/db?sslmode=sometimes", "sslmode='sometimes'"),
                     ("postgresql://user@host/db?colour=blue", "parameter 'colour'"),
                     ("postgresql://user@a,b/db", "several hosts"),
                     ("postgresql://user@host/a/b", "has the path"),
                     ("mysql://user@host/db", "mysql:// address"),
                     ("Host=h;Frobnicate=1", "not a valid Npgsql connection string"),
                     ("Host=h;Username=u", "names no database"),
                 })
        {
            var e = Assert.Throws<LabConfigException>(() => StoreAddress.Parse(text, "--store"));
            Assert.StartsWith("--store", e.Message);
            Assert.Contains(words, e.Message);
        }
        var e2 = Assert.Throws<LabConfigException>(() => StoreAddress.Parse("postgresql://u:s3cret@host/db?sslmode=sometimes", "--store"));
        Assert.DoesNotContain("s3cret", e2.Message);

        var a = StoreAddress.Parse("postgresql://me:s3cret@db.example.org:6543/lab?sslmode=require&search_path=team");
        Assert.Equal(StoreBackend.PostgreSql, a.Backend);
        Assert.Equal("postgresql://me@db.example.org:6543/lab?search_path=team", a.Display);
        Assert.DoesNotContain("s3cret", a.Display);
        var k = StoreAddress.Parse("Host=127.0.0.1;Port=5433;Username=me;Password=pw;Database=lab");
        Assert.Equal("postgresql://me@127.0.0.1:5433/lab", k.Display);
        var f = StoreAddress.Parse("some/dir/runs.db");
        Assert.Equal((StoreBackend.Sqlite, Path.GetFullPath("some/dir/runs.db")), (f.Backend, f.Display));
    }

    [Fact]
    public void AnUnreachableServerIsOneErrorNamingIt()
    {
        using var dir = new TempDir();
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        var e = Assert.Throws<StoreUnavailableException>(() => new RunStore("postgresql://nobody@127.0.0.1:1/nothing", dir.File("artifacts")));
        Assert.Contains("postgresql://nobody@127.0.0.1:1/nothing", e.Message);
        Assert.Contains("is the server running", e.Message);
        var e2 = Assert.Throws<LabConfigException>(() => new RunStore("postgresql://nobody@127.0.0.1:1/nothing"));
        Assert.Contains("artifacts folder", e2.Message);
    }

    [Theory, PostgreSqlStore]
    public void AMissingDatabaseOrAnEmptyOneIsNamed(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        var url = StoreAddress.Parse(TestStore.PostgresUrl!);
        string missing = url.Display[..(url.Display.LastIndexOf('/') + 1)] + "no_such_database_" + Guid.NewGuid().ToString("N")[..6];
        var e = Assert.Throws<StoreUnavailableException>(() => new RunStore(missing, t.Dir.File("a")));
        Assert.Contains("does not exist", e.Message);
        // A search_path naming a schema that does not exist: said, with what to do, and nothing created.
        string noSchema = "no_such_schema_" + Guid.NewGuid().ToString("N")[..6];
        var es = Assert.Throws<StoreUnavailableException>(() => new RunStore(url.Display + "?search_path=" + noSchema, t.Dir.File("a")));
        Assert.Contains("the schema that search_path names does not exist", es.Message);
        Assert.Contains("CREATE SCHEMA", es.Message);
        // A schema with no store in it, opened for reading: said, not created.
        var e2 = Assert.Throws<InvalidDataException>(() => t.OpenExisting("empty"));
        Assert.Contains("holds no run store", e2.Message);
        t.Sql("empty", "CREATE TABLE unrelated (x INTEGER)");
        using (var s = t.Open("empty")) Assert.Equal(RunStore.SchemaVersion, s.Version);   // other tables beside it are left alone
    }

    private static readonly JsonSerializerOptions Exact = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    // A verdict's every field, doubles written round-trip exactly.
    private static string VerdictBits(Verdict v) => JsonSerializer.Serialize(v, Exact);

    private static string VerdictBits(VerdictRecord v) => VerdictBits(v.Verdict);

    private static void AssertSameRuns(RunStore expected, RunStore actual, bool sameTimes = true)
    {
        var want = expected.ListRuns(status: RunStatus.Finished).OrderBy(r => r.RunId, StringComparer.Ordinal).ToList();
        var got = actual.ListRuns(status: RunStatus.Finished).OrderBy(r => r.RunId, StringComparer.Ordinal).ToList();
        Assert.Equal(want.Select(r => r.RunId), got.Select(r => r.RunId));
        for (int i = 0; i < want.Count; i++)
        {
            var (w, g) = (want[i], got[i]);
            Assert.Equal((w.Phenomenon, w.Tier, w.Arm, w.ArmJson, w.Seed, w.ConfigJson, w.ConfigHash, w.ProtocolVersion, w.CodeVersion, w.DataFingerprint),
                (g.Phenomenon, g.Tier, g.Arm, g.ArmJson, g.Seed, g.ConfigJson, g.ConfigHash, g.ProtocolVersion, g.CodeVersion, g.DataFingerprint));
            if (sameTimes) Assert.Equal((w.StartTime, w.EndTime, w.Seconds, w.Host, w.Pid, w.Attempts), (g.StartTime, g.EndTime, g.Seconds, g.Host, g.Pid, g.Attempts));
            var (a, b) = (expected.LoadRun(w.RunId), actual.LoadRun(w.RunId));
            Assert.Equal(a.Results.Keys, b.Results.Keys);
            foreach (var (k, v) in a.Results) Assert.Equal(BitConverter.DoubleToInt64Bits(v), BitConverter.DoubleToInt64Bits(b.Results[k]));
            Assert.Equal(a.Metrics.Keys, b.Metrics.Keys);
            foreach (var (k, pts) in a.Metrics)
                Assert.Equal(pts.Select(p => (p.Step, BitConverter.DoubleToInt64Bits(p.Value))), b.Metrics[k].Select(p => (p.Step, BitConverter.DoubleToInt64Bits(p.Value))));
            Assert.Equal(a.Artifacts.Keys, b.Artifacts.Keys);
            foreach (var name in a.Artifacts.Keys) Assert.Equal(File.ReadAllBytes(a.Artifacts[name]), File.ReadAllBytes(b.Artifacts[name]));
        }
    }
}
