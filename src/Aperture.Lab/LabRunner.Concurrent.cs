using System.Runtime.ExceptionServices;
using Aperture.Lab.Store;

namespace Aperture.Lab;

public sealed partial class LabRunner
{
    /// <summary>
    /// Runs and judges several phenomena, each on its discovery block and, when <paramref name="replicate"/>, its
    /// replication block, executing up to <paramref name="concurrentRuns"/> runs at once in this process, and returns
    /// the outcomes in the order the phenomena were given. Every run is the same pure function of its spec as when run
    /// alone, and the engine's kernels give the same bits on any thread count, so the stored results, and so the
    /// verdicts, are bitwise those of running the blocks one after another.
    /// </summary>
    /// <remarks>
    /// Small runs (an MLP on a few thousand images) leave a second core mostly idle when their kernels are split across
    /// threads, so whole runs are spread over the cores instead: each of the <paramref name="concurrentRuns"/> workers
    /// takes the next run of the first block (in the order given, discovery before replication) that no other worker
    /// is in, so that concurrent runs seldom share a stage and blocks finish early. A block is judged by the worker that
    /// finishes its last run, while the others go on; a phenomenon's blocks are judged in order (its replication block
    /// after its discovery block, even when the replication's runs finish first), so the stored verdicts are too. While several workers run,
    /// the caller's <see cref="Parallelism.Threads"/> is divided among them through a <see cref="ThreadBudget"/> scoped to
    /// the workers (<see cref="Parallelism.Use"/>; the process-wide setting is never changed); once the queue is empty
    /// and workers stop, the remaining runs get their threads back, so no core idles at the tail. Runs
    /// another live process is computing are left to it and waited for, as in <see cref="ExecuteAll"/>. When a run
    /// fails, no further run starts, the runs in progress finish, and the first failure is thrown.
    /// </remarks>
    /// <param name="phenomena">The phenomena with their discovery protocols (each phenomenon once).</param>
    /// <param name="tier">The tier.</param>
    /// <param name="replicate">Whether to run and judge each protocol's replication block (<see cref="ReplicationOf"/>).</param>
    /// <param name="concurrentRuns">Runs executed at once (default: <see cref="Parallelism.Threads"/>, the kernels' thread budget); 1 runs them one after another.</param>
    /// <param name="progress">Receives every run's and every block's events, from whichever worker thread produced them.</param>
    /// <param name="cancellation">Stops every run between measurements.</param>
    public IReadOnlyList<ReplicatedOutcome> RunReplicated(IReadOnlyList<(Phenomenon Phenomenon, LabProtocol Protocol)> phenomena, Tier tier,
        bool replicate = true, int? concurrentRuns = null, IProgress<LabProgress>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(phenomena);
        int workers = concurrentRuns ?? Parallelism.Threads;
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(concurrentRuns), workers, "at least one run at a time");
        if (phenomena.Select(x => x.Phenomenon.Id).Distinct().Count() != phenomena.Count)
            throw new ArgumentException("a phenomenon is given twice", nameof(phenomena));

        // Every block is planned before anything runs: a full tier without the full dataset stops here.
        var blocks = new List<Block>();
        foreach (var (phenomenon, protocol) in phenomena)
        {
            blocks.Add(new Block(phenomenon, protocol, Plan(phenomenon, tier, protocol)));
            if (replicate)
            {
                var replication = ReplicationOf(protocol);
                blocks.Add(new Block(phenomenon, replication, Plan(phenomenon, tier, replication)));
            }
        }
        var queue = new RunQueue(blocks, PollInterval);
        int threads = Parallelism.Threads;
        int alive = Math.Min(workers, Math.Max(1, blocks.Sum(b => b.Plan.Count)));
        // The workers' kernels share one budget, scoped to them: the process-wide setting (and any other caller's
        // scope) is never touched, so concurrent callers cannot leave it lowered.
        var budget = new ThreadBudget(Math.Max(1, threads / alive));
        void Work()
        {
            using var scope = Parallelism.Use(budget);
            try
            {
                while (queue.Take(cancellation) is { } job) RunJob(job, tier, queue, progress, cancellation);
            }
            catch (Exception e)
            {
                queue.Fail(e);
            }
            finally
            {
                // The runs still in progress get the threads of the workers that stopped.
                int left = Interlocked.Decrement(ref alive);
                if (left > 0) budget.Threads = Math.Max(1, threads / left);
            }
        }
        // The calling thread is one of the workers. A worker's stack is as large as a main thread's on Linux, for the
        // engine's deep graphs.
        var others = Enumerable.Range(1, alive - 1)
            .Select(i => new Thread(Work, maxStackSize: 8 << 20) { IsBackground = true, Name = $"Aperture lab worker {i}" }).ToList();
        foreach (var t in others) t.Start();
        Work();
        foreach (var t in others) t.Join();
        queue.ThrowIfFailed();

        var outcomes = new List<ReplicatedOutcome>();
        for (int i = 0; i < blocks.Count; i += replicate ? 2 : 1)
            outcomes.Add(new ReplicatedOutcome(blocks[i].Outcome!, replicate ? blocks[i + 1].Outcome! : null));
        return outcomes;
    }

    // Executes one run of a block (or looks again at one another process holds) and judges the block after its last run.
    private void RunJob(RunQueue.Job job, Tier tier, RunQueue queue, IProgress<LabProgress>? progress, CancellationToken cancellation)
    {
        var (block, index) = (job.Block, job.Index);
        var spec = block.Plan[index];
        var phenomenon = block.Phenomenon;
        LabProgress Event(LabProgressKind kind, double fraction) => new(phenomenon.Id, index, block.Plan.Count, spec.Arm, spec.Seed, kind, fraction);
        var status = store.StatusOf(spec.RunId);
        RunClaim claim;
        if (status == RunStatus.Finished)
            claim = RunClaim.Finished;
        else if (job.Retry && status == RunStatus.Failed)
            throw new LabRunException($"{phenomenon.Id}: run {spec.RunId[..8]} (arm {spec.Arm}, seed {spec.Seed}) failed in another process " +
                                      $"({FirstLine(store.FindRun(spec.RunId).Error)}); run the sweep again to retry it");
        else
        {
            if (!job.Retry) progress?.Report(Event(LabProgressKind.Started, 0));
            claim = TryExecute(spec, phenomenon, f => progress?.Report(Event(LabProgressKind.Step, f)), cancellation);
        }
        if (claim == RunClaim.Leased)
        {
            queue.Wait(job);
            return;
        }
        progress?.Report(Event(claim == RunClaim.Claimed ? LabProgressKind.Finished : LabProgressKind.Reused, 1));
        // A phenomenon's blocks are judged, and their verdicts stored, in block order (discovery, then replication),
        // whichever finishes its runs first: the store's latest verdict is then always the replication's.
        for (var next = queue.Done(job, claim == RunClaim.Claimed); next is not null; next = queue.Judged(next))
        {
            var outcome = Judge(next.Phenomenon, tier, next.Protocol, next.Plan, next.Executed, next.Reused);
            next.Outcome = outcome;
            progress?.Report(new LabProgress(next.Phenomenon.Id, next.Plan.Count, next.Plan.Count, "", next.Protocol.SeedBase, LabProgressKind.Judged, 1) { Outcome = outcome });
        }
    }

    // One block of seeds of one phenomenon: its plan and, once judged, its outcome. The counters change under the queue's lock.
    private sealed class Block(Phenomenon phenomenon, LabProtocol protocol, IReadOnlyList<RunSpec> plan)
    {
        public Phenomenon Phenomenon { get; } = phenomenon;
        public LabProtocol Protocol { get; } = protocol;
        public IReadOnlyList<RunSpec> Plan { get; } = plan;
        public int Next, Busy, Completed, Executed, Reused;
        public bool Judging, Judged;
        public PhenomenonOutcome? Outcome;
    }

    /// <summary>
    /// The runs of several blocks, handed to workers: each takes the next run of the first block no other worker is
    /// in (else of the first block with runs left), so that concurrent runs belong to different blocks while there are
    /// several; runs another process holds wait and are offered again after the poll interval.
    /// </summary>
    private sealed class RunQueue(IReadOnlyList<Block> blocks, TimeSpan poll)
    {
        public sealed record Job(Block Block, int Index, bool Retry);

        private readonly Lock _lock = new();
        private readonly List<(Job Job, DateTime Due)> _waiting = [];
        private ExceptionDispatchInfo? _failure;

        /// <summary>The next run to do, or null when none is left for this worker (all taken, or a run failed).</summary>
        public Job? Take(CancellationToken cancellation)
        {
            while (true)
            {
                cancellation.ThrowIfCancellationRequested();
                TimeSpan sleep;
                lock (_lock)
                {
                    if (_failure is not null) return null;
                    var block = blocks.FirstOrDefault(b => b.Next < b.Plan.Count && b.Busy == 0) ?? blocks.FirstOrDefault(b => b.Next < b.Plan.Count);
                    if (block is not null)
                    {
                        block.Busy++;
                        return new Job(block, block.Next++, false);
                    }
                    if (_waiting.Count == 0) return null;
                    // Only runs another process holds are left: look at the first again once it is due.
                    var (job, due) = _waiting[0];
                    sleep = due - DateTime.UtcNow;
                    if (sleep <= TimeSpan.Zero)
                    {
                        _waiting.RemoveAt(0);
                        job.Block.Busy++;
                        return job with { Retry = true };
                    }
                }
                Thread.Sleep(sleep);
            }
        }

        /// <summary>Puts back a run another live process holds, to be looked at again after the poll interval.</summary>
        public void Wait(Job job)
        {
            lock (_lock)
            {
                job.Block.Busy--;
                _waiting.Add((job, DateTime.UtcNow + poll));
            }
        }

        /// <summary>Counts a finished run; returns the block the caller is to judge now, if any (see <see cref="NextToJudge"/>).</summary>
        public Block? Done(Job job, bool executed)
        {
            lock (_lock)
            {
                var block = job.Block;
                block.Busy--;
                if (executed) block.Executed++;
                else block.Reused++;
                block.Completed++;
                return NextToJudge(block.Phenomenon);
            }
        }

        /// <summary>Records that a block's verdict is stored; returns the phenomenon's next block to judge, if any.</summary>
        public Block? Judged(Block block)
        {
            lock (_lock)
            {
                block.Judging = false;
                block.Judged = true;
                return NextToJudge(block.Phenomenon);
            }
        }

        // The phenomenon's first block not yet judged, claimed for judging when all its runs are done and no other
        // worker is judging one of the phenomenon's blocks; null otherwise. Called under the lock.
        private Block? NextToJudge(Phenomenon phenomenon)
        {
            foreach (var b in blocks)
            {
                if (b.Phenomenon != phenomenon || b.Judged) continue;
                if (b.Judging || b.Completed < b.Plan.Count) return null;
                b.Judging = true;
                return b;
            }
            return null;
        }

        /// <summary>Records a worker's failure (the first one is thrown at the end); no further run starts.</summary>
        public void Fail(Exception e)
        {
            lock (_lock)
            {
                // A cancellation that follows another failure is not the news; a failure that follows a cancellation is.
                if (_failure is null || (_failure.SourceException is OperationCanceledException && e is not OperationCanceledException))
                    _failure = ExceptionDispatchInfo.Capture(e);
            }
        }

        /// <summary>Throws the first failure, if a worker had one.</summary>
        public void ThrowIfFailed()
        {
            lock (_lock) _failure?.Throw();
        }
    }
}
