namespace Aperture.Tests.Kernels;

/// <summary>The worker pool: every index exactly once in the documented chunks, errors surface, nesting and concurrent callers work.</summary>
[Collection(ThreadCountCollection.Name)]
public class ParallelismTests
{
    [Fact]
    public void Every_index_runs_once_in_contiguous_chunks()
    {
        foreach (int threads in new[] { 1, 2, 3, 5 })
            KernelSettings.WithThreads(threads, () =>
            {
                foreach (int count in new[] { 1, 2, 3, 7, 100, 1001 })
                    for (int rep = 0; rep < 20; rep++)
                    {
                        var hits = new int[count];
                        var ranges = new System.Collections.Concurrent.ConcurrentBag<(int, int)>();
                        Parallelism.For(count, 1 << 20, (a, b) =>
                        {
                            ranges.Add((a, b));
                            for (int i = a; i < b; i++) Interlocked.Increment(ref hits[i]);
                        });
                        Assert.All(hits, h => Assert.Equal(1, h));
                        int chunks = Math.Min(threads, count);
                        var expected = Enumerable.Range(0, chunks).Select(c => ((int)((long)count * c / chunks), (int)((long)count * (c + 1) / chunks)));
                        Assert.Equal(expected.Where(r => r.Item2 > r.Item1).OrderBy(r => r.Item1), ranges.OrderBy(r => r.Item1));
                    }
            });
    }

    [Fact]
    public void A_worker_takes_its_chunk_whether_it_is_spinning_or_has_blocked()
    {
        // Chunk 0 (the caller's) waits until another thread has run chunk 1: a post the worker missed, spinning on its
        // mailbox or blocked after it went idle, would leave the caller to run chunk 1 itself after the wait ran out.
        KernelSettings.WithThreads(2, () =>
        {
            foreach (int pauseMs in new[] { 0, 0, 0, 20 })
                for (int rep = 0; rep < (pauseMs == 0 ? 200 : 5); rep++)
                {
                    if (pauseMs > 0) Thread.Sleep(pauseMs);   // the worker stops spinning after 200 µs and blocks
                    int caller = Environment.CurrentManagedThreadId, ranBy = 0, done = 0;
                    Parallelism.For(2, 1 << 20, (a, b) =>
                    {
                        if (a == 1)
                        {
                            ranBy = Environment.CurrentManagedThreadId;
                            Volatile.Write(ref done, 1);
                            return;
                        }
                        var clock = System.Diagnostics.Stopwatch.StartNew();
                        while (Volatile.Read(ref done) == 0 && clock.Elapsed.TotalSeconds < 10) Thread.Yield();
                    });
                    Assert.NotEqual(0, ranBy);
                    Assert.NotEqual(caller, ranBy);
                }
        });
    }

    [Fact]
    public void An_exception_in_any_chunk_reaches_the_caller_and_the_pool_recovers()
    {
        KernelSettings.WithThreads(2, () =>
        {
            var e = Assert.Throws<InvalidOperationException>(() =>
                Parallelism.For(2, 1 << 20, (a, b) => { if (a == 1) throw new InvalidOperationException("chunk 1"); }));
            Assert.Equal("chunk 1", e.Message);
            int sum = 0;
            Parallelism.For(2, 1 << 20, (a, b) => Interlocked.Add(ref sum, b - a));
            Assert.Equal(2, sum);
        });
    }

    [Fact]
    public void Nested_loops_and_concurrent_callers_complete()
    {
        KernelSettings.WithThreads(2, () =>
        {
            long total = 0;
            var callers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
            {
                for (int rep = 0; rep < 50; rep++)
                    Parallelism.For(8, 1 << 20, (a, b) =>
                        Parallelism.For(10, 1 << 20, (c, d) => Interlocked.Add(ref total, (long)(b - a) * (d - c))));
            })).ToArray();
            Task.WaitAll(callers);
            Assert.Equal(4L * 50 * 8 * 10, total);
        });
    }

    // ---- thread scopes ---------------------------------------------------------------------------------

    /// <summary>The chunks one loop of <paramref name="count"/> items is cut into on the calling thread.</summary>
    private static int ChunksOfOneLoop(int count)
    {
        int chunks = 0;
        Parallelism.For(count, 1 << 20, (a, b) => Interlocked.Increment(ref chunks));
        return chunks;
    }

    [Fact]
    public void A_limit_holds_inside_its_scope_and_is_undone_on_dispose()
    {
        KernelSettings.WithThreads(3, () =>
        {
            Assert.Equal(3, ChunksOfOneLoop(9));
            using (Parallelism.Limit(1))
            {
                Assert.Equal(1, Parallelism.Threads);
                Assert.Equal(3, Parallelism.DefaultThreadCount);
                Assert.Equal(1, ChunksOfOneLoop(9));
                using (Parallelism.Limit(5))
                {
                    // A limit never raises the count in force when it opens.
                    Assert.Equal(1, Parallelism.Threads);
                }
                Assert.Equal(1, Parallelism.Threads);
            }
            Assert.Equal(3, Parallelism.Threads);
            using (Parallelism.Limit(2))
            {
                Assert.Equal(2, ChunksOfOneLoop(9));
                // The process-wide setting can change underneath; the scope still decides.
                Parallelism.Threads = 4;
                Assert.Equal(2, Parallelism.Threads);
                Parallelism.Threads = 3;
            }
            Assert.Equal(3, ChunksOfOneLoop(9));
            Assert.Throws<ArgumentOutOfRangeException>(() => Parallelism.Limit(0));
            Assert.Throws<ArgumentOutOfRangeException>(() => new ThreadBudget(0));
        });
    }

    [Fact]
    public void Scopes_must_close_innermost_first_and_closing_twice_is_harmless()
    {
        KernelSettings.WithThreads(4, () =>
        {
            var outer = Parallelism.Limit(3);
            var inner = Parallelism.Limit(2);
            Assert.Throws<InvalidOperationException>(() => outer.Dispose());
            Assert.Equal(2, Parallelism.Threads);
            inner.Dispose();
            inner.Dispose();
            Assert.Equal(3, Parallelism.Threads);
            outer.Dispose();
            Assert.Equal(4, Parallelism.Threads);
        });
    }

    [Fact]
    public void A_scope_flows_into_the_tasks_it_starts_and_not_to_other_threads()
    {
        KernelSettings.WithThreads(4, () =>
        {
            using (Parallelism.Limit(1))
            {
                Assert.Equal(1, Task.Run(() => Parallelism.Threads).Result);
                int seen = 0;
                var other = new Thread(() => seen = Parallelism.Threads);
                other.UnsafeStart(); // no execution context captured: a thread of its own
                other.Join();
                Assert.Equal(4, seen);
            }
        });
    }

    [Fact]
    public void A_shared_budget_is_read_at_each_loop()
    {
        KernelSettings.WithThreads(4, () =>
        {
            var budget = new ThreadBudget(1);
            using (Parallelism.Use(budget))
            {
                Assert.Equal(1, ChunksOfOneLoop(8));
                budget.Threads = 3;
                Assert.Equal(3, ChunksOfOneLoop(8));
            }
            Assert.Equal(4, ChunksOfOneLoop(8));
        });
    }

    [Fact]
    public void Two_concurrent_scopes_do_not_interfere_and_leave_the_bits_unchanged()
    {
        KernelSettings.WithThreads(4, () =>
        {
            // A product large enough to be split, computed once on one thread as the reference.
            var g = new Generator(11);
            var a = Tensor.Randn([257, 129], g);
            var b = Tensor.Randn([129, 255], g);
            float[] reference;
            using (Parallelism.Limit(1)) reference = Ops.MatMul(a, b).ToFloatArray();

            using var start = new Barrier(2);
            var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
            void Worker(int limit)
            {
                using var scope = Parallelism.Limit(limit);
                start.SignalAndWait();
                for (int rep = 0; rep < 40; rep++)
                {
                    if (Parallelism.Threads != limit) failures.Enqueue($"limit {limit}: read {Parallelism.Threads}");
                    int chunks = ChunksOfOneLoop(16);
                    // The other caller may hold the pool, so a loop can run inline (1 chunk), never wider than its scope.
                    if (chunks > limit) failures.Enqueue($"limit {limit}: a loop ran in {chunks} chunks");
                    var c = Ops.MatMul(a, b).ToFloatArray();
                    if (!c.AsSpan().SequenceEqual(reference)) failures.Enqueue($"limit {limit}: the product's bits changed");
                }
            }
            var one = new Thread(() => Worker(1));
            var three = new Thread(() => Worker(3));
            one.Start();
            three.Start();
            one.Join();
            three.Join();
            Assert.Empty(failures);
            Assert.Equal(4, Parallelism.Threads);
        });
    }
}
