using System.Numerics;

namespace Aperture.Tests.Kernels;

/// <summary>
/// The matmul kernel against the naive fused multiply-add chain c = fma(a[i,k], b[k,j], c), bit for bit, on
/// awkward shapes, for every code path, dtype, operand layout and thread count.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class GemmTests
{
    private static readonly int[] Awkward = [1, 2, 3, 7, 13, 16, 17, 31, 33];

    /// <summary>A matrix with the given logical shape stored row-major or transposed (column-major), after a margin.</summary>
    internal static MatrixView<T> Matrix<T>(Random rng, int rows, int cols, bool transposed, int margin = 3)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var data = new T[margin + rows * cols + margin];
        for (int i = 0; i < data.Length; i++)
        {
            // Mixed magnitudes, so that a different rounding order would show in the bits.
            double v = (rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-6, 7));
            data[i] = T.CreateTruncating(v);
        }
        return transposed
            ? new MatrixView<T>(data, margin, rows, cols, 1, rows)
            : new MatrixView<T>(data, margin, rows, cols, cols, 1);
    }

    internal static T[] Naive<T>(MatrixView<T> a, MatrixView<T> b, bool reversed = false, bool fused = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = a.Rows, k = a.Cols, n = b.Cols;
        var c = new T[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                T s = T.Zero;
                for (int t = 0; t < k; t++)
                {
                    int q = reversed ? k - 1 - t : t;
                    s = fused ? T.FusedMultiplyAdd(a[i, q], b[q, j], s) : a[i, q] * b[q, j] + s;
                }
                c[i * n + j] = s;
            }
        return c;
    }

    private static void AssertBitwise<T>(T[] expected, T[] actual, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            bool same = T.IsNaN(expected[i]) ? T.IsNaN(actual[i]) : expected[i].Equals(actual[i]) && T.IsNegative(expected[i]) == T.IsNegative(actual[i]);
            if (!same) Assert.Fail($"{what}: element {i} is {actual[i]}, the naive chain gives {expected[i]}");
        }
    }

    private static T[] Run<T>(MatrixView<T> a, MatrixView<T> b, NumericsPolicy? p = null, int offset = 0, ProductSplit split = ProductSplit.Any)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var c = new T[offset + a.Rows * b.Cols];
        c.AsSpan().Fill(T.CreateTruncating(12345)); // stale values must be overwritten, never accumulated into
        MatMulKernel.Run(a, b, c, offset, p ?? NumericsPolicy.Default, split);
        return c[offset..];
    }

    private static void AwkwardShapes<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(17);
        KernelSettings.ForEachPath(path =>
        {
            int layout = 0;
            foreach (int m in Awkward)
                foreach (int n in Awkward)
                    foreach (int k in Awkward)
                    {
                        bool ta = (layout & 1) != 0, tb = (layout & 2) != 0;
                        layout++;
                        var a = Matrix<T>(rng, m, k, ta);
                        var b = Matrix<T>(rng, k, n, tb);
                        AssertBitwise(Naive(a, b), Run(a, b), $"{typeof(T).Name} {path} m={m} n={n} k={k} ta={ta} tb={tb}");
                    }
        });
    }

    [Fact] public void Float32_matches_the_naive_chain_on_awkward_shapes_on_every_path() => AwkwardShapes<float>();
    [Fact] public void Float64_matches_the_naive_chain_on_awkward_shapes_on_every_path() => AwkwardShapes<double>();

    private static readonly (int M, int N, int K)[] Larger =
    [
        (64, 64, 64), (100, 1, 257), (1, 100, 257), (257, 33, 5), (5, 300, 31), (130, 70, 1), (300, 2, 40), (2, 300, 40),
        (45, 77, 300), (200, 16, 16), (16, 200, 16), (130, 90, 40), (40, 50, 800),
        // A Linear layer at batch 1 and 2 (B = Wᵀ, columns contiguous): several k-chunks and a partial column block.
        (1, 257, 784), (2, 70, 300),
    ];

    public enum Method { Default, Packed, TinyBlocks, Thin }

    private static void LargerShapes<T>(Method method) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(5);
        var cases = Larger.SelectMany(s => new[] { (s, false, false), (s, true, false), (s, false, true), (s, true, true) })
            .Select(c => (c.s, c.Item2, c.Item3, Matrix<T>(rng, c.s.M, c.s.K, c.Item2), Matrix<T>(rng, c.s.K, c.s.N, c.Item3)))
            .ToList();
        var expected = cases.Select(c => Naive(c.Item4, c.Item5)).ToList();
        void Check()
        {
            KernelSettings.ForEachPath(path =>
            {
                // Three threads split unevenly; float64 (slower to check) runs one and two.
                foreach (int threads in typeof(T) == typeof(float) ? new[] { 1, 2, 3 } : new[] { 1, 2 })
                    KernelSettings.WithThreads(threads, () =>
                    {
                        for (int i = 0; i < cases.Count; i++)
                        {
                            var (s, ta, tb, a, b) = cases[i];
                            AssertBitwise(expected[i], Run(a, b), $"{typeof(T).Name} {path} threads={threads} {method} {s} ta={ta} tb={tb}");
                        }
                    });
            });
        }
        switch (method)
        {
            case Method.Packed: KernelSettings.WithPackingOnly(Check); break;
            case Method.TinyBlocks: KernelSettings.WithTinyBlocks(Check); break;
            case Method.Thin: KernelSettings.WithThinPath(Check); break;
            default: Check(); KernelSettings.WithDirectSplits(Check); break;
        }
    }

    /// <summary>Default settings (mostly the unpacked product), packing forced, and tiny blocks that run every blocking loop.</summary>
    [Theory]
    [InlineData(Method.Default)]
    [InlineData(Method.Packed)]
    [InlineData(Method.TinyBlocks)]
    [InlineData(Method.Thin)]
    public void Float32_larger_shapes_are_bitwise_the_same_for_every_path_and_thread_count(Method method) => LargerShapes<float>(method);

    [Theory]
    [InlineData(Method.Default)]
    [InlineData(Method.Packed)]
    [InlineData(Method.TinyBlocks)]
    public void Float64_larger_shapes_are_bitwise_the_same_for_every_path_and_thread_count(Method method) => LargerShapes<double>(method);

    /// <summary>
    /// A product asked to cut the rows or the columns of C (a Linear layer's weight gradient cuts its rows, the
    /// weight's output features) gives the naive chain whichever cut, path, blocking and thread count runs it, and
    /// falls back to the other side where the asked-for one has fewer units than threads (3 rows at 2 threads).
    /// </summary>
    [Theory]
    [InlineData(Method.Default)]
    [InlineData(Method.Packed)]
    [InlineData(Method.TinyBlocks)]
    public void A_requested_cut_of_rows_or_columns_matches_the_naive_chain(Method method)
    {
        var rng = new Random(29);
        (int M, int N, int K)[] shapes = [(257, 33, 5), (5, 300, 31), (45, 77, 300), (130, 90, 40), (3, 257, 17), (255, 17, 3), (256, 784, 32), (2, 1025, 300), (300, 301, 257), (7, 64, 9), (10, 1500, 200)];
        var cases = shapes.Select((s, i) => (s, ta: (i & 1) != 0, tb: (i & 2) != 0))
            .Select(c => (c.s, c.ta, c.tb, a: Matrix<float>(rng, c.s.M, c.s.K, c.ta), b: Matrix<float>(rng, c.s.K, c.s.N, c.tb)))
            .ToList();
        var expected = cases.Select(c => Naive(c.a, c.b)).ToList();
        void Check() => KernelSettings.ForEachPath(path =>
        {
            foreach (int threads in new[] { 1, 2, 3 })
                KernelSettings.WithThreads(threads, () =>
                {
                    foreach (var split in new[] { ProductSplit.Rows, ProductSplit.Columns, ProductSplit.Any, ProductSplit.None })
                        for (int i = 0; i < cases.Count; i++)
                        {
                            var (s, ta, tb, a, b) = cases[i];
                            var c = new float[a.Rows * b.Cols];
                            c.AsSpan().Fill(12345f);
                            long splitsBefore = Parallelism.SplitLoops;
                            MatMulKernel.Run(a, b, c, 0, NumericsPolicy.Default, split);
                            AssertBitwise(expected[i], c, $"{path} threads={threads} {method} split={split} {s} ta={ta} tb={tb}");
                            // An unsplit request keeps every path (unpacked, thin, packed, one- or two-row) on this thread.
                            if (split == ProductSplit.None) Assert.True(splitsBefore == Parallelism.SplitLoops, $"split: {path} threads={threads} {method} {s} ta={ta} tb={tb}");
                        }
                });
        });
        switch (method)
        {
            case Method.Packed: KernelSettings.WithPackingOnly(Check); break;
            case Method.TinyBlocks: KernelSettings.WithTinyBlocks(Check); break;
            default: Check(); KernelSettings.WithDirectSplits(Check); break;
        }
    }

    [Fact]
    public void A_requested_cut_takes_the_asked_for_side_when_it_has_a_unit_for_each_thread()
    {
        // The GEMM's own choice stands without a request, or when the asked-for side is too short.
        Assert.True(ProductSplit.Any.CutsRows(byDefault: true, rowUnits: 1, columnUnits: 8, threads: 2));
        Assert.False(ProductSplit.Any.CutsRows(byDefault: false, rowUnits: 8, columnUnits: 8, threads: 2));
        Assert.True(ProductSplit.Rows.CutsRows(byDefault: false, rowUnits: 2, columnUnits: 8, threads: 2));
        Assert.False(ProductSplit.Rows.CutsRows(byDefault: false, rowUnits: 1, columnUnits: 8, threads: 2));
        Assert.False(ProductSplit.Columns.CutsRows(byDefault: true, rowUnits: 8, columnUnits: 3, threads: 3));
        Assert.True(ProductSplit.Columns.CutsRows(byDefault: true, rowUnits: 8, columnUnits: 2, threads: 3));
        // Transposing the problem swaps the sides.
        Assert.Equal(ProductSplit.Columns, ProductSplit.Rows.Transposed());
        Assert.Equal(ProductSplit.Rows, ProductSplit.Columns.Transposed());
        Assert.Equal(ProductSplit.Any, ProductSplit.Any.Transposed());
        Assert.Equal(ProductSplit.None, ProductSplit.None.Transposed());
    }

    /// <summary>
    /// When threads split the rows they share B, packed a column slab at a time; a slab limit of a few panels gives
    /// several slabs (the last one partial) over a B that is not a whole number of panels wide, with the default
    /// blocking, and each output must still be the naive chain, whatever the thread count. The rows are asked for:
    /// left to itself (<see cref="ProductSplit.Any"/>, also checked) a product whose B needs more than one slab cuts
    /// the columns.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void Shared_B_in_column_slabs_matches_the_naive_chain_for_every_thread_count(bool ta, bool tb)
    {
        var rng = new Random(23);
        // Taller than wide, so the packed product keeps this orientation and splits the rows on the vector paths.
        const int m = 203, n = 90, k = 70;
        var a = Matrix<float>(rng, m, k, ta);
        var b = Matrix<float>(rng, k, n, tb);
        var expected = Naive(a, b);
        var (shared, direct, directB, thin) = (GemmBlocking.SharedMaxBytes, GemmBlocking.DirectMaxWork, GemmBlocking.DirectMaxB, GemmBlocking.DirectMaxThin);
        try
        {
            (GemmBlocking.DirectMaxWork, GemmBlocking.DirectMaxB, GemmBlocking.DirectMaxThin) = (0, 0, 0);
            // One panel per slab; two 32-float panels (AVX-512: 3 panels in slabs of 2 + 1; AVX2: 6 panels of 16 in
            // slabs of 3 + 3); and all of B in one slab.
            foreach (long bytes in new long[] { 1, 2L * k * 32 * sizeof(float), 1L << 30 })
            {
                GemmBlocking.SharedMaxBytes = bytes;
                KernelSettings.ForEachPath(path =>
                {
                    foreach (int threads in new[] { 1, 2, 3 })
                        foreach (var split in new[] { ProductSplit.Rows, ProductSplit.Any })
                            KernelSettings.WithThreads(threads, () =>
                                AssertBitwise(expected, Run(a, b, split: split), $"{path} threads={threads} {split} slab bytes={bytes} ta={ta} tb={tb}"));
                });
            }
        }
        finally
        {
            GemmBlocking.SharedMaxBytes = shared;
            (GemmBlocking.DirectMaxWork, GemmBlocking.DirectMaxB, GemmBlocking.DirectMaxThin) = (direct, directB, thin);
        }
    }

    /// <summary>
    /// The packed product packs a row-contiguous B row by row across all of its whole panels, and a partial last
    /// panel on its own. Here B is a column window of a wider matrix (its rows further apart than it is wide, starting
    /// at an odd column), over shapes with whole panels only, a partial one only, and both, in one or several k-blocks
    /// and (with tiny blocks) column blocks; each output must be the naive chain at every thread count.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Packed_B_from_a_column_window_of_a_wider_matrix_matches_the_naive_chain(bool tinyBlocks)
    {
        var rng = new Random(29);
        foreach (var (m, n, k) in new[] { (17, 257, 403), (9, 3, 1), (31, 64, 40), (255, 95, 17) })
        {
            var a = Matrix<float>(rng, m, k, transposed: false);
            var wide = Matrix<float>(rng, k, n + 13, transposed: false);
            var b = wide with { Offset = wide.Offset + 3, Cols = n };
            var expected = Naive(a, b);
            void Check() => KernelSettings.ForEachPath(path =>
            {
                foreach (int threads in new[] { 1, 2 })
                    KernelSettings.WithThreads(threads, () =>
                        AssertBitwise(expected, Run(a, b), $"{path} threads={threads} tiny={tinyBlocks} m={m} n={n} k={k}"));
            });
            if (tinyBlocks) KernelSettings.WithTinyBlocks(Check);
            else KernelSettings.WithPackingOnly(Check);
        }
    }

    [Fact]
    public void Partial_panels_of_a_row_major_B_of_every_edge_width_match_the_naive_chain()
    {
        // A row-major B narrower than a panel, or whose last panel is partial, is packed row by row with masked loads
        // (Packing.ContiguousRows): every edge width of both element types, B contiguous and as a column window of a
        // wider matrix, ending at the end of its array, under the default blocking and tiny blocks (several k-blocks).
        var rng = new Random(31);
        static void Check<T>(Random rng, int width) where T : unmanaged, IFloatingPointIeee754<T>
        {
            foreach (int n in new[] { width, 32 + width })
                foreach (bool window in new[] { false, true })
                {
                    int k = 70, m = 9;
                    var a = Matrix<T>(rng, m, k, transposed: false);
                    var full = Matrix<T>(rng, k, n + (window ? 5 : 0), transposed: false);
                    var data = full.Data[full.Offset..(full.Offset + full.Rows * full.RowStride)];
                    var b = new MatrixView<T>(data, window ? 5 : 0, k, n, full.RowStride, 1);
                    var expected = Naive(a, b);
                    void Run1() => KernelSettings.ForEachPath(path =>
                        AssertBitwise(expected, Run(a, b), $"{typeof(T).Name} {path} n={n} window={window}"));
                    KernelSettings.WithPackingOnly(Run1);
                    KernelSettings.WithTinyBlocks(Run1);
                }
        }
        for (int width = 1; width < 32; width++) Check<float>(rng, width);
        for (int width = 1; width < 16; width++) Check<double>(rng, width);
    }

    [Fact]
    public unsafe void Contiguous_rows_are_packed_whole_and_padded_with_zeros_on_every_path()
    {
        // Packing.ContiguousRows itself, for every column count of every panel width it takes (masked loads on the
        // AVX-512 path, a copy and a clear elsewhere): the values in place, zeros past them, nothing written past a row.
        static void Check<T>(int lanes) where T : unmanaged, IFloatingPointIeee754<T>
        {
            KernelSettings.ForEachPath(path =>
            {
                foreach (int width in new[] { lanes, 2 * lanes, 4 * lanes })
                    for (int cols = 1; cols <= width; cols++)
                        foreach (int extra in new[] { 0, 5 })
                        {
                            int len = 7, step = cols + extra;
                            var src = new T[len * step];
                            for (int i = 0; i < src.Length; i++) src[i] = T.CreateTruncating(i + 1);
                            var dst = new T[len * width + 3];
                            dst.AsSpan().Fill(T.CreateTruncating(-7));
                            fixed (T* ps = src, pd = dst) Packing.ContiguousRows(ps, step, cols, len, pd, width);
                            for (int p = 0; p < len; p++)
                                for (int c = 0; c < width; c++)
                                    Assert.True(dst[p * width + c] == (c < cols ? src[p * step + c] : T.Zero),
                                        $"{typeof(T).Name} {path} width={width} cols={cols} step={step}: row {p}, column {c} is {dst[p * width + c]}");
                            Assert.True(dst[len * width] == T.CreateTruncating(-7), "written past the last row");
                        }
            });
        }
        Check<float>(16);
        Check<double>(8);
    }

    [Fact]
    public void Reversed_order_runs_k_downward_on_every_path()
    {
        var rng = new Random(9);
        var policy = NumericsPolicy.Default with { Order = ReductionOrder.Reversed };
        foreach (var (m, n, k) in new[] { (13, 17, 31), (40, 50, 300), (1, 33, 70), (33, 2, 9) })
        {
            var a = Matrix<float>(rng, m, k, false);
            var b = Matrix<float>(rng, k, n, true);
            var ad = Matrix<double>(rng, m, k, true);
            var bd = Matrix<double>(rng, k, n, false);
            KernelSettings.ForEachPath(path =>
            {
                AssertBitwise(Naive(a, b, reversed: true), Run(a, b, policy), $"float {path} {m}x{n}x{k}");
                KernelSettings.WithPackingOnly(() => AssertBitwise(Naive(ad, bd, reversed: true), Run(ad, bd, policy), $"double packed {path} {m}x{n}x{k}"));
                AssertBitwise(Naive(ad, bd, reversed: true), Run(ad, bd, policy), $"double {path} {m}x{n}x{k}");
                KernelSettings.WithTinyBlocks(() => AssertBitwise(Naive(a, b, reversed: true), Run(a, b, policy), $"float tiny blocks {path} {m}x{n}x{k}"));
            });
        }
    }

    [Fact]
    public void Sequential_order_multiplies_then_adds()
    {
        var rng = new Random(10);
        var policy = NumericsPolicy.Default with { Order = ReductionOrder.Sequential };
        var a = Matrix<float>(rng, 19, 45, false);
        var b = Matrix<float>(rng, 45, 23, true);
        KernelSettings.ForEachPath(path => AssertBitwise(Naive(a, b, fused: false), Run(a, b, policy), $"{path}"));
    }

    [Fact]
    public void Output_offset_and_special_values_follow_the_chain()
    {
        var rng = new Random(11);
        var a = Matrix<float>(rng, 30, 40, false);
        var b = Matrix<float>(rng, 40, 50, false);
        a.Data[a.Offset + 5 * 40 + 7] = float.NaN;
        a.Data[a.Offset + 9 * 40 + 1] = float.PositiveInfinity;
        b.Data[b.Offset + 3 * 50 + 4] = float.NegativeInfinity;
        b.Data[b.Offset + 6 * 50 + 8] = 1e-42f; // subnormal
        KernelSettings.ForEachPath(path =>
        {
            AssertBitwise(Naive(a, b), Run(a, b, offset: 7), $"{path}");
            KernelSettings.WithPackingOnly(() => AssertBitwise(Naive(a, b), Run(a, b, offset: 7), $"packed {path}"));
        });
    }

    [Fact]
    public void K_zero_gives_zeros_and_empty_outputs_are_fine()
    {
        var a = new MatrixView<float>([], 0, 3, 0, 0, 1);
        var b = new MatrixView<float>([], 0, 0, 4, 4, 1);
        Assert.All(Run(a, b), v => Assert.Equal(0f, v));
        var e = new MatrixView<float>([], 0, 0, 5, 5, 1);
        var f = new MatrixView<float>(new float[15], 0, 5, 3, 3, 1);
        Assert.Empty(Run(e, f));
    }

    [Fact]
    public void Batched_and_broadcast_matmul_match_per_matrix_products()
    {
        var g = new Generator(3);
        var a = Tensor.Randn([4, 9, 33], g);
        var b = Tensor.Randn([33, 17], g);
        var bb = Tensor.Randn([4, 33, 17], g);
        KernelSettings.ForEachPath(path =>
        {
            foreach (int threads in new[] { 1, 2 })
                KernelSettings.WithThreads(threads, () =>
                {
                    var y = Ops.MatMul(a, b);
                    var y2 = Ops.MatMul(a, bb);
                    for (int i = 0; i < 4; i++)
                    {
                        var ai = Ops.Select(a, 0, i);
                        Assert.Equal(Ops.MatMul(ai, b).ToArray<float>(), Ops.Select(y, 0, i).ToArray<float>());
                        Assert.Equal(Ops.MatMul(ai, Ops.Select(bb, 0, i)).ToArray<float>(), Ops.Select(y2, 0, i).ToArray<float>());
                        var av = new MatrixView<float>(ai.Contiguous().ToArray<float>(), 0, 9, 33, 33, 1);
                        var bv = new MatrixView<float>(b.ToArray<float>(), 0, 33, 17, 17, 1);
                        Assert.Equal(Naive(av, bv), Ops.Select(y, 0, i).ToArray<float>());
                    }
                });
        });
    }
}
