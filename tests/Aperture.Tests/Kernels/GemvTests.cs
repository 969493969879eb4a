namespace Aperture.Tests.Kernels;

/// <summary>
/// The batch-1 matrix–vector product (x·Wᵀ with W row-major, and W·v) against the naive fused multiply-add chain,
/// bit for bit, on awkward shapes, on every code path and at one and two threads; and the batch-1 Linear layer
/// against the same layer's rows at larger batch.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class GemvTests
{
    private static readonly int[] Sizes = [1, 2, 3, 15, 16, 17, 31, 32, 33, 255, 257];

    private static void AssertBitwise(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]}, the naive chain gives {expected[i]}");
    }

    [Fact]
    public void Vector_times_transposed_row_major_matrix_is_the_naive_chain()
    {
        var rng = new Random(5);
        long savedMin = Gemv.GemvParallelMinWork;
        try
        {
            // At two threads, split every product the pool will take (the default keeps the small ones on one thread).
            foreach (int threads in new[] { 1, 2 })
                KernelSettings.WithThreads(threads, () => KernelSettings.ForEachPath(path =>
                {
                    Gemv.GemvParallelMinWork = threads == 1 ? savedMin : 1;
                    foreach (int n in Sizes)
                        foreach (int k in Sizes)
                        {
                            // x: 1 × k, row-major (and below with a column stride of 2);
                            // B = Wᵀ where W is [n, k] row-major: B[q, j] = W[j, q] at j·k + q.
                            var x = GemmTests.Matrix<float>(rng, 1, k, transposed: false);
                            var w = GemmTests.Matrix<float>(rng, n, k, transposed: false);
                            var b = new MatrixView<float>(w.Data, w.Offset, k, n, 1, k);
                            var c = new float[n + 2];
                            c.AsSpan().Fill(12345);
                            MatMulKernel.Run(x, b, c, 1, NumericsPolicy.Default);
                            AssertBitwise(GemmTests.Naive(x, b), c[1..(n + 1)], $"{path}, {threads} thread(s), x·Wᵀ n = {n}, k = {k}");
                            Assert.Equal(12345f, c[0]);
                            Assert.Equal(12345f, c[n + 1]);

                            // A strided x (every other element).
                            var xs = new float[2 * k + 1];
                            for (int q = 0; q < k; q++) xs[1 + 2 * q] = x[0, q];
                            var xv = new MatrixView<float>(xs, 1, 1, k, 2 * k, 2);
                            var c2 = new float[n];
                            MatMulKernel.Run(xv, b, c2, 0, NumericsPolicy.Default);
                            AssertBitwise(GemmTests.Naive(x, b), c2, $"{path}, {threads} thread(s), strided x, n = {n}, k = {k}");

                            // W·v: an n × k row-major matrix times a k × 1 vector.
                            var v = new MatrixView<float>(x.Data, x.Offset, k, 1, 1, 1);
                            var c3 = new float[n];
                            MatMulKernel.Run(w, v, c3, 0, NumericsPolicy.Default);
                            AssertBitwise(GemmTests.Naive(w, v), c3, $"{path}, {threads} thread(s), W·v n = {n}, k = {k}");

                            // Reversed k order keeps its own (reversed) chain.
                            var c4 = new float[n];
                            MatMulKernel.Run(x, b, c4, 0, NumericsPolicy.Default with { Order = ReductionOrder.Reversed });
                            AssertBitwise(GemmTests.Naive(x, b, reversed: true), c4, $"{path}, {threads} thread(s), reversed, n = {n}, k = {k}");
                        }
                }));
        }
        finally
        {
            Gemv.GemvParallelMinWork = savedMin;
        }
    }

    [Fact]
    public void Batch_one_linear_gives_the_bits_of_its_row_in_a_batch()
    {
        var g = new Generator(11);
        foreach (var (inF, outF) in new[] { (784, 256), (256, 10), (17, 33), (1, 1), (255, 257) })
        {
            var w = Tensor.Randn([outF, inF], g);
            var bias = Tensor.Randn([outF], g);
            var x = Tensor.Randn([5, inF], g);
            foreach (int threads in new[] { 1, 2 })
                KernelSettings.WithThreads(threads, () =>
                {
                    var batch = Ops.Linear(x, w, bias).ToArray<float>();
                    for (int r = 0; r < 5; r++)
                    {
                        var one = Ops.Linear(Ops.Narrow(x, 0, r, 1), w, bias).ToArray<float>();
                        AssertBitwise(batch[(r * outF)..((r + 1) * outF)], one, $"linear {inF}→{outF}, row {r}, {threads} thread(s)");
                    }
                });
        }
    }

    /// <summary>Small products with leftover columns (padded to whole registers) give the naive chain's bits, in every layout.</summary>
    [Fact]
    public void Small_products_with_partial_registers_are_the_naive_chain()
    {
        var rng = new Random(9);
        (int M, int K, int N)[] shapes = [(100, 50, 50), (50, 100, 50), (3, 3, 3), (17, 5, 33), (40, 7, 19), (64, 64, 65), (129, 3, 18)];
        foreach (int threads in new[] { 1, 2 })
            KernelSettings.WithThreads(threads, () => KernelSettings.ForEachPath(path =>
            {
                foreach (var (m, k, n) in shapes)
                    for (int layout = 0; layout < 4; layout++)
                    {
                        var a = GemmTests.Matrix<float>(rng, m, k, (layout & 1) != 0);
                        var b = GemmTests.Matrix<float>(rng, k, n, (layout & 2) != 0);
                        var c = new float[m * n];
                        c.AsSpan().Fill(12345);
                        MatMulKernel.Run(a, b, c, 0, NumericsPolicy.Default);
                        AssertBitwise(GemmTests.Naive(a, b), c, $"{path}, {threads} thread(s), {m}×{k}·{k}×{n}, layout {layout}");
                        var r = new float[m * n];
                        MatMulKernel.Run(a, b, r, 0, NumericsPolicy.Default with { Order = ReductionOrder.Reversed });
                        AssertBitwise(GemmTests.Naive(a, b, reversed: true), r, $"{path}, {threads} thread(s), reversed, {m}×{k}·{k}×{n}, layout {layout}");
                    }
            }));
    }

    /// <summary>Where the panel copy of an [n, k] weight keeps Wᵀ[q, j] (the layout <see cref="GemvTransposed.Transpose"/> writes).</summary>
    internal static long PanelIndex(int n, int k, int q, int j)
    {
        int vectors = (n + 15) / 16, first = j / 128 * 8;
        int width = Math.Min(8, vectors - first) * 16;
        return (long)first * 16 * k + (long)q * width + j % 128;
    }

    /// <summary>
    /// The product over a transposed, padded panel copy of W (the cached form a Linear layer uses at batch 1), with
    /// and without a bias and a fused ReLU, whole and by ranges of output vectors, against the naive chain plus the
    /// bias (then the maximum Relu takes), bit for bit, at one to three threads.
    /// </summary>
    [Fact]
    public unsafe void Transposed_copy_product_is_the_naive_chain_plus_bias()
    {
        Assert.True(GemvTransposed.Supported || KernelPaths.Active != KernelPath.Avx512);
        if (!GemvTransposed.Supported) return;   // the AVX-512 path is what the layer takes this route on
        var rng = new Random(17);
        long savedMin = Gemv.GemvParallelMinWork;
        int[] sizes = [1, 3, 15, 16, 17, 33, 127, 128, 129, 255, 256, 257, 300, 400];
        try
        {
            foreach (int threads in new[] { 1, 2, 3 })
                KernelSettings.WithThreads(threads, () =>
                {
                    Gemv.GemvParallelMinWork = threads == 1 ? savedMin : 1;
                    foreach (int n in sizes)
                        foreach (int k in sizes)
                            foreach (int incX in new[] { 1, 2 })
                            {
                                var x = GemmTests.Matrix<float>(rng, 1, k, transposed: false);
                                var w = GemmTests.Matrix<float>(rng, n, k, transposed: false);
                                var b = new MatrixView<float>(w.Data, w.Offset, k, n, 1, k);
                                var expected = GemmTests.Naive(x, b);
                                var bias = new float[n];
                                for (int j = 0; j < n; j++) bias[j] = (float)(rng.NextDouble() * 2 - 1);
                                var wt = new float[GemvTransposed.CopyLength(n, k) + 3];
                                wt.AsSpan().Fill(float.NaN);   // every element must be written, padding included
                                var xs = new float[incX * k];
                                for (int q = 0; q < k; q++) xs[q * incX] = x[0, q];
                                var y = new float[n + 2];
                                var withBias = new float[n];
                                var relu = new float[n];
                                for (int j = 0; j < n; j++)
                                {
                                    withBias[j] = expected[j] + bias[j];
                                    relu[j] = float.Max(withBias[j], 0f);
                                }
                                string what = $"{threads} thread(s), n = {n}, k = {k}, incX = {incX}";
                                fixed (float* wp = w.Data, tp = wt, xp = xs, yp = y, bp = bias)
                                {
                                    GemvTransposed.Transpose(wp + w.Offset, k, n, k, tp + 3);
                                    for (int q = 0; q < k; q++)
                                        for (int j = 0; j < (n + 15) / 16 * 16; j++)
                                            Assert.Equal(j < n ? w[j, q] : 0f, wt[3 + PanelIndex(n, k, q, j)]);
                                    y.AsSpan().Fill(12345);
                                    GemvTransposed.Run(xp, incX, tp + 3, null, yp + 1, n, k);
                                    AssertBitwise(expected, y[1..(n + 1)], $"Wᵀ copy, {what}");
                                    Assert.Equal(12345f, y[0]);
                                    Assert.Equal(12345f, y[n + 1]);
                                    GemvTransposed.Run(xp, incX, tp + 3, bp, yp + 1, n, k);
                                    AssertBitwise(withBias, y[1..(n + 1)], $"Wᵀ copy + bias, {what}");
                                    Assert.Equal(12345f, y[n + 1]);
                                    GemvTransposed.Run(xp, incX, tp + 3, bp, yp + 1, n, k, relu: true);
                                    AssertBitwise(relu, y[1..(n + 1)], $"Wᵀ copy + bias, ReLU, {what}");
                                    Assert.Equal(12345f, y[n + 1]);

                                    // By ranges of output vectors that cut panels anywhere: each range writes its outputs only.
                                    int vectors = (n + 15) / 16;
                                    int cut1 = rng.Next(vectors + 1), cut2 = rng.Next(vectors + 1);
                                    int[] cuts = [0, Math.Min(cut1, cut2), Math.Max(cut1, cut2), vectors];
                                    y.AsSpan().Fill(12345);
                                    for (int c = 0; c + 1 < cuts.Length; c++)
                                    {
                                        GemvTransposed.Range(xp, incX, tp + 3, bp, yp + 1, n, k, cuts[c], cuts[c + 1], relu: true);
                                        for (int j = Math.Min(n, 16 * cuts[c + 1]); j < n; j++) Assert.Equal(12345f, y[1 + j]);
                                    }
                                    AssertBitwise(relu, y[1..(n + 1)], $"Wᵀ copy by vectors cut at {cuts[1]}, {cuts[2]}, {what}");
                                    Assert.Equal(12345f, y[0]);
                                    Assert.Equal(12345f, y[n + 1]);

                                    // By stretches of the chains (k cut anywhere; an empty stretch is skipped, as a
                                    // pass skips an empty part) over the same vector ranges: the partial sums go to
                                    // their own buffer, never to y, and the finished chains have the bits of the whole
                                    // ones, whichever way each range's panels are taken.
                                    int k1 = rng.Next(k + 1), k2 = rng.Next(k + 1);
                                    int[] stretches = [0, Math.Min(k1, k2), Math.Max(k1, k2), k];
                                    var partial = new float[vectors * 16];
                                    partial.AsSpan().Fill(float.NaN);
                                    y.AsSpan().Fill(12345);
                                    fixed (float* pp = partial)
                                        for (int c = 0; c + 1 < cuts.Length; c++)
                                            for (int t = 0; t + 1 < stretches.Length; t++)
                                            {
                                                if (stretches[t] == stretches[t + 1]) continue;
                                                GemvTransposed.Range(xp, incX, tp + 3, bp, yp + 1, n, k, cuts[c], cuts[c + 1], true,
                                                    stretches[t], stretches[t + 1], pp, panelsBackward: (c + t) % 2 == 1);
                                                if (stretches[t + 1] < k)
                                                    for (int j = 16 * cuts[c]; j < Math.Min(n, 16 * cuts[c + 1]); j++) Assert.Equal(12345f, y[1 + j]);
                                            }
                                    AssertBitwise(relu, y[1..(n + 1)], $"Wᵀ copy by stretches cut at {stretches[1]}, {stretches[2]}, {what}");
                                    Assert.Equal(12345f, y[0]);
                                    Assert.Equal(12345f, y[n + 1]);
                                }
                            }
                });
        }
        finally
        {
            Gemv.GemvParallelMinWork = savedMin;
        }
    }

    /// <summary>The fused maximum treats NaN and −0 as Relu does, in whole and in partial vectors.</summary>
    [Fact]
    public unsafe void Fused_relu_takes_the_maximum_relu_takes()
    {
        if (!GemvTransposed.Supported) return;
        // k = 1, x = 1: each output is 1·w[j] + bias[j], so the values before the maximum are chosen exactly.
        float[] pre = [float.NaN, -0f, 0f, -1f, 2f, float.NegativeInfinity, float.PositiveInfinity, -float.NaN, 1e-45f, -1e-45f];
        foreach (int n in new[] { 10, 26, 33 })
        {
            var w = new float[n];
            var bias = new float[n];
            for (int j = 0; j < n; j++) w[j] = pre[j % pre.Length];
            var wt = new float[GemvTransposed.CopyLength(n, 1)];
            var y = new float[n];
            float[] one = [1f];
            fixed (float* wp = w, tp = wt, xp = one, yp = y, bp = bias)
            {
                GemvTransposed.Transpose(wp, 1, n, 1, tp);
                GemvTransposed.Run(xp, 1, tp, bp, yp, n, 1, relu: true);
            }
            var sums = new float[n];
            for (int j = 0; j < n; j++) sums[j] = 1f * w[j] + bias[j];
            var expected = Ops.Relu(Tensor.FromArray(sums, [n])).ToArray<float>();
            AssertBitwise(expected, y, $"fused ReLU, n = {n}");
        }
    }
}
