using Aperture.Lab.Store;

namespace Aperture.Lab.Tests;

/// <summary>
/// The main command's scheduler (<see cref="LabRunner.RunReplicated(IReadOnlyList{ValueTuple{Phenomenon, LabProtocol}}, Tier, bool, int?, IProgress{LabProgress}?, CancellationToken)"/>):
/// runs of several phenomena at once give the same stored bits and verdicts as one run after another.
/// </summary>
public class ConcurrentRunTests
{
    [Fact]
    public void TwoRunsAtOnceStoreTheSameBitsAndVerdictsAsOneAtATime()
    {
        using var dir = new TempDir();
        using var serialStore = Tiny.NewStore(dir, "serial.db");
        using var concurrentStore = Tiny.NewStore(dir, "concurrent.db");
        var all = Tiny.All(2);
        int threads = Parallelism.Threads;
        var serial = new LabRunner(serialStore).RunReplicated(all, Tier.Quick, concurrentRuns: 1);
        var events = new System.Collections.Concurrent.ConcurrentQueue<LabProgress>();
        var concurrent = new LabRunner(concurrentStore).RunReplicated(all, Tier.Quick, concurrentRuns: 2, progress: new Collect(events));
        Assert.Equal(threads, Parallelism.Threads);

        // The outcomes come back in the order given, each with its discovery block first, whatever finished first.
        Assert.Equal(all.Select(x => x.Phenomenon.Id), concurrent.Select(o => o.Id));
        foreach (var (s, c) in serial.Zip(concurrent))
        {
            Assert.Equal(0, c.Discovery.SeedBase);
            Assert.Equal(2, c.Replication!.SeedBase);
            foreach (var (a, b) in new[] { (s.Discovery, c.Discovery), (s.Replication!, c.Replication!) })
            {
                Assert.Equal(a.RunIds, b.RunIds);
                Assert.Equal(a.RunIds.Count, b.RunsExecuted);
                Assert.Equal(a.Verdict.Outcome, b.Verdict.Outcome);
                Assert.Equal(a.Verdict.Effect.Format(), b.Verdict.Effect.Format());
                Assert.Equal(a.Verdict.Checks.Select(k => k.Estimate.Format()), b.Verdict.Checks.Select(k => k.Estimate.Format()));
            }
        }
        var runIds = serial.SelectMany(o => o.Discovery.RunIds.Concat(o.Replication!.RunIds)).ToList();
        var before = serialStore.LoadRunSet(runIds).Runs.ToDictionary(r => r.RunId);
        foreach (var run in concurrentStore.LoadRunSet(runIds).Runs)
        {
            var other = before[run.RunId];
            // Everything but the clock: a run's timings (seconds per step) are measured, not computed.
            static IEnumerable<(string, long)> Computed(StoredRun r) => r.Results.Where(kv => !kv.Key.Contains("seconds", StringComparison.Ordinal))
                .OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, BitConverter.DoubleToInt64Bits(kv.Value)));
            Assert.Equal(Computed(other), Computed(run));
            Assert.Equal(other.Metrics.Keys.Order(), run.Metrics.Keys.Order());
            foreach (var (key, series) in run.Metrics)
                Assert.Equal(other.Metrics[key].Select(m => (m.Step, BitConverter.DoubleToInt64Bits(m.Value))),
                    series.Select(m => (m.Step, BitConverter.DoubleToInt64Bits(m.Value))));
        }

        // Every block is judged once, and each of its runs reported started and finished once.
        var judged = events.Where(e => e.Kind == LabProgressKind.Judged).ToList();
        Assert.Equal(2 * all.Count, judged.Count);
        Assert.Equal(runIds.Count, events.Count(e => e.Kind == LabProgressKind.Started));
        Assert.Equal(runIds.Count, events.Count(e => e.Kind == LabProgressKind.Finished));

        // A second pass finds every run finished and recomputes nothing.
        var again = new LabRunner(concurrentStore).RunReplicated(all, Tier.Quick, concurrentRuns: 2);
        Assert.All(again, o => Assert.Equal((0, o.Discovery.RunIds.Count), (o.Discovery.RunsExecuted, o.Discovery.RunsReused)));
        Assert.Equal(concurrent.Select(o => o.Replication!.Verdict.Outcome), again.Select(o => o.Replication!.Verdict.Outcome));
    }

    [Fact]
    public void RunsThatShareAStageComputeItOnce()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var phenomenon = new SharedStage();
        var outcome = new LabRunner(store).RunReplicated([(phenomenon, phenomenon.Quick)], Tier.Quick, replicate: false, concurrentRuns: 2).Single();
        Assert.Null(outcome.Replication);
        Assert.Equal(8, outcome.Discovery.RunsExecuted);
        // Four arms of each of two seeds, two runs at a time: each seed's stage is computed once and loaded by its other arms.
        Assert.Equal(2, phenomenon.Computed);
        Assert.All(store.LoadRunSet(outcome.Discovery.RunIds).Runs, r => Assert.Equal(42, r.Result("stage")));
    }

    [Fact]
    public void AFailingRunStopsTheSweepAndIsNamed()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var failing = new SharedStage { FailingArm = "b" };
        var e = Assert.Throws<LabRunException>(() => new LabRunner(store).RunReplicated(
            [(Tiny.Relu, Tiny.ReluProtocol(2)), (failing, failing.Quick)], Tier.Quick, replicate: false, concurrentRuns: 2));
        Assert.Contains("shared-stage", e.Message);
        Assert.Contains("arm b", e.Message);
        Assert.Equal(RunStatus.Failed, store.ListRuns().Single(r => r.Arm == "b").Status);
        // The runs that finished before the failure are kept, and the next sweep reuses them.
        Assert.Contains(store.ListRuns(), r => r.Status == RunStatus.Finished);
    }

    [Fact]
    public void AtLeastOneRunAtATime()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        Assert.Throws<ArgumentOutOfRangeException>(() => new LabRunner(store).RunReplicated([(Tiny.Relu, Tiny.ReluProtocol(2))], Tier.Quick, concurrentRuns: 0));
        Assert.Throws<ArgumentException>(() => new LabRunner(store).RunReplicated(
            [(Tiny.Relu, Tiny.ReluProtocol(2)), (Tiny.Relu, Tiny.ReluProtocol(2))], Tier.Quick));
        Assert.Empty(store.ListRuns());
    }

    [Fact]
    public void ConcurrentSweepsShareTheCoresThroughScopesAndLeaveTheProcessSettingAlone()
    {
        using var dir = new TempDir();
        using var storeA = Tiny.NewStore(dir, "a.db");
        using var storeB = Tiny.NewStore(dir, "b.db");
        int threads = Parallelism.DefaultThreadCount;
        var seenA = new ThreadsSeen();
        var seenB = new ThreadsSeen();
        using var start = new Barrier(2);
        Exception? failure = null;
        void Sweep(RunStore store, ThreadsSeen phenomenon)
        {
            try
            {
                start.SignalAndWait();
                new LabRunner(store).RunReplicated([(phenomenon, phenomenon.Quick)], Tier.Quick, replicate: false, concurrentRuns: 2);
            }
            catch (Exception e) { Interlocked.CompareExchange(ref failure, e, null); }
        }
        var a = new Thread(() => Sweep(storeA, seenA));
        var b = new Thread(() => Sweep(storeB, seenB));
        a.Start();
        b.Start();
        a.Join();
        b.Join();
        Assert.Null(failure);
        // Two sweeps that overlap, each dividing the cores among its two workers, leave the process-wide setting as it was.
        Assert.Equal(threads, Parallelism.DefaultThreadCount);
        Assert.Equal(threads, Parallelism.Threads);
        foreach (var seen in new[] { seenA, seenB })
        {
            // Each run's kernels saw its sweep's share: half the threads while both workers ran, all of them at the tail.
            Assert.Equal(4, seen.Values.Count);
            Assert.All(seen.Values, v => Assert.InRange(v, Math.Max(1, threads / 2), threads));
            Assert.Contains(Math.Max(1, threads / 2), seen.Values);
        }
        // A sweep that runs one run at a time gives each run every thread.
        var alone = new ThreadsSeen();
        using var storeC = Tiny.NewStore(dir, "c.db");
        new LabRunner(storeC).RunReplicated([(alone, alone.Quick)], Tier.Quick, replicate: false, concurrentRuns: 1);
        Assert.All(alone.Values, v => Assert.Equal(threads, v));
    }

    [Fact]
    public void AReplicationBlockThatFinishesFirstIsStillJudgedAfterItsDiscovery()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        // Seed 0 is slow: the other worker finishes the whole replication block (seeds 2 and 3) before it.
        var phenomenon = new SlowFirstSeed();
        var events = new System.Collections.Concurrent.ConcurrentQueue<LabProgress>();
        var outcome = new LabRunner(store).RunReplicated([(phenomenon, phenomenon.Quick)], Tier.Quick, concurrentRuns: 2, progress: new Collect(events)).Single();
        Assert.Equal(0, outcome.Discovery.Protocol.SeedBase);
        Assert.Equal(2, outcome.Replication!.Protocol.SeedBase);
        var finished = events.Where(e => e.Kind == LabProgressKind.Finished).Select(e => e.Seed).ToList();
        Assert.True(finished.IndexOf(3) < finished.IndexOf(0), $"the replication's runs finished first in this test: {string.Join(", ", finished)}");
        // Verdicts are stored, and reported, discovery first.
        Assert.Equal([0, 2], events.Where(e => e.Kind == LabProgressKind.Judged).Select(e => e.Seed));
        Assert.Equal([2, 0], store.Verdicts(phenomenon.Id).Select(v => v.SeedBase));
        Assert.Equal(2, store.LatestVerdicts()[phenomenon.Id].SeedBase);
    }

    // One arm; seed 0's run takes longer than the three others together.
    private sealed class SlowFirstSeed : TestPhenomenon<SlowFirstSeed.Protocol>
    {
        public sealed record Protocol : LabProtocol;

        public override string Id => "slow-first-seed";
        public override IReadOnlyList<NamedArm> Arms(Protocol p) => [new("a")];

        public override void Run(Protocol p, NamedArm arm, RunContext run)
        {
            Thread.Sleep(run.Seed == 0 ? 1500 : 20);
            run.Record("seed", run.Seed);
        }

        public override Verdict Judge(Protocol p, RunSet runs) =>
            Verdict.From(Estimate.Mean("seed", Unit.Dimensionless, [.. runs.Runs.Select(r => r.Result("seed"))]),
                Check.Above(Estimate.Mean("seed", Unit.Dimensionless, [.. runs.Runs.Select(r => r.Result("seed"))]), -1, -2));
    }

    // Records the thread count the run's kernels would use (two arms of two seeds).
    private sealed class ThreadsSeen : TestPhenomenon<ThreadsSeen.Protocol>
    {
        public System.Collections.Concurrent.ConcurrentBag<int> Values { get; } = [];

        public sealed record Protocol : LabProtocol;

        public override string Id => "threads-seen";
        public override IReadOnlyList<NamedArm> Arms(Protocol p) => [new("a"), new("b")];

        public override void Run(Protocol p, NamedArm arm, RunContext run)
        {
            // Long enough that the two workers' first runs overlap.
            Thread.Sleep(100);
            int threads = Parallelism.Threads;
            Values.Add(threads);
            run.Record("threads", threads);
        }

        public override Verdict Judge(Protocol p, RunSet runs) =>
            Verdict.From(Estimate.Mean("threads", Unit.Dimensionless, [.. runs.Runs.Select(r => r.Result("threads"))]),
                Check.Above(Estimate.Mean("threads", Unit.Dimensionless, [.. runs.Runs.Select(r => r.Result("threads"))]), 0, 0));
    }

    private sealed class Collect(System.Collections.Concurrent.ConcurrentQueue<LabProgress> events) : IProgress<LabProgress>
    {
        public void Report(LabProgress value) => events.Enqueue(value);
    }

    // Four arms of one seed that read one stage (slow to compute, so that two runs ask for it at once).
    private sealed class SharedStage : TestPhenomenon<SharedStage.Protocol>
    {
        private int _computed;

        public int Computed => Volatile.Read(ref _computed);

        public string? FailingArm { get; init; }

        public sealed record Protocol : LabProtocol;

        public override string Id => "shared-stage";
        public override IReadOnlyList<NamedArm> Arms(Protocol p) => [new("a"), new("b"), new("c"), new("d")];

        public override void Run(Protocol p, NamedArm arm, RunContext run)
        {
            if (arm.Name == FailingArm) throw new InvalidOperationException("the run went wrong");
            var stage = run.Stage("pretrained", "k", () =>
            {
                Interlocked.Increment(ref _computed);
                Thread.Sleep(300);
                return [42];
            });
            run.Record("stage", stage[0]);
        }

        public override Verdict Judge(Protocol p, RunSet runs) =>
            Verdict.From(Estimate.Mean("stage", Unit.Dimensionless, [.. runs.Runs.Select(r => r.Result("stage"))]),
                Check.Above(Estimate.Mean("stage", Unit.Dimensionless, [.. runs.Runs.Select(r => r.Result("stage"))]), 1, 0));
    }
}
