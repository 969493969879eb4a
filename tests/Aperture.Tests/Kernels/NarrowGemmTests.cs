namespace Aperture.Tests.Kernels;

/// <summary>
/// The unpacked product for a C at most one register wide against a B whose columns are contiguous in k (X·Wᵀ of a
/// Linear layer with few outputs): bit for bit the naive fused multiply-add chain, the same bits as the path that
/// gathers B whole, at every thread count (split or not) and on every code path.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class NarrowGemmTests
{
    private static readonly (int M, int N, int K)[] Shapes =
    [
        // An MLP's output layer at batch 256 and 128 (10 outputs), then awkward sizes: row groups of 12 with 1, 3, 5 and
        // 11 rows left, one to sixteen columns, k of 1 and odd depths.
        (256, 10, 1024), (128, 10, 256), (64, 3, 1), (255, 10, 257), (257, 16, 33), (100, 12, 255), (70, 5, 3),
        (1000, 7, 17), (67, 15, 40), (65, 9, 8), (77, 1, 19), (89, 2, 31),
    ];

    private static T[] Run<T>(MatrixView<T> a, MatrixView<T> b) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var c = new T[a.Rows * b.Cols];
        c.AsSpan().Fill(T.CreateTruncating(12345));
        MatMulKernel.Run(a, b, c, 0, NumericsPolicy.Default);
        return c;
    }

    private static void Same<T>(T[] expected, T[] actual, string what) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (!expected[i].Equals(actual[i]) || T.IsNegative(expected[i]) != T.IsNegative(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]}, expected {expected[i]}");
    }

    private static void Check<T>(int seed) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        foreach (var (m, n, k) in Shapes)
            foreach (bool ta in new[] { false, true })
            {
                // B = Wᵀ of a row-major W: columns contiguous in k, the layout this path takes.
                var a = GemmTests.Matrix<T>(rng, m, k, ta);
                var b = GemmTests.Matrix<T>(rng, k, n, true);
                var naive = GemmTests.Naive(a, b);
                string what = $"{typeof(T).Name} {m}×{k}·{k}×{n} ta={ta}";
                bool saved = GemmBlocking.Narrow;
                try
                {
                    GemmBlocking.Narrow = false;
                    KernelSettings.WithThreads(1, () => Same(naive, Run(a, b), "gathering B, " + what));
                }
                finally { GemmBlocking.Narrow = saved; }
                foreach (int threads in new[] { 1, 2, 3 })
                {
                    KernelSettings.WithThreads(threads, () => Same(naive, Run(a, b), $"{threads} threads, {what}"));
                    KernelSettings.WithThreads(threads, () => KernelSettings.WithDirectSplits(() => Same(naive, Run(a, b), $"{threads} threads split, {what}")));
                }
                KernelSettings.ForEachPath(p => KernelSettings.WithThreads(1, () => Same(naive, Run(a, b), $"{p}, {what}")));
            }
    }

    [Fact]
    public void Narrow_products_match_the_naive_chain_in_float() => Check<float>(31);

    [Fact]
    public void Narrow_products_match_the_naive_chain_in_double() => Check<double>(37);

    [Fact]
    public void A_steady_narrow_product_allocates_nothing()
    {
        var rng = new Random(41);
        var a = GemmTests.Matrix<float>(rng, 256, 1024, false);
        var b = GemmTests.Matrix<float>(rng, 1024, 10, true);
        var c = new float[256 * 10];
        KernelSettings.WithThreads(1, () =>
        {
            MatMulKernel.Run(a, b, c, 0, NumericsPolicy.Default);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 5; i++) MatMulKernel.Run(a, b, c, 0, NumericsPolicy.Default);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        });
    }
}
