namespace Aperture.Tests.Kernels;

/// <summary>
/// The packing-free thin product (<see cref="ThinGemm"/>): a training step's X·Wᵀ, dY·W and dYᵀ·X shapes, and awkward
/// ones around them, against the naive fused multiply-add chain bit for bit, in both orientations, with the packed
/// path and at other thread counts giving the same bits.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class ThinGemmTests
{
    private static readonly (int M, int N, int K)[] Shapes =
    [
        // The MLP's products at batch 32 and 128 (X·W1ᵀ, dYᵀ·X, dY·W2), at reduced depth where the shape is the point.
        (32, 256, 784), (128, 256, 256), (256, 784, 32), (32, 256, 256),
        // Partial row blocks (1, 3 and 7 rows left), partial column panels, k of 1 and odd depths.
        (1, 300, 17), (3, 33, 255), (17, 257, 3), (257, 17, 1), (9, 65, 129), (255, 31, 40), (40, 255, 257), (33, 1, 100),
        // Either side of the rule that sends products wide both ways at k ≥ 256 to the packed path at one thread.
        (513, 520, 256), (512, 600, 256), (600, 513, 255),
    ];

    private static float[] Run(MatrixView<float> a, MatrixView<float> b)
    {
        var c = new float[a.Rows * b.Cols];
        c.AsSpan().Fill(12345f);
        MatMulKernel.Run(a, b, c, 0, NumericsPolicy.Default);
        return c;
    }

    private static void Same(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]}, expected {expected[i]}");
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Thin_products_match_the_naive_chain_and_the_packed_path(bool ta, bool tb)
    {
        var rng = new Random(23);
        foreach (var (m, n, k) in Shapes)
        {
            var a = GemmTests.Matrix<float>(rng, m, k, ta);
            var b = GemmTests.Matrix<float>(rng, k, n, tb);
            var naive = GemmTests.Naive(a, b);
            string what = $"{m}×{k}·{k}×{n} ta={ta} tb={tb}";
            float[]? thin = null, packed = null;
            KernelSettings.WithThreads(1, () => KernelSettings.WithThinPath(() => thin = Run(a, b)));
            KernelSettings.WithThreads(1, () => KernelSettings.WithPackingOnly(() => packed = Run(a, b)));
            Same(naive, thin!, "thin " + what);
            Same(naive, packed!, "packed " + what);
            foreach (int threads in new[] { 1, 2, 3 })
                KernelSettings.WithThreads(threads, () => Same(naive, Run(a, b), $"default, {threads} threads, {what}"));
        }
    }

    [Fact]
    public void Reading_B_in_place_gives_the_bits_of_packing_it()
    {
        // dY·W shapes (A row-major, read in place) and dYᵀ·X shapes (A column-major, copied): full panels, a last half
        // panel (784 = 24·32 + 16), partial row blocks, k of 1, and k reversed (B's rows walked backwards); one and two
        // threads, the split cutting row blocks.
        var rng = new Random(37);
        foreach (var (m, n, k, ta) in new[] { (32, 256, 256, false), (128, 256, 256, false), (32, 784, 40, false), (8, 32, 1, false),
                     (27, 48, 3, false), (256, 784, 32, true), (61, 64, 9, true), (5, 16, 7, true) })
        {
            var a = GemmTests.Matrix<float>(rng, m, k, ta);
            var b = GemmTests.Matrix<float>(rng, k, n, false);
            var naive = GemmTests.Naive(a, b);
            foreach (bool inPlace in new[] { true, false })
                foreach (int threads in new[] { 1, 2 })
                {
                    bool saved = ThinGemm.ReadBInPlace;
                    long savedSplit = ThinGemm.SplitMinWork;
                    ThinGemm.ReadBInPlace = inPlace;
                    ThinGemm.SplitMinWork = 1;
                    try
                    {
                        KernelSettings.WithThreads(threads, () => KernelSettings.WithThinPath(() =>
                            Same(naive, Run(a, b), $"{m}×{k}·{k}×{n}, B {(inPlace ? "in place" : "packed")}, {threads} thread(s)")));
                        var reversed = new float[m * n];
                        KernelSettings.WithThreads(threads, () => KernelSettings.WithThinPath(() =>
                            MatMulKernel.Run(a, b, reversed, 0, NumericsPolicy.Default with { Order = ReductionOrder.Reversed })));
                        var expected = new float[m * n];
                        KernelSettings.WithThreads(1, () => KernelSettings.WithPackingOnly(() =>
                            MatMulKernel.Run(a, b, expected, 0, NumericsPolicy.Default with { Order = ReductionOrder.Reversed })));
                        Same(expected, reversed, $"{m}×{k}·{k}×{n} reversed, B {(inPlace ? "in place" : "packed")}, {threads} thread(s)");
                    }
                    finally
                    {
                        ThinGemm.ReadBInPlace = saved;
                        ThinGemm.SplitMinWork = savedSplit;
                    }
                }
        }
    }

    [Fact]
    public unsafe void B_is_read_in_place_only_where_no_tile_reads_past_its_rows()
    {
        // Full panels: always. A last half panel: only with whole row blocks, which run the half-width tile on it; a
        // partial row block would run the full-width tile there and read 16 values past each row of B. Not row-major:
        // never. (The reads past B do not change a value, so the bit-for-bit tests above cannot see them.)
        static GemmProblem<float> P(int m, int n, int k, nint rsB, nint csB) => new(null, k, 1, null, rsB, csB, null, n, 1, m, n, k);
        Assert.True(ThinGemm.BInPlace(P(32, 256, 64, 256, 1)));
        Assert.True(ThinGemm.BInPlace(P(29, 256, 64, 256, 1)));
        Assert.True(ThinGemm.BInPlace(P(256, 784, 32, 784, 1)));
        Assert.False(ThinGemm.BInPlace(P(5, 16, 7, 16, 1)));
        Assert.False(ThinGemm.BInPlace(P(250, 784, 32, 784, 1)));
        Assert.False(ThinGemm.BInPlace(P(32, 40, 64, 40, 1)));
        Assert.False(ThinGemm.BInPlace(P(32, 256, 64, 1, 64)));
    }

    [Fact]
    public void Forward_shaped_products_give_the_naive_chain_on_every_path()
    {
        // B = Wᵀ (columns contiguous): 32 × 784 packs X and reads W in place (Cᵀ = W·Xᵀ, C written through transposes),
        // 128 × 256 × 256 packs Wᵀ and reads X in place; the same bits either way, and on the paths without AVX-512.
        var rng = new Random(29);
        foreach (var (m, n, k) in new[] { (32, 256, 784), (128, 256, 256), (7, 40, 33) })
        {
            var a = GemmTests.Matrix<float>(rng, m, k, false);
            var b = GemmTests.Matrix<float>(rng, k, n, true);
            var naive = GemmTests.Naive(a, b);
            foreach (var p in KernelPaths.Available())
            {
                using var scope = KernelPaths.Force(p);
                KernelSettings.WithThreads(1, () => KernelSettings.WithThinPath(() => Same(naive, Run(a, b), $"{p} {m}×{k}·{k}×{n}")));
            }
        }
    }

    [Fact]
    public void Split_thin_products_give_the_naive_chain_at_every_thread_count_and_cut()
    {
        // Every product the thin path takes is split (SplitMinWork 1): whole row blocks of the chosen orientation to
        // each thread, each packing B for itself; a requested cut of the other side goes to the packed path instead.
        // Partial row blocks at a thread's edge (M not a multiple of 8, or fewer blocks than threads) included.
        var rng = new Random(31);
        long saved = ThinGemm.SplitMinWork;
        ThinGemm.SplitMinWork = 1;
        try
        {
            foreach (var (m, n, k, tb) in new[] { (128, 256, 784, true), (32, 256, 256, true), (256, 784, 32, false), (41, 75, 129, false), (9, 300, 17, true), (13, 33, 700, false) })
            {
                var a = GemmTests.Matrix<float>(rng, m, k, false);
                var b = GemmTests.Matrix<float>(rng, k, n, tb);
                var naive = GemmTests.Naive(a, b);
                foreach (int threads in new[] { 2, 3 })
                    foreach (var cut in new[] { ProductSplit.Any, ProductSplit.Rows, ProductSplit.Columns })
                        KernelSettings.WithThreads(threads, () => KernelSettings.WithThinPath(() =>
                        {
                            var c = new float[m * n];
                            c.AsSpan().Fill(12345f);
                            long loops = Parallelism.SplitLoops;
                            MatMulKernel.Run(a, b, c, 0, NumericsPolicy.Default, cut);
                            Same(naive, c, $"{m}×{k}·{k}×{n} tb={tb}, {threads} threads, cut {cut}");
                            if (cut == ProductSplit.Any) Assert.True(Parallelism.SplitLoops > loops, $"{m}×{k}·{k}×{n} was not split");
                        }));
            }
        }
        finally { ThinGemm.SplitMinWork = saved; }
    }
}
