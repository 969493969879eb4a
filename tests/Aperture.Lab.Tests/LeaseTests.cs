using System.Diagnostics;
using System.Text.Json;
using Aperture.Lab.Store;
using Xunit.Abstractions;

namespace Aperture.Lab.Tests;

/// <summary>
/// Runs are held under leases: two sweeps on one store never compute the same run twice, and a run whose owner
/// died is taken over (at once on this machine, after its lease expires elsewhere).
/// </summary>
public class LeaseTests(ITestOutputHelper output)
{
    private static RunSpec Spec(string arm, int seed) =>
        new(RunStore.RunIdentity("demo", Tier.Quick, arm, seed, "{}", "1", RunStore.CodeVersion, "none"), "demo", Tier.Quick, arm,
            new NamedArm(arm).ToJson(), seed, "{}", "1", RunStore.CodeVersion, LabDataset.None, "none", "none");

    [Theory, SqliteStore, PostgreSqlStore]
    public void ALiveLeaseIsRespectedAndAnExpiredOneTakenOver(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        using var a = t.Open();
        using var b = t.Open();
        // Long enough that b's first look comes well inside a's lease even on a loaded machine.
        a.LeaseDuration = TimeSpan.FromSeconds(3);
        var spec = Spec("arm", 0);
        Assert.Equal(RunClaim.Claimed, a.Claim(spec, a.EnsureExperiment("demo", "")));
        long exp = b.EnsureExperiment("demo", "");
        Assert.Equal(RunClaim.Leased, b.Claim(spec, exp));
        Assert.False(b.BeginRun(spec, exp));
        Assert.Equal(a.LeaseOwner, b.LeaseOf(spec.RunId).Owner);

        // a stops renewing (a frozen process): once its lease has expired, b takes the run, with a second attempt.
        Thread.Sleep(3500);
        Assert.Equal(RunClaim.Claimed, b.Claim(spec, exp));
        Assert.Equal(b.LeaseOwner, a.LeaseOf(spec.RunId).Owner);
        Assert.Equal(2, b.FindRun(spec.RunId).Attempts);
        // a's lease is gone: it can neither renew it nor mark the run failed under b.
        Assert.False(a.RenewLease(spec.RunId));
        a.FailRun(spec.RunId, "late failure", 1);
        Assert.Equal(RunStatus.Running, b.StatusOf(spec.RunId));
        Assert.True(b.FinishRun(spec.RunId, new RunContext("arm", 0, Tier.Quick), 0.1));
        Assert.Equal(RunClaim.Finished, a.Claim(spec, exp));
        Assert.Equal((null, null), a.LeaseOf(spec.RunId));
    }

    [Theory, SqliteStore, PostgreSqlStore]
    public void TheHeartbeatKeepsALeaseAlivePastItsDuration(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        using var a = t.Open();
        using var b = t.Open();
        // Beats every 0.5 s; a lease outlives three missed beats, so a loaded machine does not lose it.
        a.LeaseDuration = TimeSpan.FromSeconds(2);
        var spec = Spec("arm", 1);
        long exp = a.EnsureExperiment("demo", "");
        Assert.Equal(RunClaim.Claimed, a.Claim(spec, exp));
        using (a.HoldLease(spec.RunId))
        {
            for (int i = 0; i < 10; i++)
            {
                Thread.Sleep(500);   // 5 s in all: two and a half lease durations
                Assert.Equal(RunClaim.Leased, b.Claim(spec, exp));
            }
        }
        Thread.Sleep(2500);
        Assert.Equal(RunClaim.Claimed, b.Claim(spec, exp));
    }

    [Theory, SqliteStore, PostgreSqlStore]
    public void ALeaseOfADeadProcessOnThisMachineIsTakenOverAtOnce(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        using var a = t.Open();
        var spec = Spec("arm", 2);
        long exp = a.EnsureExperiment("demo", "");
        Assert.Equal(RunClaim.Claimed, a.Claim(spec, exp));
        // Hand the live lease to a process of this machine that is not running (a pid above the kernel's limit),
        // as a killed sweep leaves it.
        Assert.Equal(1, t.Sql("runs", "UPDATE runs SET lease_owner = @o, lease_expires = @e WHERE run_id = @id",
            ("o", $"{Environment.MachineName}/99999999/638000000000000000/dead"), ("e", DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds()),
            ("id", spec.RunId)));
        using var b = t.Open();
        Assert.Equal(RunClaim.Claimed, b.Claim(spec, exp));

        // The same lease held by a process on another machine is respected until it expires.
        var other = Spec("arm", 3);
        Assert.Equal(RunClaim.Claimed, a.Claim(other, exp));
        t.Sql("runs", "UPDATE runs SET lease_owner = 'another-host/1/1/x', lease_expires = @e WHERE run_id = @id",
            ("e", DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds()), ("id", other.RunId));
        Assert.Equal(RunClaim.Leased, b.Claim(other, exp));
    }

    [Theory, SqliteStore, PostgreSqlStore]
    public void ClosingAStoreReleasesItsLeases(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        var spec = Spec("arm", 4);
        using (var a = t.Open())
            Assert.Equal(RunClaim.Claimed, a.Claim(spec, a.EnsureExperiment("demo", "")));
        using var b = t.Open();
        Assert.Equal(RunClaim.Claimed, b.Claim(spec, b.EnsureExperiment("demo", "")));
    }

    /// <summary>Two sweeps of the same protocol on one store, in two threads with a connection each: every run is computed once.</summary>
    [Theory, SqliteStore, PostgreSqlStore]
    public void TwoConcurrentSweepsComputeEachRunOnce(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        var protocol = Tiny.MomentumProtocol(6);
        var outcomes = new ReplicatedOutcome?[2];
        var errors = new List<Exception>();
        using var start = new Barrier(2);
        var threads = Enumerable.Range(0, 2).Select(i => new Thread(() =>
        {
            try
            {
                using var store = t.Open();
                var runner = new LabRunner(store) { PollInterval = TimeSpan.FromMilliseconds(20) };
                start.SignalAndWait();
                outcomes[i] = runner.RunReplicated(Tiny.Momentum, Tier.Quick, protocol);
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
        var runs = check.ListRuns();
        int total = runs.Count;
        Assert.Equal(2 * 6 * Tiny.Momentum.ArmsFor(protocol).Count, total);
        Assert.All(runs, r => Assert.Equal(RunStatus.Finished, r.Status));
        Assert.All(runs, r => Assert.Equal(1, r.Attempts));   // no run was begun twice
        int executed = outcomes.Sum(o => o!.Discovery.RunsExecuted + o.Replication!.RunsExecuted);
        Assert.Equal(total, executed);                         // and each was computed by exactly one sweep
        output.WriteLine($"sweep A computed {outcomes[0]!.Discovery.RunsExecuted + outcomes[0]!.Replication!.RunsExecuted}, " +
                         $"sweep B {outcomes[1]!.Discovery.RunsExecuted + outcomes[1]!.Replication!.RunsExecuted} of {total}");
        Assert.All(outcomes, o => Assert.True(o!.Discovery.RunsExecuted + o.Replication!.RunsExecuted > 0, "a sweep computed nothing: they did not overlap"));
        // Both judged the same runs to the same verdict.
        Assert.Equal(outcomes[0]!.Discovery.Verdict.Outcome, outcomes[1]!.Discovery.Verdict.Outcome);
        Assert.Equal(outcomes[0]!.Discovery.RunIds, outcomes[1]!.Discovery.RunIds);
    }

    /// <summary>
    /// The same with two `aperture lab run` processes started together on one store: zero duplicated computations
    /// (the issue found 0–291 per pair before leases).
    /// </summary>
    [Fact]
    public async Task TwoConcurrentProcessesComputeEachRunOnce()
    {
        using var dir = new TempDir();
        string db = dir.File("shared.db");
        string[] sweep = ["lab", "run", "momentum-acceleration", "--seeds", "5", "--set", "dimension=16", "--set", "kappas=10,100,1000"];
        var processes = Enumerable.Range(0, 2).Select(i =>
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in (string[])[Tiny.CliDll, .. sweep, "--store", db, "--json", dir.File($"sweep{i}.json")]) psi.ArgumentList.Add(a);
            psi.Environment["NO_COLOR"] = "1";
            return Process.Start(psi)!;
        }).ToList();
        var logs = processes.Select(p => (Out: p.StandardOutput.ReadToEndAsync(), Err: p.StandardError.ReadToEndAsync())).ToList();
        for (int i = 0; i < 2; i++)
        {
            var p = processes[i];
            using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            await p.WaitForExitAsync(limit.Token);
            string log = await logs[i].Out + "\n" + await logs[i].Err;
            Assert.True(p.ExitCode == 0, $"sweep {i} failed ({p.ExitCode}): {log}");
            p.Dispose();
        }

        int newRuns = 0;
        for (int i = 0; i < 2; i++)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(dir.File($"sweep{i}.json")));
            var record = doc.RootElement.GetProperty("results")[0];
            int mine = record.GetProperty("discovery").GetProperty("runs_new").GetInt32() + record.GetProperty("replication").GetProperty("runs_new").GetInt32();
            output.WriteLine($"process {i} computed {mine} runs");
            Assert.True(mine > 0, $"process {i} computed nothing: the sweeps did not overlap, so this test showed nothing");
            newRuns += mine;
        }
        using var store = new RunStore(db);
        var runs = store.ListRuns();
        Assert.All(runs, r => Assert.Equal(RunStatus.Finished, r.Status));
        Assert.All(runs, r => Assert.Equal(1, r.Attempts));
        Assert.Equal(runs.Count, newRuns);
    }

    [Theory, SqliteStore, PostgreSqlStore]
    public void AVersion2StoreIsUpgradedInPlaceAndKeepsItsRuns(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        var spec = Spec("arm", 5);
        using (var store = t.Open())
        {
            store.BeginRun(spec, store.EnsureExperiment("demo", ""));
            store.FinishRun(spec.RunId, new RunContext("arm", 5, Tier.Quick), 0.5);
        }
        t.Sql("runs", "ALTER TABLE runs DROP COLUMN lease_owner; ALTER TABLE runs DROP COLUMN lease_expires; DROP TABLE run_tags; DROP TABLE run_notes; " +
                      "DROP TABLE sweep_tags; DROP TABLE sweep_jobs; DROP TABLE sweep_tasks; DROP TABLE sweep_points; DROP TABLE sweeps; UPDATE schema_info SET version = 2;");

        // Read-only opening leaves it as it is.
        using (var reader = t.OpenExisting())
        {
            Assert.Null(reader.UpgradedFrom);
            Assert.Single(reader.ListRuns());
        }
        using var upgraded = t.Open();
        Assert.Equal(2, upgraded.UpgradedFrom);
        Assert.Equal(RunStatus.Finished, upgraded.StatusOf(spec.RunId));
        Assert.Equal(RunClaim.Finished, upgraded.Claim(spec, upgraded.EnsureExperiment("demo", "")));
        var next = Spec("arm", 6);
        Assert.Equal(RunClaim.Claimed, upgraded.Claim(next, upgraded.EnsureExperiment("demo", "")));
    }

    /// <summary>
    /// A version 4 store (before tags and notes were a migration) is read as it is, without tags, and upgraded to
    /// version 5 when opened for writing; one whose run_tags and run_notes an older build had already made keeps their rows.
    /// </summary>
    [Theory, SqliteStore, PostgreSqlStore]
    public void AVersion4StoreGetsItsAnnotationTablesByMigration(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        var spec = Spec("arm", 5);
        foreach (var name in (string[])["bare", "tagged"])
        {
            using var store = t.Open(name);
            store.BeginRun(spec, store.EnsureExperiment("demo", ""));
            store.FinishRun(spec.RunId, new RunContext("arm", 5, Tier.Quick), 0.5);
            if (name == "tagged")
            {
                store.TagRun(spec.RunId, "reviewed", "yes");
                Assert.Equal(1, store.NoteRun(spec.RunId, "checked by hand"));
            }
        }
        // What version 4 stores look like: without the annotation tables, or with run_tags and run_notes made on a first tag.
        t.Sql("bare", "DROP TABLE run_tags; DROP TABLE run_notes; DROP TABLE sweep_tags; UPDATE schema_info SET version = 4;");
        t.Sql("tagged", "DROP TABLE sweep_tags; UPDATE schema_info SET version = 4;");

        using (var reader = t.OpenExisting("bare"))
        {
            Assert.Equal(4, reader.Version);
            Assert.Null(reader.UpgradedFrom);
            Assert.Empty(reader.Tags(spec.RunId));
            Assert.Empty(reader.Notes(spec.RunId));
            Assert.Equal(0, reader.QueryRuns(new RunQuery(Tag: KeyValuePair.Create("reviewed", "yes"))).Total);
            Assert.Single(reader.QueryRuns(new RunQuery()).Rows);
            Assert.False(reader.UntagRun(spec.RunId, "reviewed"));
            // Writing an annotation needs the upgrade, which a store opened for reading never makes.
            Assert.Throws<InvalidOperationException>(() => reader.TagRun(spec.RunId, "reviewed", "yes"));
        }
        using (var reader = t.OpenExisting("bare")) Assert.Equal(4, reader.Version);

        foreach (var name in (string[])["bare", "tagged"])
        {
            using var upgraded = t.Open(name);
            Assert.Equal(4, upgraded.UpgradedFrom);
            Assert.Equal(RunStore.SchemaVersion, upgraded.Version);
            Assert.Equal(5, RunStore.SchemaVersion);
            if (name == "tagged")
            {
                Assert.Equal("yes", upgraded.Tags(spec.RunId)["reviewed"]);
                Assert.Equal("checked by hand", Assert.Single(upgraded.Notes(spec.RunId)).Text);
            }
            upgraded.TagRun(spec.RunId, "owner", "lab");
            Assert.Equal(name == "tagged" ? 2 : 1, upgraded.NoteRun(spec.RunId, "after the upgrade"));
            Assert.Equal(1, upgraded.QueryRuns(new RunQuery(Tag: KeyValuePair.Create("owner", "lab"))).Total);
        }
        using (var again = t.Open("bare")) Assert.Null(again.UpgradedFrom);
    }

    [Theory, SqliteStore, PostgreSqlStore]
    public void StoresOfOtherVersionsAreRefusedNamingTheFile(StoreBackend backend)
    {
        using var t = new TestStore(backend);
        foreach (var (version, words) in new[] { (1, "cannot be reused"), (RunStore.SchemaVersion + 1, "newer Aperture") })
        {
            string name = $"v{version}";
            using (var s = t.Open(name)) { }
            t.Sql(name, $"UPDATE schema_info SET version = {version}");
            var e = Assert.Throws<InvalidDataException>(() => t.Open(name));
            Assert.Contains(backend == StoreBackend.Sqlite ? name + ".db" : StoreAddress.Parse(t.Location(name)).Display, e.Message);
            Assert.Contains(words, e.Message);
        }
    }

    [Fact]
    public void AnEmptyFileIsNotANewStore()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("aperture.db"), []);
        var e = Assert.Throws<InvalidDataException>(() => new RunStore(dir.File("aperture.db")));
        Assert.Contains("0 bytes", e.Message);
        Assert.Equal(0, new FileInfo(dir.File("aperture.db")).Length);
        Assert.Throws<FileNotFoundException>(() => RunStore.OpenExisting(dir.File("missing.db")));
        Assert.False(File.Exists(dir.File("missing.db")));
    }
}
