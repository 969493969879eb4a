namespace Aperture;

/// <summary>
/// How many threads kernels may use. Work is only ever split over independent outputs, never inside one
/// output's reduction, so results are bitwise identical for every thread count.
/// </summary>
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

    /// <summary>
    /// Runs <paramref name="body"/>(start, end) over [0, <paramref name="count"/>) split into contiguous chunks, in
    /// parallel when the work (<paramref name="count"/> × <paramref name="costPerItem"/>) is large enough to pay for it.
    /// </summary>
    public static void For(int count, long costPerItem, Action<int, int> body)
    {
        int threads = Math.Min(s_threads, count);
        if (threads <= 1 || count * costPerItem < 32_768)
        {
            if (count > 0) body(0, count);
            return;
        }
        int chunks = threads;
        System.Threading.Tasks.Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = threads }, c =>
        {
            int start = (int)((long)count * c / chunks), end = (int)((long)count * (c + 1) / chunks);
            if (end > start) body(start, end);
        });
    }
}
