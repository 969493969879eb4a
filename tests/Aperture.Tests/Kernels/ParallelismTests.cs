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
}
