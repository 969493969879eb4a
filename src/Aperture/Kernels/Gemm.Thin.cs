using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Aperture;

/// <summary>
/// Thin float32 products on one thread (AVX-512): the training step's X·Wᵀ, dY·W and dYᵀ·X at batch 32–256, where
/// one side of C is short (the batch) or k is short (the batch again). The packed GEMM transposes whichever operand
/// it must, at k-blocks of <see cref="GemmBlocking.Kc"/>: for X·Wᵀ that is all of W (200k floats for a 784 × 256
/// weight) and again X, in order to serve only 32 or 128 rows. Here only one operand is packed, once per call and
/// into whole-depth panels shared by every row block: the orientation is chosen so that it is the cheaper one to
/// pack (for X·Wᵀ, Cᵀ = W·Xᵀ packs X and reads W's rows as they lie). The other is read in place: eight rows
/// contiguous in k, each broadcast from its own row (<see cref="RowsKernel"/>), or, when its k-steps hold the eight
/// rows side by side (Aᵀ of a row-major matrix, as dYᵀ in dYᵀ·X), copied panel by panel, which costs a row block's
/// worth against the N/32 tiles that use it.
/// </summary>
/// <remarks>
/// Each output is one fused multiply-add chain over k in increasing order, started from zero, and never split across
/// k-blocks: the bits of every other path of <see cref="MatMulKernel"/>, whichever orientation is chosen and whichever
/// thread computes it. A product large enough to split (<see cref="SplitMinWork"/>) is cut into whole row blocks of the
/// chosen orientation (<see cref="RunSplit"/>), unless the caller asked for the other cut: that one takes the packed path.
/// </remarks>
internal static unsafe class ThinGemm
{
    private const int MR = 8, NR = 32, W = 16;

    /// <summary>The deepest product taken here: an eight-row block of the unpacked operand (8·k floats) stays in L1.</summary>
    public static int MaxK = 1024;

    /// <summary>The largest packed B taken here (bytes): it is read once per row block, from L2 (1 MiB on Zen 5).</summary>
    public static long MaxPackedBytes = 1 << 20;

    /// <summary>
    /// Multiply-adds from which a thin product, at more than one thread, is split (and a layer's weight gradient, and
    /// the update that follows it): 8M on a core with full-width AVX-512,
    /// 1M where each 512-bit FMA runs as two halves (<see cref="Microarchitecture.HalvedAvx512"/>, Zen 4).
    /// </summary>
    /// <remarks>
    /// On a Zen 5 core, below 8M the split did not pay on the project's 2-core machines: the first layer of mlp-b32
    /// (32 × 784 · 784 × 256, 6.4M) took 64 µs on one thread and 56 µs split on the packed path (bench
    /// <c>--profile</c>, quiet machine), and the split left the ReLU after it (0.9 → 3.4 µs, half its input in the other
    /// core's cache) and the weight's update (41 → 55 µs) slower by more than that. At 8M (mlp-b128's 128 × 256 · 256 ×
    /// 256) and above, the products keep their split, and mlp-b128 its two-thread gain (175k samples/s against 140k at
    /// one thread). On a Zen 4 core the products take twice as long, and mlp-b32's whole step at two threads took
    /// 285–307 µs with every product from 1M split (its five products of 2.1M and 6.4M, and the two weights' updates)
    /// against 449–453 µs with none split (its one-thread time), 328 µs from 4M and 300–305 µs from 2M (the thresholds
    /// alternated in windows of 200 steps in one process, medians of 40 windows each). With the split on the thin path
    /// (<see cref="RunSplit"/>) 1M still measured best there: the step's fastest window over three runs of 9 windows each
    /// took 272–274 µs from 1M, 299–305 from 3M (the two products of 2.1M then unsplit) and 435–439 from 8M.
    /// </remarks>
    public static long SplitMinWork = Microarchitecture.HalvedAvx512 ? 1L << 20 : 8L << 20;

    private static int RoundUp(int x, int m) => (x + m - 1) / m * m;

    /// <summary>
    /// Runs <paramref name="g"/> (a product the driver would pack) here when it is thin enough and the AVX-512 path is
    /// active; returns false, doing nothing, otherwise. <paramref name="cut"/>: the caller's cut. Unsplit
    /// (<see cref="ProductSplit.None"/>), the product runs on this thread whatever its size.
    /// </summary>
    public static bool TryRun(GemmProblem<float> g, ProductSplit cut = ProductSplit.Any)
    {
        if (!GemmBlocking.Thin || KernelPaths.Active != KernelPath.Avx512) return false;
        if (g.K < 1 || g.K > MaxK || g.M < 1 || g.N < 1) return false;
        bool split = cut != ProductSplit.None && (long)g.M * g.N * g.K >= SplitMinWork && Parallelism.Threads > 1;
        // Short C both ways (the batch) or short k: the shapes where the packed path's copies are not amortized.
        if (Math.Min(g.M, g.N) > 256 && g.K > 256) return false;
        // Wide both ways, at a batch of 256 (the weight gradient dYᵀ·X of a 784-1024-1024 net): the packed path wins.
        // Measured on a Zen 5 core (thread CPU time, one thread, thin and packed interleaved, best and median of 10–16
        // windows, five runs): 1024 × 256 · 256 × 1024 2–5% faster packed, 1024 × 256 · 256 × 784 1–3%; at 512 × 512
        // (k = 256) and at k = 128–192 the two are within 2%, thin ahead as often as not, so they stay here.
        if (Math.Min(g.M, g.N) > 512 && g.K >= 256) return false;
        var t = g.Transposed();
        long cost = Cost(g), costT = Cost(t);
        if (Math.Min(cost, costT) == long.MaxValue) return false;
        var chosen = costT < cost ? t : g;
        // The packed B is streamed once per row block: it must stay in L2 (a 1024 × 1024 weight would not).
        if ((long)chosen.K * RoundUp(chosen.N, NR) * sizeof(float) > MaxPackedBytes) return false;
        // The thin split cuts the rows of the chosen orientation: a cut asked of the other side goes to the packed path.
        if (split && cut == (costT < cost ? ProductSplit.Rows : ProductSplit.Columns)) return false;
        if (split) RunSplit(chosen);
        else Run(chosen);
        return true;
    }

    /// <summary>
    /// The copies one orientation needs, in element moves: B packed (a transpose counts double), A copied when its
    /// k-steps are not rows, and C moved through a buffer when it is column-contiguous. Measured on one Zen 5 core
    /// (CPU time, interleaved, minimum over windows): X·Wᵀ takes the transposed orientation (X packed, W read in
    /// place) at batch 32 (about 25% less time than the other) and for the 784-deep layers; dYᵀ·X and dY·W the direct one.
    /// </summary>
    private static long Cost(in GemmProblem<float> g)
    {
        long b = g.CsB == 1 ? 1 : g.RsB == 1 ? 2 : 4;
        long cost = b * g.K * g.N;
        if (g.CsA == 1) { }
        else if (g.RsA == 1) cost += (long)g.K * g.M;
        else return long.MaxValue;
        // A column-contiguous C goes out through 8 × 8 transposes, 32-byte pieces of 32 rows per tile: cheap while C
        // stays in L1, about a transpose's worth per element once it does not (measured on X·Wᵀ at 128 × 256 × 256,
        // where the transposed orientation lost to the direct one, and at k = 784, where it won).
        if (g.CsC != 1) cost += (long)g.M * g.N * ((long)g.M * g.N * sizeof(float) > 64 << 10 ? 2 : 1);
        return cost;
    }

    /// <summary>
    /// Whether <see cref="RunPackedB"/> serves the product of an [m, k] row-major A and B = Wᵀ of a row-major
    /// weight W [n, k] (a Linear layer's X·Wᵀ), from W's panels packed ahead (<see cref="PackWeight"/>):
    /// the shapes <see cref="TryRun"/> takes, with whole panels (n ≥ 32; the narrower output layers keep the paths tuned
    /// for them) and more than one row (one row is a matrix–vector product).
    /// </summary>
    public static bool TakesPackedB(int m, int n, int k)
    {
        if (!GemmBlocking.Thin || KernelPaths.Active != KernelPath.Avx512) return false;
        if (m < 2 || n < NR || k < 1 || k > MaxK) return false;
        if ((Math.Min(m, n) > 256 && k > 256) || (Math.Min(m, n) > 512 && k >= 256)) return false;
        return (long)k * RoundUp(n, NR) * sizeof(float) <= MaxPackedBytes;
    }

    /// <summary>Floats in the packed panels of an [n, k] weight (<see cref="PackWeight"/>).</summary>
    public static long PackedBLength(int n, int k) => (long)RoundUp(n, NR) * k;

    /// <summary>
    /// The panels B = Wᵀ of a row-major weight W [n, k] (row stride <paramref name="ldw"/>) as <see cref="RowBlocks"/>
    /// packs them: panel q holds outputs 32q … 32q + 31 over all of k, each k-step 32 contiguous values (zero past n).
    /// </summary>
    public static void PackWeight(float* w, int ldw, int n, int k, float* dst)
    {
        var g = new GemmProblem<float>(null, 0, 1, w, 1, ldw, null, n, 1, 1, n, k);
        for (int col = 0; col < n; col += NR) PackB(g, col, Math.Min(NR, n - col), dst + (nint)col * k);
    }

    /// <summary>
    /// <paramref name="g"/> (A row-major, C row-major, B unused) with B's panels taken from <paramref name="packed"/>
    /// (<see cref="PackWeight"/>) instead of packed now: row blocks of A read in place, cut
    /// across threads as <see cref="RunSplit"/> cuts them when the product is large enough. The chains, and so the
    /// bits, of every other path.
    /// </summary>
    public static void RunPackedB(in GemmProblem<float> g, float* packed)
    {
        var body = new PackedRowBlocks(g, packed);
        int blocks = (g.M + MR - 1) / MR;
        if ((long)g.M * g.N * g.K >= SplitMinWork && Parallelism.Threads > 1) Parallelism.For(blocks, (long)MR * g.N * g.K, body);
        else body.Run(0, blocks);
    }

    private readonly struct PackedRowBlocks(GemmProblem<float> g, float* packed) : Parallelism.IRangeBody
    {
        public void Run(int b0, int b1) => Blocks(g, packed, NR, (nint)g.K * NR, b0 * MR, Math.Min(b1 * MR, g.M));
    }

    /// <summary>The product on the calling thread: all of its row blocks.</summary>
    private static void Run(GemmProblem<float> g) => new RowBlocks(g).Run(0, (g.M + MR - 1) / MR);

    /// <summary>
    /// The product on several threads: whole row blocks of the chosen orientation to each, each thread packing all of
    /// B for itself. For X·Wᵀ that cuts W's rows (the orientation reads W in place), as the optimizer's update and the
    /// weight gradient cut them, so each core reads its own half of the weight from step to step.
    /// </summary>
    /// <remarks>
    /// Packing B once, shared (half of its panels by each thread, then a second loop over the rows), measured no
    /// better on the 2-core Zen 4 machine: the packed operand is the short one, and a second loop costs its own
    /// hand-off. Against the packed path's split, each thread here packs B (for X·Wᵀ: X) rather than A and B, and runs
    /// the thin kernels. Measured there (2 threads, the three variants alternated in windows of 200 passes or steps,
    /// medians of 9 windows, two to four runs, this one faster in every run): the 784-256-256-10 MLP's batch-128
    /// inference pass 350–407 µs against 380–446 on the packed path (its first layer 243–257 against 265–297), a
    /// batch-32 training step 275–311 against 296–345 (and 501 against 523 in a run the host disturbed), a batch-128
    /// step 884–989 against 907–1035; the 784-1024-1024-10 MLP at batch 256, a pass 5.04 ms against 5.47 and a step
    /// 14.7 ms against 15.8. Product by product at 2 threads
    /// (the thin path on and off, medians of 15 windows of 200 products), the 784-256-256-10 MLP's five large products
    /// (X·W1ᵀ, H1·W2ᵀ, dY2·W2, dY2ᵀ·H1, dY1ᵀ·X) at batch 128 and 256 ran 1.01–1.51× faster split here; at batch 32 the
    /// two of 2.1M multiply-adds, dY2·W2 and dY2ᵀ·H1, 3% and 11% slower (about 1 and 2 µs), the other three 1.22–1.39×
    /// faster.
    /// </remarks>
    private static void RunSplit(GemmProblem<float> g) =>
        Parallelism.For((g.M + MR - 1) / MR, (long)MR * g.N * g.K, new RowBlocks(g));

    /// <summary>
    /// Whether the row-block kernels read B where it lies instead of from packed panels: B row-major (a k-step of a
    /// panel is 32 contiguous values, the next one a row of B further), and no panel narrower than a register but the
    /// 16 columns the half-width tile reads. The product dY·W of a Linear layer's input gradient (packing W copied the
    /// whole weight each call, on each thread) and dYᵀ·X of its weight gradient (X). Settable so that tests can take
    /// either path; the chains, and so the bits, are the same.
    /// </summary>
    /// <remarks>
    /// Measured on a Zen 4 core against packing (alternated in one process, medians of 30 windows of 50 products):
    /// dY2·W2 of the 784-256-256-10 MLP at batch 32 42.9 → 36.2 µs at one thread and 24.9 → 18.8 at two; at batch 128
    /// 150.7 → 145.3 and 78.3 → 72.8. The batch-32 training step at one thread 428.3 → 421.1 µs.
    /// </remarks>
    internal static bool ReadBInPlace = true;

    /// <remarks>
    /// A last half panel (N = 32q + 16) is read in place only when every row block is whole (M a multiple of eight):
    /// only the half-width tile reads just its 16 columns, and a partial row block runs the full-width tile, which would
    /// read 16 values past each row of B, past the end of B's memory on its last row (a fault where that is a page's end).
    /// </remarks>
    internal static bool BInPlace(in GemmProblem<float> g) =>
        ReadBInPlace && g.CsB == 1 && (g.N % NR == 0 || (g.N % NR == W && g.M % MR == 0));

    /// <summary>Row blocks [b0, b1) of C, with all of B packed into this thread's buffer first (or read in place).</summary>
    private readonly struct RowBlocks(GemmProblem<float> g) : Parallelism.IRangeBody
    {
        public void Run(int b0, int b1)
        {
            if (BInPlace(g))
            {
                Blocks(g, g.Bp, g.RsB, NR, b0 * MR, Math.Min(b1 * MR, g.M));
                return;
            }
            int panels = (g.N + NR - 1) / NR;
            float* bufB = GemmBuffers.PackB<float>((nint)g.K * panels * NR + 64);
            for (int q = 0; q < panels; q++)
            {
                int col = q * NR;
                PackB(g, col, Math.Min(NR, g.N - col), bufB + (nint)q * g.K * NR);
            }
            Blocks(g, bufB, NR, (nint)g.K * NR, b0 * MR, Math.Min(b1 * MR, g.M));
        }
    }

    /// <summary>
    /// Rows i0..m of C. Panel q of B starts at <paramref name="bufB"/> + q·<paramref name="panelStride"/>, and each of
    /// its k-steps (32 values, or the first 16 of the half-width tile) is <paramref name="ldb"/> after the one before:
    /// NR and K·NR for packed panels, B's row stride and NR for B read in place.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit] // the tile is fully written by the kernel before it is read
    private static void Blocks(in GemmProblem<float> g, float* bufB, nint ldb, nint panelStride, int i0, int m)
    {
        int n = g.N, k = g.K;
        int panels = (n + NR - 1) / NR;
        bool rows = g.CsA == 1;
        float* bufA = rows ? null : GemmBuffers.PackA<float>((nint)k * MR + 64);
        float* tile = stackalloc float[MR * NR];
        nint rsC = g.RsC, csC = g.CsC;
        for (int i = i0; i < m; i += MR)
        {
            int mcur = Math.Min(MR, m - i);
            float* a = g.Ap + i * g.RsA;
            if (!rows)
            {
                if (mcur == MR && g.RsA == 1)
                    for (int p = 0; p < k; p++) Unsafe.CopyBlockUnaligned(bufA + p * MR, a + p * g.CsA, MR * sizeof(float));
                else Packing.Strided(a, g.RsA, g.CsA, mcur, k, bufA, MR);
            }
            for (int q = 0; q < panels; q++)
            {
                int j = q * NR, ncur = Math.Min(NR, n - j);
                float* b = bufB + q * panelStride;
                float* c = g.Cp + i * rsC + j * csC;
                // A last panel at most one register wide (784 = 24·32 + 16 columns) runs a half-width tile: no
                // multiply-adds on the padding, and stored in place when it is a whole register.
                bool half = ncur <= W && mcur == MR;
                bool direct = mcur == MR && (ncur == NR || (half && ncur == W)) && csC == 1;
                float* dst = direct ? c : tile;
                nint ldd = direct ? rsC : NR;
                if (half) HalfKernel(k, rows ? a : bufA, rows ? g.RsA : 0, b, ldb, dst, ldd);
                else if (rows)
                {
                    if (mcur == MR) RowsKernel(k, a, g.RsA, b, ldb, dst, ldd);
                    else RowsKernelPartial(k, a, g.RsA, mcur, b, ldb, dst, ldd);
                }
                else MicroKernels.Mid<F32x16, Vector512<float>, float>(k, bufA, b, ldb, dst, ldd, false);
                if (!direct) Store(tile, c, rsC, csC, mcur, ncur);
            }
        }
    }

    /// <summary>Columns col..col+nr of B, all of k, into one panel: for each k, NR values (zero past nr).</summary>
    private static void PackB(in GemmProblem<float> g, int col, int nr, float* dst)
    {
        float* src = g.Bp + col * g.CsB;
        nint rs = g.RsB, cs = g.CsB;
        int k = g.K;
        if (cs == 1 && nr == NR)
        {
            for (int p = 0; p < k; p++) Unsafe.CopyBlockUnaligned(dst + p * NR, src + p * rs, NR * sizeof(float));
            return;
        }
        if (rs == 1 && Packing.Transposes<float>())
        {
            Packing.Transpose(src, cs, nr, k, dst, NR);
            return;
        }
        Packing.Strided(src, cs, rs, nr, k, dst, NR);
    }

    /// <summary>A tile computed into the buffer, into C: row by row, through 8 × 8 register transposes, or element by element.</summary>
    private static void Store(float* tile, float* c, nint rsC, nint csC, int mcur, int ncur)
    {
        if (csC == 1)
        {
            for (int r = 0; r < mcur; r++) Unsafe.CopyBlockUnaligned(c + r * rsC, tile + r * NR, (uint)(ncur * sizeof(float)));
            return;
        }
        if (rsC == 1 && mcur == MR && ncur == NR && Packing.Transposes<float>())
        {
            for (int j0 = 0; j0 < NR; j0 += 8) Packing.Block(tile + j0, NR, c + j0 * csC, csC);
            return;
        }
        for (int r = 0; r < mcur; r++)
            for (int j = 0; j < ncur; j++) c[r * rsC + j * csC] = tile[r * NR + j];
    }

    /// <summary>
    /// An 8 × 32 tile of C from eight rows of A read in place (row r at <c>a + r·lda</c>, contiguous in k) and a B
    /// panel whose k-steps are <paramref name="ldb"/> apart (packed, or B's own rows): each k-step broadcasts one element
    /// of each row straight from memory, so A is never transposed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowsKernel(int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc)
    {
        float* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
        float* a4 = a + 4 * lda, a5 = a + 5 * lda, a6 = a + 6 * lda, a7 = a + 7 * lda;
        Vector512<float> l0 = default, r0 = default, l1 = default, r1 = default, l2 = default, r2 = default, l3 = default, r3 = default;
        Vector512<float> l4 = default, r4 = default, l5 = default, r5 = default, l6 = default, r6 = default, l7 = default, r7 = default;
        for (int p = 0; p < k; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + W);
            Vector512<float> s;
            s = Vector512.Create(a0[p]); l0 = Vector512.FusedMultiplyAdd(s, b0, l0); r0 = Vector512.FusedMultiplyAdd(s, b1, r0);
            s = Vector512.Create(a1[p]); l1 = Vector512.FusedMultiplyAdd(s, b0, l1); r1 = Vector512.FusedMultiplyAdd(s, b1, r1);
            s = Vector512.Create(a2[p]); l2 = Vector512.FusedMultiplyAdd(s, b0, l2); r2 = Vector512.FusedMultiplyAdd(s, b1, r2);
            s = Vector512.Create(a3[p]); l3 = Vector512.FusedMultiplyAdd(s, b0, l3); r3 = Vector512.FusedMultiplyAdd(s, b1, r3);
            s = Vector512.Create(a4[p]); l4 = Vector512.FusedMultiplyAdd(s, b0, l4); r4 = Vector512.FusedMultiplyAdd(s, b1, r4);
            s = Vector512.Create(a5[p]); l5 = Vector512.FusedMultiplyAdd(s, b0, l5); r5 = Vector512.FusedMultiplyAdd(s, b1, r5);
            s = Vector512.Create(a6[p]); l6 = Vector512.FusedMultiplyAdd(s, b0, l6); r6 = Vector512.FusedMultiplyAdd(s, b1, r6);
            s = Vector512.Create(a7[p]); l7 = Vector512.FusedMultiplyAdd(s, b0, l7); r7 = Vector512.FusedMultiplyAdd(s, b1, r7);
            b += ldb;
        }
        l0.Store(c); r0.Store(c + W); c += ldc;
        l1.Store(c); r1.Store(c + W); c += ldc;
        l2.Store(c); r2.Store(c + W); c += ldc;
        l3.Store(c); r3.Store(c + W); c += ldc;
        l4.Store(c); r4.Store(c + W); c += ldc;
        l5.Store(c); r5.Store(c + W); c += ldc;
        l6.Store(c); r6.Store(c + W); c += ldc;
        l7.Store(c); r7.Store(c + W);
    }

    /// <summary>
    /// An 8 × 16 tile of C against the first register of a B panel whose k-steps are <paramref name="ldb"/> apart
    /// (packed, NR wide with its second half padding, or B's own rows, whose last 16 columns it reads): eight
    /// rows of A read in place (row r at <c>a + r·lda</c>) or, with <paramref name="lda"/> = 0, from a packed A panel
    /// (eight values per k-step). Each output is the same fused multiply-add chain over k from zero as in the full tile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void HalfKernel(int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc)
    {
        // Packed: row r's k-th value at a + 8k + r; in place: at a + r·lda + k.
        nint step = lda == 0 ? MR : 1, row = lda == 0 ? 1 : lda;
        float* a0 = a, a1 = a + row, a2 = a + 2 * row, a3 = a + 3 * row;
        float* a4 = a + 4 * row, a5 = a + 5 * row, a6 = a + 6 * row, a7 = a + 7 * row;
        Vector512<float> l0 = default, l1 = default, l2 = default, l3 = default, l4 = default, l5 = default, l6 = default, l7 = default;
        for (nint p = 0, q = 0; p < k; p++, q += step)
        {
            var b0 = Vector512.Load(b);
            l0 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[q]), b0, l0);
            l1 = Vector512.FusedMultiplyAdd(Vector512.Create(a1[q]), b0, l1);
            l2 = Vector512.FusedMultiplyAdd(Vector512.Create(a2[q]), b0, l2);
            l3 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[q]), b0, l3);
            l4 = Vector512.FusedMultiplyAdd(Vector512.Create(a4[q]), b0, l4);
            l5 = Vector512.FusedMultiplyAdd(Vector512.Create(a5[q]), b0, l5);
            l6 = Vector512.FusedMultiplyAdd(Vector512.Create(a6[q]), b0, l6);
            l7 = Vector512.FusedMultiplyAdd(Vector512.Create(a7[q]), b0, l7);
            b += ldb;
        }
        l0.Store(c); c += ldc;
        l1.Store(c); c += ldc;
        l2.Store(c); c += ldc;
        l3.Store(c); c += ldc;
        l4.Store(c); c += ldc;
        l5.Store(c); c += ldc;
        l6.Store(c); c += ldc;
        l7.Store(c);
    }

    /// <summary>The last, partial row block (fewer than eight rows): transposed into a zero-padded panel.</summary>
    private static void RowsKernelPartial(int k, float* a, nint lda, int rows, float* b, nint ldb, float* c, nint ldc)
    {
        float* buf = GemmBuffers.PackA<float>((nint)k * MR + 64);
        Packing.Transpose(a, lda, rows, k, buf, MR);
        MicroKernels.Mid<F32x16, Vector512<float>, float>(k, buf, b, ldb, c, ldc, false);
    }
}
