using System.Diagnostics;

namespace Aperture;

/// <summary>
/// How many threads kernels use. Work is only ever split over independent outputs, never inside one output's
/// reduction, so results are bitwise identical for every thread count.
/// </summary>
/// <remarks>
/// Parallel loops run on a dedicated pool of <see cref="Threads"/> − 1 workers; the calling thread takes the first
/// chunk itself, and any chunk whose worker has not started by then. A worker spins briefly after each loop before
/// it blocks, so the back-to-back small kernels of a training step do not pay a wake-up each. A loop started while
/// the pool is busy (a nested loop, or a second thread) runs on its caller alone; that changes no result, since
/// chunks never share an output.
/// </remarks>
public static class Parallelism
{
    private static int s_threads = DefaultThreads();

    // The budget of the innermost Use/Limit scope of this thread's execution flow (null: the process-wide default).
    // An AsyncLocal so that a scope flows into the tasks and awaits started inside it, and never leaks to another flow.
    private static readonly AsyncLocal<ThreadBudget?> s_scope = new();

    private static int DefaultThreads()
    {
        var env = Environment.GetEnvironmentVariable("APERTURE_THREADS");
        return int.TryParse(env, out int n) && n >= 1 ? n : Environment.ProcessorCount;
    }

    /// <summary>
    /// The number of threads the calling thread's kernels use: the budget of the innermost <see cref="Limit"/> or
    /// <see cref="Use"/> scope of this execution flow, else the process-wide default. Setting it sets the process-wide
    /// default (initially <c>APERTURE_THREADS</c> or the processor count), which scopes then override.
    /// </summary>
    /// <remarks>
    /// Code that shares the cores between concurrent computations should give each one a scope
    /// (<c>using (Parallelism.Limit(1)) { ... }</c>) rather than lower this process-wide setting and restore it: two
    /// such save-and-restore sequences that overlap can leave the setting lowered.
    /// </remarks>
    public static int Threads
    {
        get => s_scope.Value is { } budget ? budget.Threads : s_threads;
        set => s_threads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Threads), value, "Threads must be at least 1");
    }

    /// <summary>The process-wide default thread count, which holds wherever no <see cref="Limit"/> or <see cref="Use"/> scope is open.</summary>
    public static int DefaultThreadCount => s_threads;

    /// <summary>
    /// Limits the kernels run on this execution flow (this thread, and the tasks it starts) to at most
    /// <paramref name="threads"/> threads until the returned scope is disposed: <c>using (Parallelism.Limit(1)) { ... }</c>.
    /// The limit is the smaller of <paramref name="threads"/> and the count in force when the scope opens. Other
    /// threads are unaffected, and the results are bitwise the same at any limit.
    /// </summary>
    /// <param name="threads">The most threads the scope's kernels may use (at least 1).</param>
    public static ThreadScope Limit(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "a thread limit must be at least 1");
        return Use(new ThreadBudget(Math.Min(threads, Threads)));
    }

    /// <summary>
    /// Makes the kernels run on this execution flow use <paramref name="budget"/>'s thread count, read at each kernel,
    /// until the returned scope is disposed. One budget can be shared by several threads and changed while they run
    /// (a runner that gives the cores of a finished worker to the ones still running); other threads are unaffected.
    /// </summary>
    public static ThreadScope Use(ThreadBudget budget)
    {
        ArgumentNullException.ThrowIfNull(budget);
        var previous = s_scope.Value;
        s_scope.Value = budget;
        return new ThreadScope(budget, previous);
    }

    /// <summary>
    /// An open <see cref="Limit"/> or <see cref="Use"/> scope; disposing it restores the budget in force before it
    /// opened. Scopes must be disposed on the execution flow that opened them, innermost first.
    /// </summary>
    public readonly struct ThreadScope : IDisposable
    {
        private readonly ThreadBudget? _budget, _previous;

        internal ThreadScope(ThreadBudget budget, ThreadBudget? previous) => (_budget, _previous) = (budget, previous);

        /// <summary>Closes the scope.</summary>
        /// <exception cref="InvalidOperationException">The scope is not the innermost one open on this execution flow.</exception>
        public void Dispose()
        {
            if (_budget is null) return;
            var current = s_scope.Value;
            if (ReferenceEquals(current, _previous)) return; // disposed already
            if (!ReferenceEquals(current, _budget))
                throw new InvalidOperationException("Parallelism: a thread scope was disposed while an inner scope was still open, or on another execution flow");
            s_scope.Value = _previous;
        }
    }

    /// <summary>Loops the calling thread has split across the pool (for tests that check a workload stays on one thread).</summary>
    [ThreadStatic] internal static long SplitLoops;

    /// <summary>The work (items × cost per item) below which a loop runs on its caller alone.</summary>
    internal const long MinParallelWork = 32_768;

    /// <summary>
    /// Elements from which a memory-bound elementwise pass (a unary op, the ReLU mask of a backward pass, a bias added
    /// to a product, a bias gradient's column sums) is split across threads: run on the calling thread alone, such a
    /// pass over a layer's activations left the other core waiting (docs/threads.md).
    /// </summary>
    internal static int PassSplitMin = 1 << 15;

    /// <summary>
    /// Runs <paramref name="body"/>(start, end) over [0, <paramref name="count"/>) split into contiguous chunks, in
    /// parallel when the work (<paramref name="count"/> × <paramref name="costPerItem"/>) is large enough to pay for it.
    /// </summary>
    public static void For(int count, long costPerItem, Action<int, int> body)
    {
        if (count <= 0) return;
        int threads = Math.Min(Threads, count);
        if (threads <= 1 || count * costPerItem < MinParallelWork)
        {
            body(0, count);
            return;
        }
        var job = WorkerPool.ActionJob;
        if (!WorkerPool.TryAcquire())
        {
            body(0, count);
            return;
        }
        job.Body = body;
        SplitLoops++;
        // The body is cleared before the pool is released: released first, another caller could acquire the pool and
        // set its own body, which this clearing would then wipe under that caller's workers.
        try { WorkerPool.Run(job, count, threads); }
        finally { job.Body = null; WorkerPool.Release(); }
    }

    /// <summary>
    /// The allocation-free form of <see cref="For(int, long, Action{int, int})"/>: the loop body is a struct, so
    /// neither a closure nor a delegate is created, and the pool's job for <typeparamref name="TBody"/> is reused.
    /// </summary>
    internal static void For<TBody>(int count, long costPerItem, in TBody body) where TBody : struct, IRangeBody
    {
        if (count <= 0) return;
        int threads = Math.Min(Threads, count);
        if (threads <= 1 || count * costPerItem < MinParallelWork || !WorkerPool.TryAcquire())
        {
            body.Run(0, count);
            return;
        }
        var job = StructJob<TBody>.Instance;
        job.Body = body;
        SplitLoops++;
        try { WorkerPool.Run(job, count, threads); }
        finally { job.Body = default; WorkerPool.Release(); }
    }

    /// <summary>A loop body over a range of items, for <see cref="For{TBody}"/>.</summary>
    internal interface IRangeBody
    {
        /// <summary>Processes items [start, end).</summary>
        void Run(int start, int end);
    }

    /// <summary>
    /// A parallel loop the pool runs. Jobs are reused from loop to loop: each loop gets a new generation number, and a
    /// chunk is claimed by stamping it with that number, so a worker that wakes late for an old loop can never claim
    /// (or run) a chunk of a newer one.
    /// </summary>
    private abstract class Job
    {
        // Ints from one chunk's claim word to the next: 128 bytes, so a worker that claims its chunk writes a line
        // (and its adjacent-line prefetch pair) no other thread touches unless it steals that chunk.
        private const int ClaimStride = 32;

        public int Count, Chunks, Generation;
        // The chunks other than the caller's own chunk 0 that have not finished.
        public int Pending;
        public int[] Claimed = new int[16 * ClaimStride];
        public Exception? Error;

        protected abstract void RunRange(int start, int end);

        public void Prepare(int count, int chunks, int generation)
        {
            if (Claimed.Length < chunks * ClaimStride) Claimed = new int[chunks * ClaimStride];
            Count = count;
            Chunks = chunks;
            Error = null;
            Volatile.Write(ref Pending, chunks - 1);
            Volatile.Write(ref Generation, generation);
        }

        /// <summary>
        /// Runs chunk 0, the caller's: no worker is offered it, so it needs no claim (a claim would be a locked write
        /// to a line a worker wrote last, a transfer between the cores before the caller's own work could start).
        /// </summary>
        public void RunOwn() => RunChunk(0);

        /// <summary>Runs chunk <paramref name="c"/> (≥ 1) of loop <paramref name="generation"/> if nobody has claimed it yet.</summary>
        public void TryRun(int c, int generation)
        {
            int slot = c * ClaimStride;
            var claimed = Claimed;
            if (slot >= claimed.Length) return;
            int old = Volatile.Read(ref claimed[slot]);
            if (old >= generation || Volatile.Read(ref Generation) != generation) return;
            if (Interlocked.CompareExchange(ref claimed[slot], generation, old) != old) return;
            if (c < Chunks)
            {
                RunChunk(c);
                Interlocked.Decrement(ref Pending);
            }
        }

        /// <summary>Runs chunk <paramref name="c"/>'s items, keeping the first exception for the caller to rethrow.</summary>
        private void RunChunk(int c)
        {
            try
            {
                RunRange((int)((long)Count * c / Chunks), (int)((long)Count * (c + 1) / Chunks));
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref Error, e, null);
            }
        }
    }

    private sealed class DelegateJob : Job
    {
        public Action<int, int>? Body;
        protected override void RunRange(int start, int end) => Body!(start, end);
    }

    private sealed class StructJob<TBody> : Job where TBody : struct, IRangeBody
    {
        public static readonly StructJob<TBody> Instance = new();
        public TBody Body;
        protected override void RunRange(int start, int end) => Body.Run(start, end);
    }

    /// <summary>
    /// The pool behind <see cref="For(int, long, Action{int, int})"/>. Worker w is offered chunk w + 1 of each loop; a
    /// chunk is run by whoever claims it first, so when a worker is slow to start (asleep, or descheduled on a busy
    /// machine) the caller runs its chunk instead of waiting. Which thread runs a chunk never changes a result.
    /// </summary>
    private static class WorkerPool
    {
        // How long an idle worker keeps spinning for the next loop before it blocks.
        private static readonly long s_spinTicks = Stopwatch.Frequency / 5_000; // 200 µs

        // How long the caller waits for the other chunks with bare pauses before it backs off to yielding.
        private static readonly long s_waitSpinTicks = Stopwatch.Frequency / 20_000; // 50 µs

        public static readonly DelegateJob ActionJob = new();

        // A worker's mailbox. The caller writes Job, then publishes the loop's Generation with a full fence; the worker
        // polls Generation with plain reads while it spins, so a post costs the caller one write to a line the worker
        // only reads, and takes the lock only to wake a worker that has blocked (Sleeping). A worker that reads a newer
        // Job beside an older Generation (two posts in quick succession) finds the job's generation changed and leaves
        // the chunk (Job.TryRun), then sees the newer Generation on its next poll.
        private sealed class Slot
        {
            public Job? Job;
            public int Generation;
            public int Sleeping;
        }

        private static readonly object s_grow = new();
        private static Slot[] s_slots = [];
        private static int s_busy;
        private static int s_generation;

        /// <summary>Takes the pool for one loop; false when another loop owns it (the caller then runs inline).</summary>
        public static bool TryAcquire() => Interlocked.CompareExchange(ref s_busy, 1, 0) == 0;

        /// <summary>Releases the pool taken by <see cref="TryAcquire"/>, once the caller has cleared its job's body.</summary>
        public static void Release() => Volatile.Write(ref s_busy, 0);

        /// <summary>Runs an acquired loop; the caller releases the pool (<see cref="Release"/>) after clearing the job.</summary>
        public static void Run(Job job, int count, int chunks)
        {
            {
                var slots = EnsureWorkers(chunks - 1);
                int generation = ++s_generation;
                job.Prepare(count, chunks, generation);
                for (int c = 1; c < chunks; c++)
                {
                    var slot = slots[c - 1];
                    slot.Job = job;
                    // A full fence: the worker either sees this generation, or has set Sleeping before it blocks (also
                    // with a full fence) and is then woken here.
                    Interlocked.Exchange(ref slot.Generation, generation);
                    if (Volatile.Read(ref slot.Sleeping) != 0)
                        lock (slot) Monitor.Pulse(slot);
                }
                job.RunOwn();
                // The other chunks are looked at only while some are unfinished: a worker that has finished wrote
                // Pending last, and reading its claim word as well would cost a second transfer between the cores.
                if (Volatile.Read(ref job.Pending) != 0)
                    for (int c = 1; c < chunks; c++) job.TryRun(c, generation);
                // Wait for the other chunks with short pauses first (a worker that is running finishes within the
                // time its chunk takes), backing off to yields only after a while, on a machine busy with other work.
                long spinUntil = 0;
                var spin = new SpinWait();
                while (Volatile.Read(ref job.Pending) != 0)
                {
                    if (spinUntil == 0) spinUntil = Stopwatch.GetTimestamp() + s_waitSpinTicks;
                    if (Stopwatch.GetTimestamp() < spinUntil) Thread.SpinWait(1);
                    else spin.SpinOnce(sleep1Threshold: -1);
                }
                if (job.Error is { } error) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
            }
        }

        private static Slot[] EnsureWorkers(int n)
        {
            var slots = s_slots;
            if (slots.Length >= n) return slots;
            lock (s_grow)
            {
                if (s_slots.Length >= n) return s_slots;
                var grown = new Slot[n];
                Array.Copy(s_slots, grown, s_slots.Length);
                for (int i = s_slots.Length; i < n; i++)
                {
                    var slot = grown[i] = new Slot();
                    int chunk = i + 1;
                    // UnsafeStart: a worker must not capture the execution context (a thread scope, say) of whichever loop created it.
                    new Thread(() => Work(slot, chunk)) { IsBackground = true, Name = $"Aperture worker {chunk}" }.UnsafeStart();
                }
                s_slots = grown;
                return grown;
            }
        }

        private static void Work(Slot slot, int chunk)
        {
            int seen = 0;   // no loop has generation 0
            while (true)
            {
                int generation;
                long spinUntil = Stopwatch.GetTimestamp() + s_spinTicks;
                int polls = 0;
                while ((generation = Volatile.Read(ref slot.Generation)) == seen)
                {
                    Thread.SpinWait(1);
                    // The clock is read every 64 polls only: it costs more than a poll.
                    if ((++polls & 63) != 0 || Stopwatch.GetTimestamp() < spinUntil) continue;
                    lock (slot)
                    {
                        Interlocked.Exchange(ref slot.Sleeping, 1);
                        while ((generation = Volatile.Read(ref slot.Generation)) == seen) Monitor.Wait(slot);
                        Volatile.Write(ref slot.Sleeping, 0);
                    }
                    break;
                }
                seen = generation;
                if (Volatile.Read(ref slot.Job) is { } job) job.TryRun(chunk, generation);
            }
        }
    }
}

/// <summary>
/// Which side of C a product split across threads cuts, when that side has a unit for each thread: the caller's
/// knowledge of which operand it will write next. A training step that cuts a layer's weight by its output rows
/// everywhere (the forward product's columns, the weight gradient's rows, the optimizer's update) keeps each core on
/// the same half of the weight, its gradient and its optimizer state, so those stay in that core's cache instead of
/// moving between the cores every step. Which thread computes an output never changes its bits.
/// </summary>
internal enum ProductSplit
{
    /// <summary>The GEMM's own rule (the longer side of C, in units of its tile).</summary>
    Any,
    /// <summary>Whole rows of C to each thread.</summary>
    Rows,
    /// <summary>Whole columns of C to each thread.</summary>
    Columns,
    /// <summary>
    /// Not split: the product runs on the calling thread at any thread count, because its operands and its result
    /// are used there (see <see cref="ThinGemm.SplitMinWork"/>).
    /// </summary>
    None,
}

/// <summary>Helpers for <see cref="ProductSplit"/>.</summary>
internal static class ProductSplits
{
    /// <summary>The same cut of Cᵀ (rows of C are columns of Cᵀ).</summary>
    public static ProductSplit Transposed(this ProductSplit split) => split switch
    {
        ProductSplit.Rows => ProductSplit.Columns,
        ProductSplit.Columns => ProductSplit.Rows,
        ProductSplit.None => ProductSplit.None,
        _ => ProductSplit.Any,
    };

    /// <summary>
    /// Whether to cut the rows of C, given the GEMM's own choice <paramref name="byDefault"/> and how many units
    /// each side has: the asked-for side when it has a unit for each of <paramref name="threads"/>, else the default.
    /// </summary>
    public static bool CutsRows(this ProductSplit split, bool byDefault, int rowUnits, int columnUnits, int threads) => split switch
    {
        ProductSplit.Rows when rowUnits >= threads => true,
        ProductSplit.Columns when columnUnits >= threads => false,
        _ => byDefault,
    };
}

/// <summary>
/// A thread count that several computations can share through <see cref="Parallelism.Use"/>, and that can be changed
/// while they run: each kernel reads it when it starts.
/// </summary>
public sealed class ThreadBudget
{
    private int _threads;

    /// <summary>A budget of <paramref name="threads"/> threads.</summary>
    public ThreadBudget(int threads) => Threads = threads;

    /// <summary>The number of threads (at least 1).</summary>
    public int Threads
    {
        get => Volatile.Read(ref _threads);
        set => Volatile.Write(ref _threads, value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Threads), value, "a thread budget must be at least 1"));
    }
}
