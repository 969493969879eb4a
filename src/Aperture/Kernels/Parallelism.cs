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
        WorkerPool.Run(count, threads, body);
    }

    /// <summary>
    /// The pool behind <see cref="For"/>. Worker w is offered chunk w + 1 of each loop; a chunk is run by whoever
    /// claims it first, so when a worker is slow to start (asleep, or descheduled on a busy machine) the caller runs
    /// its chunk instead of waiting. Which thread runs a chunk never changes a result.
    /// </summary>
    private static class WorkerPool
    {
        // How long an idle worker keeps spinning for the next loop before it blocks.
        private static readonly long s_spinTicks = Stopwatch.Frequency / 5_000; // 200 µs

        private sealed class Job(Action<int, int> body, int count, int chunks)
        {
            public readonly Action<int, int> Body = body;
            public readonly int Count = count, Chunks = chunks;
            public readonly int[] Claimed = new int[chunks];
            public int Pending = chunks;
            public Exception? Error;

            /// <summary>Runs chunk <paramref name="c"/> if nobody has claimed it yet.</summary>
            public void TryRun(int c)
            {
                if (Interlocked.Exchange(ref Claimed[c], 1) != 0) return;
                try
                {
                    Body((int)((long)Count * c / Chunks), (int)((long)Count * (c + 1) / Chunks));
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref Error, e, null);
                }
                Interlocked.Decrement(ref Pending);
            }
        }

        private sealed class Slot
        {
            public Job? Job;
        }

        private static readonly object s_grow = new();
        private static Slot[] s_slots = [];
        private static int s_busy;

        public static void Run(int count, int chunks, Action<int, int> body)
        {
            // One loop at a time owns the pool; anyone else (a nested loop, another thread) runs inline.
            if (Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
            {
                body(0, count);
                return;
            }
            try
            {
                var slots = EnsureWorkers(chunks - 1);
                var job = new Job(body, count, chunks);
                for (int c = 1; c < chunks; c++)
                {
                    var slot = slots[c - 1];
                    lock (slot)
                    {
                        Volatile.Write(ref slot.Job, job);
                        Monitor.Pulse(slot);
                    }
                }
                for (int c = 0; c < chunks; c++) job.TryRun(c);
                var spin = new SpinWait();
                while (Volatile.Read(ref job.Pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
                if (job.Error is { } error) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
            }
            finally
            {
                Volatile.Write(ref s_busy, 0);
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
                long spinUntil = Stopwatch.GetTimestamp() + s_spinTicks;
                while ((job = Volatile.Read(ref slot.Job)) is null)
                {
                    if (Stopwatch.GetTimestamp() < spinUntil)
                    {
                        Thread.SpinWait(20);
                        continue;
                    }
                    lock (slot)
                    {
                        while (Volatile.Read(ref slot.Job) is null) Monitor.Wait(slot);
                    }
                }
                if (chunk < job.Chunks) job.TryRun(chunk);
                // Clear the slot unless the next loop has already been posted to it.
                Interlocked.CompareExchange(ref slot.Job, null, job);
            }
        }
    }
}
