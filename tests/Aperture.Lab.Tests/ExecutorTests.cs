using System.Diagnostics;
using Aperture.Lab.Store;
using Aperture.Lab.Sweeps;
using Xunit.Abstractions;

namespace Aperture.Lab.Tests;

/// <summary>A fact that runs only against a real Slurm cluster (<c>SLURM_CONF</c> set, the client commands on the PATH, the controller up); skipped, saying why, otherwise.</summary>
public sealed class SlurmFactAttribute : FactAttribute
{
    public SlurmFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("SLURM_CONF") is not { Length: > 0 })
            Skip = "no Slurm cluster: SLURM_CONF is not set (.ci/run starts one with cluster/slurm.sh; locally: cluster/slurm.sh start && eval \"$(cluster/slurm.sh env)\")";
        else if (!Slurm.Available(out string why))
            Skip = $"the Slurm cluster at SLURM_CONF does not answer: {why}";
    }
}

/// <summary>A fact that needs the local Slurm cluster and the PostgreSQL test server; skipped, saying which is missing, otherwise.</summary>
public sealed class SlurmPostgreSqlFactAttribute : FactAttribute
{
    public SlurmPostgreSqlFactAttribute()
    {
        var slurm = new SlurmFactAttribute();
        if (slurm.Skip is { } why) Skip = why;
        else if (TestStore.PostgresUrl is null)
            Skip = $"no PostgreSQL server: set {TestStore.PostgresVariable} (`eval \"$(cluster/postgres.sh env)\"` after `cluster/postgres.sh start`; .ci/run does both)";
    }
}

/// <summary>
/// The executors give the runs, bits and verdicts of a local run: worker processes on this machine, and a Slurm job
/// array on the real local cluster (with a task killed while it runs, retried, and nothing lost or duplicated).
/// Workers are the built `aperture` command, started as real processes.
/// </summary>
public class ExecutorTests(ITestOutputHelper output)
{
    private static WorkerCommand Worker(RunStore store) => Worker(store.Path, store.ArtifactRoot);

    private static WorkerCommand Worker(string location, string artifacts) =>
        new((id, task) => ["dotnet", Tiny.CliDll, "lab", "worker", "--store", location, "--artifacts", artifacts, "--sweep", id,
            .. task is null ? Array.Empty<string>() : ["--task", task]]);

    private sealed class Log(ITestOutputHelper output) : IProgress<SweepProgress>
    {
        public void Report(SweepProgress value)
        {
            if (value.Message is { } m) output.WriteLine($"[{value.RunsFinished}/{value.RunsTotal}] {m}");
        }
    }

    // Every run's final results, bit for bit, by run id.
    private static Dictionary<string, string> Bits(RunStore store, IEnumerable<string> runIds) =>
        runIds.Select(store.LoadRun).ToDictionary(r => r.RunId,
            r => string.Join(";", r.Results.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={BitConverter.DoubleToInt64Bits(kv.Value):x16}")));

    private static void AssertSameAsLocal(SweepOutcome local, RunStore localStore, SweepOutcome other, RunStore otherStore)
    {
        Assert.Equal(local.Plan.Id, other.Plan.Id);
        var ids = local.Plan.Runs.Select(r => r.RunId).ToList();
        var rows = otherStore.ListRuns();
        Assert.Equal(ids.Count, rows.Count);
        Assert.Equal(ids.Order(), rows.Select(r => r.RunId).Order());
        Assert.All(rows, r => Assert.Equal(RunStatus.Finished, r.Status));
        Assert.Equal(Bits(localStore, ids), Bits(otherStore, ids));
        Assert.Equal(local.Points.Count, other.Points.Count);
        for (int i = 0; i < local.Points.Count; i++)
        {
            var a = local.Points[i].Outcome.Verdict;
            var b = other.Points[i].Outcome.Verdict;
            Assert.Equal(a.Outcome, b.Outcome);
            Assert.Equal(a.Checks.Select(c => (c.Estimate.Value, c.Estimate.Low, c.Estimate.High, c.Outcome)), b.Checks.Select(c => (c.Estimate.Value, c.Estimate.Low, c.Estimate.High, c.Outcome)));
        }
    }

    private static (SweepOutcome Outcome, RunStore Store) RunLocally(TempDir dir, SweepSpec spec, int runsPerTask = 1)
    {
        var store = Tiny.NewStore(dir, "local.db");
        var runner = new LabRunner(store);
        var sweeps = new SweepRunner(store, runner);
        return (sweeps.Run(sweeps.Prepare(spec, runsPerTask), new LocalExecutor(runner)), store);
    }

    [Fact]
    public void WorkerProcessesGiveTheBitsAndVerdictsOfALocalRun()
    {
        using var dir = new TempDir();
        var spec = SweepTests.DimensionSweep();
        var (local, localStore) = RunLocally(dir, spec);
        using (localStore)
        using (var store = Tiny.NewStore(dir, "processes.db"))
        {
            var runner = new LabRunner(store);
            var sweeps = new SweepRunner(store, runner);
            var plan = sweeps.Prepare(spec);
            var outcome = sweeps.Run(plan, new ProcessExecutor(Worker(store), jobs: 2), new Log(output));
            AssertSameAsLocal(local, localStore, outcome, store);
            Assert.All(store.ListRuns(), r => Assert.Equal(1, r.Attempts));   // each run claimed once, by one worker
            Assert.DoesNotContain(store.ListRuns(), r => r.Pid == Environment.ProcessId);   // computed in the workers, not here
        }
    }

    [SlurmFact]
    public void JobArrayOfSeededRunsGivesExactlyTheRunsBitsAndVerdictOfALocalRun()
    {
        using var dir = new TempDir();
        // No swept setting: one grid point, an array of 4 seeds × 4 arms = 16 seeded runs, one per array task.
        var spec = new SweepSpec("momentum-acceleration", Tier.Quick, [])
        {
            Fixed = [KeyValuePair.Create("dimension", "8"), KeyValuePair.Create("kappas", "10,100,1000"), KeyValuePair.Create("noisy_kappa", "100")],
            Seeds = 4,
            Replicate = false,
        };
        var (local, localStore) = RunLocally(dir, spec);
        using (localStore)
        using (var store = Tiny.NewStore(dir, "slurm.db"))
        {
            var runner = new LabRunner(store);
            var sweeps = new SweepRunner(store, runner);
            var plan = sweeps.Prepare(spec);
            Assert.Equal(16, plan.Tasks.Count);
            var slurm = new SlurmExecutor(Worker(store), new SlurmOptions { ScriptDirectory = dir.File("sweeps"), PollInterval = TimeSpan.FromSeconds(0.5) });
            var outcome = sweeps.Run(plan, slurm, new Log(output));
            AssertSameAsLocal(local, localStore, outcome, store);
            Assert.All(store.ListRuns(), r => Assert.Equal(1, r.Attempts));
            var job = Assert.Single(store.SweepJobs(plan.Id));
            Assert.Equal("0-15", job.Tasks);
            var states = SlurmExecutor.TaskStates(job.JobId);
            Assert.Equal(16, states.Count);
            Assert.All(states.Values, s => Assert.Equal("COMPLETED", s));
            Assert.True(File.Exists(Path.Combine(slurm.ScriptFolder(plan.Id), "array.sh")));
        }
    }

    [SlurmFact]
    public void TaskCancelledWhileRunningIsRetriedAndTheSweepLosesAndDuplicatesNothing()
    {
        using var dir = new TempDir();
        // Two tasks of four runs; each starts with a gradient-descent run at κ = 20000 (a second or two), during
        // which task 0 is cancelled.
        var spec = new SweepSpec("momentum-acceleration", Tier.Quick, [])
        {
            Fixed = [KeyValuePair.Create("dimension", "32"), KeyValuePair.Create("kappas", "10,20000"), KeyValuePair.Create("noisy_kappa", "10")],
            Seeds = 2,
            Replicate = false,
        };
        using var store = Tiny.NewStore(dir, "slurm.db");
        var runner = new LabRunner(store);
        var sweeps = new SweepRunner(store, runner);
        var plan = sweeps.Prepare(spec, runsPerTask: 4);
        Assert.Equal(2, plan.Tasks.Count);
        var slurm = new SlurmExecutor(Worker(store), new SlurmOptions { ScriptDirectory = dir.File("sweeps"), PollInterval = TimeSpan.FromSeconds(0.5), MaxRetries = 2 });
        var running = Task.Run(() => sweeps.Run(plan, slurm, new Log(output)));

        // Cancel array task 0 while its first run is running (its lease taken in the store).
        string target = plan.Tasks[0][0].RunId;
        var clock = Stopwatch.StartNew();
        string? job = null;
        using (var watcher = new RunStore(store.Path))
        {
            while (clock.Elapsed < TimeSpan.FromSeconds(120) && !running.IsCompleted)
            {
                if (watcher.StatusOf(target) == RunStatus.Running && watcher.SweepJobs(plan.Id).FirstOrDefault() is { } j)
                {
                    job = j.JobId;
                    break;
                }
                Thread.Sleep(20);
            }
        }
        Assert.NotNull(job);
        var (code, _, error) = Slurm.Run("scancel", [$"{job}_0"]);
        Assert.True(code == 0, error);
        output.WriteLine($"cancelled {job}_0 after {clock.Elapsed.TotalSeconds:F1} s");

        var outcome = running.Wait(TimeSpan.FromMinutes(5)) ? running.Result : throw new TimeoutException("the sweep did not finish in 5 minutes");
        var rows = store.ListRuns();
        Assert.Equal(plan.Runs.Count, rows.Count);
        Assert.Equal(plan.Runs.Select(r => r.RunId).Order(), rows.Select(r => r.RunId).Order());
        Assert.All(rows, r => Assert.Equal(RunStatus.Finished, r.Status));
        // The cancelled run was run again, once; no other run was run twice.
        Assert.Equal(2, rows.Single(r => r.RunId == target).Attempts);
        Assert.All(rows.Where(r => r.RunId != target), r => Assert.Equal(1, r.Attempts));
        // The retry was a new array of just the cancelled index, and Slurm saw the first one CANCELLED.
        var jobs = store.SweepJobs(plan.Id);
        Assert.Equal(2, jobs.Count);
        Assert.Equal("0", jobs[1].Tasks);
        Assert.Equal(1, jobs[1].Attempt);
        Assert.StartsWith("CANCELLED", SlurmExecutor.TaskStates(job!)[0]);
        Assert.Single(outcome.Points);
        // And the bits are a local run's.
        var (local, localStore) = RunLocally(dir, spec, runsPerTask: 4);
        using (localStore) AssertSameAsLocal(local, localStore, outcome, store);
    }

    /// <summary>
    /// The USR1 path under a real time limit: one task of about 80 s of short runs under <c>--time 1</c> (a minute,
    /// Slurm's least) and <c>--signal=B:USR1@10</c> is warned before its limit (Slurm checks limits every 30 s and may
    /// warn up to that much early: here 20–50 s in); its worker stops between measurements and releases the run it
    /// holds, the script requeues the task, and the requeued task reuses the finished runs and computes the rest. The
    /// job ends COMPLETED (never TIMEOUT) without a resubmission, every run is finished once, and a run interrupted and
    /// computed again has the bits of the same run computed here in one go. About two minutes: the local
    /// cluster starts a requeued task again within about 15 s (cluster/slurm.sh: cred_expire, bf_interval).
    /// </summary>
    [SlurmFact]
    public void TaskWarnedBeforeItsTimeLimitReleasesItsRunIsRequeuedAndTheSweepCompletes()
    {
        using var dir = new TempDir();
        // Gradient descent at κ = 20000 and the quick arms, in runs short enough that each attempt finishes some
        // before its warning. The task must outlast the warning (which Slurm sends up to about 50 s into a one-minute
        // limit) on a fast machine as on a loaded one, so its number of seeds is sized from seeds timed in a worker:
        // about 80 s of work in all.
        var spec = new SweepSpec("momentum-acceleration", Tier.Quick, [])
        {
            Fixed = [KeyValuePair.Create("dimension", "32"), KeyValuePair.Create("kappas", "10,20000"), KeyValuePair.Create("noisy_kappa", "10")],
            Seeds = 2,
            Replicate = false,
        };
        // Timed in the worker itself, a process like the task's (in this test process one seed read 2.5 times slower
        // than in the worker, so a figure taken here sized a task that finished before its warning): a sweep of 20
        // seeds less one of 4 is 16 seeds of steady work, without the start-up both share.
        int probes = 0;
        double WorkerSeconds(int seeds)
        {
            // A fresh store each time, so that no probe reuses another's runs.
            using var probe = Tiny.NewStore(dir, $"probe-{seeds}-{probes++}.db");
            var prober = new SweepRunner(probe, new LabRunner(probe));
            var plan = prober.Prepare(spec with { Seeds = seeds }, runsPerTask: 10_000);
            var timer = Stopwatch.StartNew();
            prober.Run(plan, new ProcessExecutor(Worker(probe), jobs: 1));
            return timer.Elapsed.TotalSeconds;
        }
        // The faster of two timings: a busy spell during one probe overstates a seed's time, and a sweep sized from it
        // finishes before its warning (seen with other work on the machine: 0.61 s a seed, done in 28 s, no requeue).
        double perSeed = Math.Max(Math.Min(WorkerSeconds(20) - WorkerSeconds(4), WorkerSeconds(20) - WorkerSeconds(4)) / 16, 1e-3);
        spec = spec with { Seeds = (int)Math.Clamp(Math.Ceiling(80 / perSeed), 8, 2000) };
        output.WriteLine($"one seed took {perSeed:F3} s in a worker: {spec.Seeds} seeds");
        using var store = Tiny.NewStore(dir, "slurm.db");
        var runner = new LabRunner(store);
        var sweeps = new SweepRunner(store, runner);
        // One array task holds every run, however many seeds the timing asked for (up to 2000 seeds of 4 arms).
        var plan = sweeps.Prepare(spec, runsPerTask: 10_000);
        Assert.Single(plan.Tasks);
        var slurm = new SlurmExecutor(Worker(store), new SlurmOptions
        {
            ScriptDirectory = dir.File("sweeps"), Time = "1", SignalSeconds = 10, PollInterval = TimeSpan.FromSeconds(1), MaxRetries = 2,
        });
        var clock = Stopwatch.StartNew();
        var outcome = sweeps.Run(plan, slurm, new Log(output));
        output.WriteLine($"sweep finished in {clock.Elapsed.TotalSeconds:F1} s");

        // One submission: the task was requeued by its script, not resubmitted by the coordinator after a TIMEOUT.
        var job = Assert.Single(store.SweepJobs(plan.Id));
        Assert.Equal("COMPLETED", SlurmExecutor.TaskStates(job.JobId)[0]);
        var (code, text, error) = Slurm.Run("scontrol", ["show", "job", $"{job.JobId}_0"]);
        Assert.True(code == 0, error);
        var restarts = System.Text.RegularExpressions.Regex.Match(text, @"Restarts=(\d+)");
        Assert.True(restarts.Success, text);
        int requeued = int.Parse(restarts.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        string log = File.ReadAllText(Path.Combine(slurm.ScriptFolder(plan.Id), $"slurm-{job.JobId}_0.out"));
        output.WriteLine($"task 0 was requeued {requeued} time(s)\n{log}");
        Assert.InRange(requeued, 1, 8);
        // Each attempt started the worker on the task; each but the last was stopped by the warning.
        Assert.Equal(requeued + 1, System.Text.RegularExpressions.Regex.Matches(log, $@"sweep {plan.Id} task 0: \d+ run\(s\) on").Count);
        Assert.Equal(requeued, System.Text.RegularExpressions.Regex.Matches(log, "stopped: finished runs are stored").Count);

        // Nothing lost or duplicated: every planned run finished, once; a run began a second time only where a warning
        // stopped it (at most one per warning; none when a warning came between two runs).
        var rows = store.ListRuns();
        Assert.Equal(plan.Runs.Select(r => r.RunId).Order(), rows.Select(r => r.RunId).Order());
        Assert.All(rows, r => Assert.Equal(RunStatus.Finished, r.Status));
        var interrupted = rows.Where(r => r.Attempts > 1).ToList();
        output.WriteLine($"{interrupted.Count} run(s) stopped by a warning and computed again");
        Assert.InRange(interrupted.Count, 0, requeued);
        Assert.All(interrupted, r => Assert.Equal(2, r.Attempts));
        Assert.NotNull(Assert.Single(store.FindSweep(plan.Id).Points).Outcome);
        Assert.Single(outcome.Points);

        // An interrupted run, computed again, has the bits of the same run computed here in one go.
        using var fresh = Tiny.NewStore(dir, "fresh.db");
        var specs = plan.Runs.Where(r => interrupted.Any(i => i.RunId == r.RunId)).ToList();
        foreach (var s in specs) Assert.True(new LabRunner(fresh).Execute(s));
        Assert.Equal(Bits(fresh, specs.Select(s => s.RunId)), Bits(store, specs.Select(s => s.RunId)));
    }

    [SlurmPostgreSqlFact]
    public void TwoSlurmSweepsIntoOnePostgreSqlStoreAtOnceGiveTheBitsOfLocalSqliteRuns()
    {
        using var stores = new TestStore(Aperture.Lab.Store.StoreBackend.PostgreSql);
        SweepSpec Spec(string dimension) => new("momentum-acceleration", Tier.Quick, [SweepAxis.Values("tolerance", ["1e-6", "1e-8"])])
        {
            Fixed = [KeyValuePair.Create("dimension", dimension), KeyValuePair.Create("kappas", "10,100,1000"), KeyValuePair.Create("noisy_kappa", "100")],
            Seeds = 2,
            Replicate = false,
        };
        var specs = new[] { Spec("8"), Spec("12") };
        string location = stores.Location("shared"), artifacts = stores.Artifacts("shared")!;
        using var store = new RunStore(location, artifacts);
        var runner = new LabRunner(store);
        var sweeps = new SweepRunner(store, runner);
        var plans = specs.Select(s => sweeps.Prepare(s, runsPerTask: 4)).ToList();
        // Two coordinators at once, each with its own connection, on one database.
        var outcomes = plans.Select(plan => Task.Run(() =>
        {
            using var own = new RunStore(location, artifacts);
            var slurm = new SlurmExecutor(Worker(location, artifacts), new SlurmOptions { ScriptDirectory = stores.Dir.File("sweeps"), PollInterval = TimeSpan.FromSeconds(0.5) });
            return new SweepRunner(own, new LabRunner(own)).Run(plan, slurm, new Log(output));
        })).ToList();
        Task.WaitAll([.. outcomes], TimeSpan.FromMinutes(5));
        Assert.Equal(plans.Sum(p => p.Runs.Count), store.ListRuns().Count);
        Assert.All(store.ListRuns(), r => Assert.Equal(1, r.Attempts));
        for (int i = 0; i < specs.Length; i++)
        {
            using var dir = new TempDir();
            var (local, localStore) = RunLocally(dir, specs[i], runsPerTask: 4);
            using (localStore)
            {
                var other = outcomes[i].Result;
                Assert.Equal(local.Plan.Id, other.Plan.Id);
                var ids = local.Plan.Runs.Select(r => r.RunId).ToList();
                Assert.Equal(Bits(localStore, ids), Bits(store, ids));
                Assert.Equal(local.Points.Select(p => (p.Outcome.Verdict.Outcome, p.Outcome.Verdict.Effect.Value)),
                             other.Points.Select(p => (p.Outcome.Verdict.Outcome, p.Outcome.Verdict.Effect.Value)));
                Assert.Single(store.SweepJobs(other.Plan.Id));
            }
        }
    }
}
