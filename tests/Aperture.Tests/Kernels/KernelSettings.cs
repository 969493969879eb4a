namespace Aperture.Tests.Kernels;

/// <summary>
/// Helpers to run a body under each code path, thread count or blocking, restoring the settings afterwards (tests that
/// use them belong to <see cref="ThreadCountCollection"/>).
/// </summary>
internal static class KernelSettings
{
    public static IEnumerable<KernelPath> Paths => KernelPaths.Available();

    public static void ForEachPath(Action<KernelPath> body)
    {
        foreach (var path in Paths)
        {
            using var scope = KernelPaths.Force(path);
            body(path);
        }
    }

    public static void WithThreads(int threads, Action body)
    {
        int saved = Parallelism.Threads;
        Parallelism.Threads = threads;
        try { body(); }
        finally { Parallelism.Threads = saved; }
    }

    /// <summary>The packed product for every shape but the thinnest (the unpacked one is otherwise taken for small or thin products).</summary>
    public static void WithPackingOnly(Action body)
    {
        var (direct, directB, thin, thinPath) = (GemmBlocking.DirectMaxWork, GemmBlocking.DirectMaxB, GemmBlocking.DirectMaxThin, GemmBlocking.Thin);
        (GemmBlocking.DirectMaxWork, GemmBlocking.DirectMaxB, GemmBlocking.DirectMaxThin, GemmBlocking.Thin) = (0, 0, 0, false);
        try { body(); }
        finally { (GemmBlocking.DirectMaxWork, GemmBlocking.DirectMaxB, GemmBlocking.DirectMaxThin, GemmBlocking.Thin) = (direct, directB, thin, thinPath); }
    }

    /// <summary>
    /// The packing-free thin path (<see cref="ThinGemm"/>) for every product the driver would pack and the path takes
    /// (one thread, AVX-512, float32), whatever its size; the unpacked product only for the thinnest.
    /// </summary>
    public static void WithThinPath(Action body)
    {
        var (direct, directB, thin, thinPath) = (GemmBlocking.DirectMaxWork, GemmBlocking.DirectMaxB, GemmBlocking.DirectMaxThin, GemmBlocking.Thin);
        long maxBytes = ThinGemm.MaxPackedBytes;
        (GemmBlocking.DirectMaxWork, GemmBlocking.DirectMaxB, GemmBlocking.DirectMaxThin, GemmBlocking.Thin) = (0, 0, 0, true);
        ThinGemm.MaxPackedBytes = long.MaxValue;
        try { body(); }
        finally
        {
            (GemmBlocking.DirectMaxWork, GemmBlocking.DirectMaxB, GemmBlocking.DirectMaxThin, GemmBlocking.Thin) = (direct, directB, thin, thinPath);
            ThinGemm.MaxPackedBytes = maxBytes;
        }
    }

    /// <summary>
    /// Tiny cache blocks, so every blocking loop (several k-, row- and column-blocks, and one-panel slabs of the B
    /// that threads share) runs on small shapes.
    /// </summary>
    public static void WithTinyBlocks(Action body)
    {
        var (kc, mc, nc, direct, par) = (GemmBlocking.Kc, GemmBlocking.Mc, GemmBlocking.Nc, GemmBlocking.DirectMaxWork, GemmBlocking.ParallelMinWork);
        long directB = GemmBlocking.DirectMaxB, shared = GemmBlocking.SharedMaxBytes;
        int thin = GemmBlocking.DirectMaxThin;
        (GemmBlocking.Kc, GemmBlocking.Mc, GemmBlocking.Nc, GemmBlocking.DirectMaxWork, GemmBlocking.ParallelMinWork) = (7, 30, 70, 0, 1);
        (GemmBlocking.DirectMaxB, GemmBlocking.DirectMaxThin, GemmBlocking.SharedMaxBytes) = (0, 0, 1);
        try { body(); }
        finally
        {
            (GemmBlocking.Kc, GemmBlocking.Mc, GemmBlocking.Nc, GemmBlocking.DirectMaxWork, GemmBlocking.ParallelMinWork) = (kc, mc, nc, direct, par);
            (GemmBlocking.DirectMaxB, GemmBlocking.DirectMaxThin, GemmBlocking.SharedMaxBytes) = (directB, thin, shared);
        }
    }

    /// <summary>
    /// Every unpacked product above one multiply-add is split across threads, so the unpacked kernel's parallel path
    /// runs on the small shapes the tests use (by default only products of about 1M multiply-adds are split).
    /// </summary>
    public static void WithDirectSplits(Action body)
    {
        long saved = GemmBlocking.DirectParallelMinWork;
        GemmBlocking.DirectParallelMinWork = 1;
        try { body(); }
        finally { GemmBlocking.DirectParallelMinWork = saved; }
    }
}
