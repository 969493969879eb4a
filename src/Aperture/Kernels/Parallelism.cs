using System.Diagnostics;

namespace Aperture;

/// <summary>
/// How many threads kernels use. Work is only ever split over independent outputs, never inside one output's
/// reduction, so results are bitwise identical for every thread count.
/// </summary>
/// <remarks>
/// Parallel loops run on a dedicated pool of <see cref="Threads"/> − 1 workers; the calling thread takes the first
/// chunk itself. A worker spins briefly after each job before it blocks, so the back-to-back small kernels of a
/// training step do not pay a wake-up each (<c>Parallel.For</c> costs about twice as much on a 64×64 matmul).
/// A loop started while the pool is busy (a nested loop, or a second thread) runs on its caller alone; that
/// changes no result, since chunks never share an output.
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

    /// <summary>The number of chunks <see cref="For"/> would split <paramref name="count"/> items into.</summary>
    internal static int Chunks(int count, long costPerItem)
    {
        int threads = Math.Min(s_threads, count);
        return threads <= 1 || count * costPerItem < MinParallelWork ? 1 : threads;
    }

    /// <summary>The pool behind <see cref="For"/>: one slot per worker, posted to and waited on without allocation.</summary>
    private static class WorkerPool
    {
        // How long an idle worker keeps spinning for the next job before it blocks.
        private static readonly long s_spinTicks = Stopwatch.Frequency / 5_000; // 200 µs

        private sealed class Slot
        {
            public Action<int, int>? Work;
            public int Start, End;
            public Exception? Error;
        }

        private static readonly object s_grow = new();
        private static Slot[] s_slots = [];
        private static int s_busy;
        private static int s_pending;

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
                Volatile.Write(ref s_pending, chunks - 1);
                for (int c = 1; c < chunks; c++)
                {
                    var slot = slots[c - 1];
                    slot.Start = (int)((long)count * c / chunks);
                    slot.End = (int)((long)count * (c + 1) / chunks);
                    slot.Error = null;
                    lock (slot)
                    {
                        Volatile.Write(ref slot.Work, body);
                        Monitor.Pulse(slot);
                    }
                }
                Exception? error = null;
                try
                {
                    body(0, (int)((long)count / chunks));
                }
                catch (Exception e)
                {
                    error = e;
                }
                var spin = new SpinWait();
                while (Volatile.Read(ref s_pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
                for (int c = 1; c < chunks && error is null; c++) error = slots[c - 1].Error;
                if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
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
                    new Thread(() => Work(slot)) { IsBackground = true, Name = $"Aperture worker {i + 1}" }.Start();
                }
                s_slots = grown;
                return grown;
            }
        }

        private static void Work(Slot slot)
        {
            while (true)
            {
                Action<int, int>? work;
                long spinUntil = Stopwatch.GetTimestamp() + s_spinTicks;
                while ((work = Volatile.Read(ref slot.Work)) is null)
                {
                    if (Stopwatch.GetTimestamp() < spinUntil)
                    {
                        Thread.SpinWait(20);
                        continue;
                    }
                    lock (slot)
                    {
                        while (Volatile.Read(ref slot.Work) is null) Monitor.Wait(slot);
                    }
                }
                try
                {
                    work(slot.Start, slot.End);
                }
                catch (Exception e)
                {
                    slot.Error = e;
                }
                Volatile.Write(ref slot.Work, null);
                Interlocked.Decrement(ref s_pending);
            }
        }
    }
}
