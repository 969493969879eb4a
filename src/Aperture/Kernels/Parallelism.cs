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

    private static int DefaultThreads()
    {
        var env = Environment.GetEnvironmentVariable("APERTURE_THREADS");
        return int.TryParse(env, out int n) && n >= 1 ? n : Environment.ProcessorCount;
    }

    /// <summary>The number of threads kernels use (default: <c>APERTURE_THREADS</c> or the processor count).</summary>
    public static int Threads
    {
        get => s_threads;
        set => s_threads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Threads), value, "Threads must be at least 1");
    }

    /// <summary>The work (items × cost per item) below which a loop runs on its caller alone.</summary>
    internal const long MinParallelWork = 32_768;

    /// <summary>
    /// Runs <paramref name="body"/>(start, end) over [0, <paramref name="count"/>) split into contiguous chunks, in
    /// parallel when the work (<paramref name="count"/> × <paramref name="costPerItem"/>) is large enough to pay for it.
    /// </summary>
    public static void For(int count, long costPerItem, Action<int, int> body)
    {
        if (count <= 0) return;
        int threads = Math.Min(s_threads, count);
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
        int threads = Math.Min(s_threads, count);
        if (threads <= 1 || count * costPerItem < MinParallelWork || !WorkerPool.TryAcquire())
        {
            body.Run(0, count);
            return;
        }
        var job = StructJob<TBody>.Instance;
        job.Body = body;
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
        public int Count, Chunks, Generation;
        public int Pending;
        public int[] Claimed = new int[16];
        public Exception? Error;

        protected abstract void RunRange(int start, int end);

        public void Prepare(int count, int chunks, int generation)
        {
            if (Claimed.Length < chunks) Claimed = new int[chunks];
            Count = count;
            Chunks = chunks;
            Error = null;
            Volatile.Write(ref Pending, chunks);
            Volatile.Write(ref Generation, generation);
        }

        /// <summary>Runs chunk <paramref name="c"/> of loop <paramref name="generation"/> if nobody has claimed it yet.</summary>
        public void TryRun(int c, int generation)
        {
            if (c >= Claimed.Length) return;
            int old = Volatile.Read(ref Claimed[c]);
            if (old >= generation || Volatile.Read(ref Generation) != generation) return;
            if (Interlocked.CompareExchange(ref Claimed[c], generation, old) != old) return;
            if (c < Chunks)
            {
                try
                {
                    RunRange((int)((long)Count * c / Chunks), (int)((long)Count * (c + 1) / Chunks));
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref Error, e, null);
                }
                Interlocked.Decrement(ref Pending);
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

        public static readonly DelegateJob ActionJob = new();

        private sealed class Slot
        {
            public Job? Job;
            public int Generation;
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
                    lock (slot)
                    {
                        slot.Generation = generation;
                        Volatile.Write(ref slot.Job, job);
                        Monitor.Pulse(slot);
                    }
                }
                for (int c = 0; c < chunks; c++) job.TryRun(c, generation);
                var spin = new SpinWait();
                while (Volatile.Read(ref job.Pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
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
                    new Thread(() => Work(slot, chunk)) { IsBackground = true, Name = $"Aperture worker {chunk}" }.Start();
                }
                s_slots = grown;
                return grown;
            }
        }

        private static void Work(Slot slot, int chunk)
        {
            while (true)
            {
                Job? job;
                int generation;
                long spinUntil = Stopwatch.GetTimestamp() + s_spinTicks;
                while (true)
                {
                    lock (slot)
                    {
                        job = slot.Job;
                        generation = slot.Generation;
                        if (job is null && Stopwatch.GetTimestamp() >= spinUntil)
                        {
                            while (slot.Job is null) Monitor.Wait(slot);
                            job = slot.Job;
                            generation = slot.Generation;
                        }
                    }
                    if (job is not null) break;
                    Thread.SpinWait(20);
                }
                job.TryRun(chunk, generation);
                // Clear the slot unless the next loop has already been posted to it.
                lock (slot)
                {
                    if (slot.Generation == generation) slot.Job = null;
                }
            }
        }
    }
}
