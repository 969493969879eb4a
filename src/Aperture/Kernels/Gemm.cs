using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Aperture;

/// <summary>
/// C = A·B over raw strided memory: element (i, j) of X is <c>X[i*Rs + j*Cs]</c>; strides may be negative.
/// Transposing a problem (computing Cᵀ = Bᵀ·Aᵀ) and reversing its k order are stride changes, free of copies.
/// </summary>
internal readonly unsafe struct GemmProblem<T> where T : unmanaged
{
    public readonly nint A, B, C;
    public readonly nint RsA, CsA, RsB, CsB, RsC, CsC;
    public readonly int M, N, K;

    public GemmProblem(T* a, nint rsA, nint csA, T* b, nint rsB, nint csB, T* c, nint rsC, nint csC, int m, int n, int k)
    {
        A = (nint)a; B = (nint)b; C = (nint)c;
        RsA = rsA; CsA = csA; RsB = rsB; CsB = csB; RsC = rsC; CsC = csC;
        M = m; N = n; K = k;
    }

    public T* Ap => (T*)A;
    public T* Bp => (T*)B;
    public T* Cp => (T*)C;

    /// <summary>Cᵀ = Bᵀ·Aᵀ: the same products and the same k order for every output.</summary>
    public GemmProblem<T> Transposed() => new((T*)B, CsB, RsB, (T*)A, CsA, RsA, (T*)C, CsC, RsC, N, M, K);

    /// <summary>The same outputs with k running from K−1 down to 0.</summary>
    public GemmProblem<T> KReversed() => K == 0 ? this
        : new((T*)A + (K - 1) * CsA, RsA, -CsA, (T*)B + (K - 1) * RsB, -RsB, CsB, (T*)C, RsC, CsC, M, N, K);
}

/// <summary>A register tile shape and its micro-kernel.</summary>
internal interface ITile<T> where T : unmanaged
{
    static abstract int MR { get; }
    static abstract int NR { get; }
    static abstract unsafe void Run(int kc, T* a, T* b, T* c, nint ldc, bool load);
}

internal readonly struct MidTile<V, TV, T> : ITile<T> where V : IVec<TV, T> where TV : struct where T : unmanaged
{
    public static int MR => 8;
    public static int NR => 2 * V.Width;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Run(int kc, T* a, T* b, T* c, nint ldc, bool load) => MicroKernels.Mid<V, TV, T>(kc, a, b, 2 * V.Width, c, ldc, load);
}

internal readonly struct ShortTile<V, TV, T> : ITile<T> where V : IVec<TV, T> where TV : struct where T : unmanaged
{
    public static int MR => 6;
    public static int NR => 2 * V.Width;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Run(int kc, T* a, T* b, T* c, nint ldc, bool load) => MicroKernels.Short<V, TV, T>(kc, a, b, c, ldc, load);
}

/// <summary>Cache blocking of the packed matmul (elements, per dtype size); settable so they can be tuned by measurement.</summary>
internal static class GemmBlocking
{
    /// <summary>
    /// Greatest depth of a packed panel. Measured on a Zen 4 core (8×32 float tile): 384–512 best, 192 about 10%
    /// slower; the kc×NR panel of B (48 KiB at 384) is read from L2 fast enough at one 512-bit FMA per cycle.
    /// On a Zen 5 core (two 512-bit FMAs per cycle, L1D 48 KiB, L2 1 MiB), CPU time of n = 512–2048 products:
    /// 256–512 within the noise (about 5%), 192 about 4% slower; the panel of B does not stay in L1 beside the
    /// streamed A, and L2 still feeds the kernel at about 90% of the FMA peak. Measured again by thread CPU time
    /// (90th percentile of 80 interleaved single-product windows): kc = 384, 448, 512 (mc 96–192) and kc = K = 1024
    /// (one k-block, no reload of C; mc 48 and 96) all within 2% at n = 1024 and 2048.
    /// </summary>
    public static int Kc = 384;
    /// <summary>Rows of A packed at once (kept in L2), rounded to the tile height. On Zen 5, 96–384 measured alike.</summary>
    public static int Mc = 192;
    /// <summary>Columns of B packed at once (kept in L3), rounded to the tile width.</summary>
    public static int Nc = 2048;
    /// <summary>
    /// Multiply-adds (m·n·k) up to which the product is done without packing, when B also fits in L2
    /// (<see cref="DirectMaxB"/>). Measured: unpacked is faster up to about 128³ when B is cache-resident.
    /// </summary>
    public static long DirectMaxWork = 128 * 128 * 128;
    /// <summary>Elements of B (k·n) up to which the unpacked product keeps B in cache.</summary>
    public static long DirectMaxB = 1 << 15;
    /// <summary>
    /// A thin, long C (shorter side at most this, longer side at least <see cref="DirectMinLong"/>) is done without
    /// packing, whatever its size: with so few rows every element of the long operand serves one or two register
    /// tiles, so packing it is a copy that saves nothing. On LeNet's convolution products (listed by the bench's
    /// <c>--profile</c>) this took 6 × 25 · 25 × 10192 from about 10–20 to about 60 GFLOP/s and the 16-row ones about
    /// 20% faster; a C that is small both ways (6 × 25 over k = 10192) stays packed, which measured faster there.
    /// </summary>
    public static int DirectMaxThin = 16;
    /// <summary>See <see cref="DirectMaxThin"/>.</summary>
    public static int DirectMinLong = 64;
    /// <summary>Multiply-adds below which a product runs on one thread.</summary>
    public static long ParallelMinWork = 64 * 64 * 64;
    /// <summary>
    /// Multiply-adds (padded columns included) below which an unpacked product runs on one thread. Its operands
    /// are small and were just written by the calling thread, so a second core must first pull A, B and its half
    /// of C across: in the bench's SGLD step (eleven 100 × 50 · 50 × 50 products, 320k multiply-adds padded, about
    /// 5 µs each) every split cost about 8 µs more than it saved, and the step ran at 4.4k steps/s on two threads
    /// against 9.3k on one.
    /// </summary>
    public static long DirectParallelMinWork = 1 << 20;
    /// <summary>
    /// Largest packed slab of B (bytes) that the threads share when they split the rows: B is packed and consumed
    /// in column slabs of at most this size, which the calling thread's kept buffer holds.
    /// </summary>
    public static long SharedMaxBytes = GemmBuffers.KeepBytes;
    /// <summary>Whether thin products take the packing-free path (<see cref="ThinGemm"/>); off forces the packed path.</summary>
    public static bool Thin = true;
    /// <summary>
    /// Whether an unpacked product whose C is at most one register wide, or its transpose, against a B with columns
    /// contiguous in k (X·Wᵀ with few outputs) packs the narrow operand (<c>GemmDirect.NarrowColumns</c>); off gathers
    /// the wide one whole into row order first.
    /// </summary>
    public static bool Narrow = true;
}

/// <summary>
/// The packed, cache-blocked matmul (after Goto and van de Geijn): B is packed into kc×NR panels, A into kc×MR panels,
/// and the micro-kernel runs over tiles of C. A k-block after the first reloads C into the accumulators and keeps
/// going, so each output is still one fused multiply-add chain over k in order, whatever the blocking, the tile
/// shape, the vector width or the thread count.
/// </summary>
/// <remarks>
/// Where the time of a one-thread 1024³ float product goes on a Zen 5 core (thread CPU time, 90th percentile of
/// 80–100 interleaved single-product windows on a loaded machine, so a few percent apart at best): the kernel with
/// its operands in L1, 229 GFLOP/s (the FMA peak); the same calls over an L2-resident A block, L3-resident B panels
/// and a C tile in L1, 221; with the real C (rows 4 KiB apart), 212–216; the whole product, 184–189. Skipping the
/// packing of A (reading stale panels, timing only) gained 4–5%, of B 3–4% (packed panel by panel, before B was
/// packed row by row), of both 8%; dropping the C-tile prefetch
/// cost 3%. What did not help there: packing each B panel just before its first tile, so its first use finds it in
/// L1 (as OpenBLAS's driver does); software prefetch of B's rows a dozen ahead in the panel-by-panel packing, or of
/// the next A panel's source rows before each panel is packed; packing a column-contiguous A row by row across its
/// panels (2–4% slower than panel by panel: two panels share each 64-byte line). A product with a column-contiguous
/// A (Aᵀ·B of row-major operands) ran about 10% slower than the row-major one at n = 1024–2048 (not
/// reproduced since; below).
/// <para>
/// Tried since, on a Zen 5 core (thread CPU time, one thread, variants interleaved window by window, best and median
/// of 8–16 windows of about 60 ms on a loaded machine, so about ±3% apart at best), none of it kept:
/// huge pages for the packed buffers (2 MiB-aligned native memory with <c>madvise(MADV_HUGEPAGE)</c>, THP in
/// "madvise" mode; /proc/self/smaps_rollup showed the 6 MiB of packed A and B in huge pages): n = 1024, 2048, Aᵀ·B at
/// 2048 and the 256 × 1024 · 1024 × 1024 and 1024 × 256 · 256 × 1024 products all within ±1.5%, no sign either way;
/// the operands themselves in huge pages, no change beyond the run-to-run spread. Few pages are in play at once (an
/// A block is 72 pages, a B panel 12, a C tile 8), well within the second-level TLB. Packing A inside the kernel of
/// each panel's first tile (A broadcast from its source, the packed panel stored as the kernel goes; the JIT's loop
/// was clean: one load, one store, one register broadcast per row and k): 1–2% slower at n = 512–2048 and on Aᵀ·B,
/// so the separate pass costs little beyond the source reads, which the fused kernel still has to wait on. A
/// software prefetch 4, 8 or 16 k-steps ahead when packing a column-contiguous A (rows 4–8 KiB apart): within ±2%.
/// The Aᵀ·B lead did not reproduce: interleaved product by product, Aᵀ·B ran within 1–2% of A·B at n = 1024 (187
/// against 190 GFLOP/s, best of 16 windows) and 2048 (198 against 200). For wide-mlp's m = 256 products, an mc
/// covering all of m (256) and kc = k = 1024 (C never reloaded) were within the spread of mc = 192, kc = 384 on the
/// packed path; the thin path (<see cref="ThinGemm"/>) was 3–6% faster than the packed one on X·Wᵀ (256 × 784 and
/// 256 × 1024 by 1024) and level on dY·W, and the packed path 1–5% faster on the weight gradients dYᵀ·X, which now
/// take it.
/// </para>
/// </remarks>
internal static unsafe class Gemm<T, K> where T : unmanaged where K : ITile<T>
{
    /// <summary>Runs the whole product, on several threads when it is large enough.</summary>
    public static void Run(GemmProblem<T> g, ProductSplit split = ProductSplit.Any)
    {
        int mr = K.MR, nr = K.NR;
        int threads = (long)g.M * g.N * g.K >= GemmBlocking.ParallelMinWork && split != ProductSplit.None ? Parallelism.Threads : 1;
        int panelsM = (g.M + mr - 1) / mr, panelsN = (g.N + nr - 1) / nr;
        if (threads > 1 && (panelsM >= threads || panelsN >= threads)) Parallel(g, threads, panelsM, panelsN, split);
        else Region(g, 0, g.M, 0, g.N, null, 0);
    }

    /// <summary>The elements of B packed whole (<see cref="PackWholeB"/>) for a k × n B: every k-block's row of panels.</summary>
    public static nint PackedBLength(int k, int n) => (nint)k * ((n + K.NR - 1) / K.NR * K.NR);

    /// <summary>The k-block depth <see cref="PackWholeB"/> packs with now (a packed B is valid only while it is unchanged).</summary>
    public static int PackedDepth(int k) => KcFor(k);

    /// <summary>
    /// Packs all of g's B into <paramref name="dst"/> (<see cref="PackedBLength"/> elements, 64-byte aligned) in the
    /// layout <see cref="Region"/> reads a shared B in: k-block after k-block, each a row of kc×NR panels over the
    /// padded width. Only B is read.
    /// </summary>
    public static void PackWholeB(in GemmProblem<T> g, T* dst)
    {
        int nr = K.NR, kc = KcFor(g.K);
        int panels = (g.N + nr - 1) / nr, kBlocks = (g.K + kc - 1) / kc;
        new PackBBody(g, kc, 0, panels, panels * nr, dst).Run(0, kBlocks * panels);
    }

    /// <summary>
    /// The product on the calling thread with B already packed whole by <see cref="PackWholeB"/> (at the same k-block
    /// depth): the same kernel calls, and so the same chains and bits, as <see cref="Run"/>, without packing B.
    /// </summary>
    public static void RunPackedB(in GemmProblem<T> g, T* packedB)
    {
        int nr = K.NR;
        Region(g, 0, g.M, 0, g.N, packedB, (g.N + nr - 1) / nr * nr);
    }

    /// <summary>Whether <see cref="Run"/> keeps this product on the calling thread.</summary>
    public static bool RunsOnOneThread(in GemmProblem<T> g)
    {
        int threads = (long)g.M * g.N * g.K >= GemmBlocking.ParallelMinWork ? Parallelism.Threads : 1;
        return threads <= 1 || ((g.M + K.MR - 1) / K.MR < threads && (g.N + K.NR - 1) / K.NR < threads);
    }

    private static void Parallel(GemmProblem<T> g, int threads, int panelsM, int panelsN, ProductSplit split)
    {
        int mr = K.MR, nr = K.NR;
        // The rows are cut by default when C is at least as tall as it is wide, unless B outgrows one shared slab:
        // then each slab costs two loops of the pool, and each core reads the panels the other packed, where the
        // columns give each thread its own B at the cost of packing all of A on both. Measured on the 2-core Zen 5
        // machine (the two rules alternated in windows of 4 products in one process): 2048² 1.4–5% faster in wall
        // time, 1536² 0.6–3.2%; 1024² (B in one slab) was within ±1.5% either way, and keeps the rows.
        bool slabbed = (long)g.K * panelsN * nr * sizeof(T) > GemmBlocking.SharedMaxBytes;
        bool rowsByDefault = panelsM >= threads && (panelsN < threads || (g.M >= g.N && !slabbed));
        if (split.CutsRows(rowsByDefault, panelsM, panelsN, threads))
        {
            // Split the rows; B is packed once, by all threads, and shared. It is packed a slab of columns at a
            // time, each slab no larger than the kept shared buffer, so a large B (2048 × 2048 floats is 16 MiB)
            // neither allocates a buffer per call nor is packed far ahead of its use.
            int kc = KcFor(g.K);
            int kBlocks = (g.K + kc - 1) / kc;
            long slabElems = Math.Max(1, GemmBlocking.SharedMaxBytes / sizeof(T));
            int slabPanels = (int)Math.Clamp(slabElems / ((long)g.K * nr), 1, panelsN);
            // Equal slabs (as with kc): a remainder of one narrow slab would cost a fork and join for little work.
            int slabs = (panelsN + slabPanels - 1) / slabPanels;
            slabPanels = (panelsN + slabs - 1) / slabs;
            nint fullB = (nint)GemmBuffers.Shared<T>((nint)g.K * slabPanels * nr, out var owner);
            for (int q0 = 0; q0 < panelsN; q0 += slabPanels)
            {
                int panels = Math.Min(slabPanels, panelsN - q0);
                int j0 = q0 * nr, j1 = Math.Min(g.N, (q0 + panels) * nr), npad = panels * nr;
                Parallelism.For(kBlocks * panels, (long)kc * nr, new PackBBody(g, kc, j0, panels, npad, (T*)fullB));
                Parallelism.For(panelsM, (long)mr * (j1 - j0) * g.K, new RowPanelsBody(g, j0, j1, (T*)fullB, npad));
            }
            GC.KeepAlive(owner);
        }
        else
        {
            // Split the columns; each thread packs its own B columns and all of (the small) A.
            Parallelism.For(panelsN, (long)nr * g.M * g.K, new ColumnPanelsBody(g));
        }
    }

    /// <summary>Packs k-block × column-panel items of the slab of B from column <c>j0</c> into the shared buffer.</summary>
    private readonly struct PackBBody(GemmProblem<T> g, int kc, int j0, int panels, int npad, T* fullB) : Parallelism.IRangeBody
    {
        public void Run(int i0, int i1)
        {
            int nr = K.NR;
            for (int i = i0; i < i1; i++)
            {
                int blk = i / panels, q = i % panels;
                int pc = blk * kc, kcur = Math.Min(kc, g.K - pc);
                T* dst = fullB + (nint)pc * npad + (nint)q * kcur * nr;
                int col = j0 + q * nr;
                PackBPanel(g, pc, kcur, col, Math.Min(nr, g.N - col), dst);
            }
        }
    }

    private readonly struct RowPanelsBody(GemmProblem<T> g, int n0, int n1, T* fullB, int npad) : Parallelism.IRangeBody
    {
        public void Run(int p0, int p1) => Region(g, p0 * K.MR, Math.Min(p1 * K.MR, g.M), n0, n1, fullB, npad);
    }

    private readonly struct ColumnPanelsBody(GemmProblem<T> g) : Parallelism.IRangeBody
    {
        public void Run(int q0, int q1) => Region(g, 0, g.M, q0 * K.NR, Math.Min(q1 * K.NR, g.N), null, 0);
    }

    /// <summary>
    /// The k-block depth: at most <see cref="GemmBlocking.Kc"/>, with the blocks of K made equal (784 = 2 × 392, not
    /// 384 + 384 + 16), since every block after the first costs a reload of C. The same kc suits both dtypes: NR
    /// halves for float64, so a kc×NR panel keeps its size in bytes.
    /// </summary>
    private static int KcFor(int k)
    {
        int max = Math.Max(1, GemmBlocking.Kc);
        int blocks = (k + max - 1) / max;
        return Math.Max(1, (k + blocks - 1) / blocks);
    }

    /// <summary>
    /// C[m0..m1, n0..n1] on this thread. <paramref name="fullB"/>, when given, holds columns n0..n1 of B already
    /// packed (k-block after k-block, each a row of kc×NR panels over <paramref name="npad"/> columns).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit] // the tile buffer is cleared or fully written before it is read
    private static void Region(in GemmProblem<T> g, int m0, int m1, int n0, int n1, T* fullB, int npad)
    {
        int mr = K.MR, nr = K.NR;
        int kc = KcFor(g.K);
        int mcMax = Math.Max(mr, GemmBlocking.Mc / mr * mr);
        int ncMax = Math.Max(nr, GemmBlocking.Nc / nr * nr);
        T* bufA = GemmBuffers.PackA<T>((nint)mcMax * kc + 64);
        T* bufB = fullB is null ? GemmBuffers.PackB<T>((nint)ncMax * kc + 64) : null;
        T* tile = stackalloc T[mr * nr];
        T* c = g.Cp;
        nint rsC = g.RsC, csC = g.CsC;
        // A column-contiguous C (the driver transposed the problem to fill the register tile) moves whole tiles
        // through register-block transposes instead of element by element.
        bool columnTiles = rsC == 1 && csC != 1 && Packing.Transposes<T>() && mr % BlockSide == 0 && nr % BlockSide == 0;
        for (int jc = n0; jc < n1; jc += ncMax)
        {
            int nc = Math.Min(ncMax, n1 - jc);
            for (int pc = 0; pc < g.K; pc += kc)
            {
                int kcur = Math.Min(kc, g.K - pc);
                bool load = pc > 0;
                T* pb;
                if (fullB is not null) pb = fullB + (nint)pc * npad + (nint)((jc - n0) / nr) * kcur * nr;
                else
                {
                    pb = bufB;
                    PackBBlock(g, pc, kcur, jc, nc, bufB);
                }
                for (int ic = m0; ic < m1; ic += mcMax)
                {
                    int mc = Math.Min(mcMax, m1 - ic);
                    for (int ir = 0; ir < mc; ir += mr)
                        PackAPanel(g, ic + ir, Math.Min(mr, mc - ir), pc, kcur, bufA + (nint)(ir / mr) * kcur * mr);
                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        int ncur = Math.Min(nr, nc - jr);
                        T* b = pb + (nint)(jr / nr) * kcur * nr;
                        for (int ir = 0; ir < mc; ir += mr)
                        {
                            int mcur = Math.Min(mr, mc - ir);
                            T* a = bufA + (nint)(ir / mr) * kcur * mr;
                            T* ct = c + (ic + ir) * rsC + (jc + jr) * csC;
                            // The tile after this one, while this one runs (see PrefetchTile).
                            if (csC == 1)
                            {
                                if (ir + mr < mc) PrefetchTile(ct + mr * rsC, rsC, Math.Min(mr, mc - ir - mr));
                                else if (jr + nr < nc) PrefetchTile(c + ic * rsC + (jc + jr + nr), rsC, Math.Min(mr, mc));
                            }
                            if (mcur == mr && ncur == nr && csC == 1) K.Run(kcur, a, b, ct, rsC, load);
                            else if (mcur == mr && ncur == nr && columnTiles) ColumnTile(kcur, a, b, ct, csC, load, tile);
                            else EdgeTile(kcur, a, b, ct, rsC, csC, mcur, ncur, load, tile);
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Asks for the rows of a row-major tile of C to be brought into cache. C is read (a k-block after the first) and
    /// written at the start and end of each kernel call, and its rows lie a whole row of C apart, a pattern the
    /// hardware prefetchers do not follow: once C outgrows L2 (n ≥ 1024 floats) each call would otherwise wait on
    /// up to 16 lines from L3. Issued one tile ahead, the loads overlap the current tile's kc steps. Measured on a
    /// Zen 5 core (CPU time, one thread, interleaved, 40–60 products each): n = 1024 and 2048 about 3–5% faster in
    /// median and quartile. Moves no value, so no result changes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchTile(T* c, nint rsC, int rows)
    {
        if (!Sse.IsSupported) return;
        int last = K.NR * sizeof(T) - 1;
        for (int r = 0; r < rows; r++)
        {
            byte* row = (byte*)(c + r * rsC);
            // The first, second and last byte: a row of 32 floats spans two lines, three when C is not 64-byte aligned.
            Sse.Prefetch0(row);
            Sse.Prefetch0(row + 64);
            Sse.Prefetch0(row + last);
        }
    }

    /// <summary>The side of <see cref="Packing.Block{T}"/>'s register block: 8 floats or 4 doubles.</summary>
    private static int BlockSide => 32 / sizeof(T);

    /// <summary>
    /// A whole tile of a column-contiguous C (element (i, j) at <c>c[i + j·csC]</c>): the kernel runs on a row-major
    /// copy, moved in and out a register block at a time. Only moves values, so the chains are those of every path.
    /// </summary>
    private static void ColumnTile(int kc, T* a, T* b, T* c, nint csC, bool load, T* tile)
    {
        int mr = K.MR, nr = K.NR, s = BlockSide;
        if (load)
            for (int i0 = 0; i0 < mr; i0 += s)
                for (int j0 = 0; j0 < nr; j0 += s)
                    Packing.Block(c + i0 + j0 * csC, csC, tile + i0 * nr + j0, nr);
        K.Run(kc, a, b, tile, nr, load);
        for (int i0 = 0; i0 < mr; i0 += s)
            for (int j0 = 0; j0 < nr; j0 += s)
                Packing.Block(tile + i0 * nr + j0, nr, c + i0 + j0 * csC, csC);
    }

    /// <summary>A partial tile, or one of a C that is not row-contiguous: run the kernel on a copy (a row-major C row by row).</summary>
    private static void EdgeTile(int kc, T* a, T* b, T* c, nint rsC, nint csC, int mcur, int ncur, bool load, T* tile)
    {
        int nr = K.NR;
        // Walk C along its contiguous direction (rows of Cᵀ are columns of C).
        bool byColumn = rsC == 1;
        if (load)
        {
            new Span<T>(tile, K.MR * nr).Clear();
            if (byColumn)
                for (int j = 0; j < ncur; j++)
                    for (int i = 0; i < mcur; i++) tile[i * nr + j] = c[i + j * csC];
            else if (csC == 1)
                for (int i = 0; i < mcur; i++) Unsafe.CopyBlockUnaligned(tile + i * nr, c + i * rsC, (uint)(ncur * sizeof(T)));
            else
                for (int i = 0; i < mcur; i++)
                    for (int j = 0; j < ncur; j++) tile[i * nr + j] = c[i * rsC + j * csC];
        }
        K.Run(kc, a, b, tile, nr, load);
        if (csC == 1 && !byColumn)
            for (int i = 0; i < mcur; i++) Unsafe.CopyBlockUnaligned(c + i * rsC, tile + i * nr, (uint)(ncur * sizeof(T)));
        else if (byColumn)
            for (int j = 0; j < ncur; j++)
                for (int i = 0; i < mcur; i++) c[i + j * csC] = tile[i * nr + j];
        else
            for (int i = 0; i < mcur; i++)
                for (int j = 0; j < ncur; j++) c[i * rsC + j * csC] = tile[i * nr + j];
    }

    /// <summary>Rows row0..row0+mr of A, k = pc..pc+kc, into one panel: for each k, MR values (zero past mr).</summary>
    /// <remarks>May write up to 7 elements past the panel's end (the next panel, packed after it, or the buffer's slack).</remarks>
    private static void PackAPanel(in GemmProblem<T> g, int row0, int mr, int pc, int kc, T* dst)
    {
        int MR = K.MR;
        T* src = g.Ap + row0 * g.RsA + pc * g.CsA;
        nint rs = g.RsA, cs = g.CsA;
        if (rs == 1 && mr == MR)
        {
            for (int p = 0; p < kc; p++) Unsafe.CopyBlockUnaligned(dst + p * MR, src + p * cs, (uint)(MR * sizeof(T)));
            return;
        }
        if (cs == 1 && Packing.Transposes<T>())
        {
            Packing.Transpose(src, rs, mr, kc, dst, MR);
            return;
        }
        Packing.Strided(src, rs, cs, mr, kc, dst, MR);
    }

    /// <summary>
    /// Columns col0..col0+nc of B, k = pc..pc+kc, into consecutive kc×NR panels. A row-contiguous B is packed row
    /// by row across all its whole panels, so each source row is read once front to back, instead of panel by panel,
    /// which reads one NR-wide strip of every row per panel and so steps to a new page at every k once a row of B
    /// spans 4 KiB (n ≥ 1024 floats), where the hardware prefetchers do not follow. Measured on a Zen 5 core (thread
    /// CPU time, one thread, interleaved with the panel-by-panel order, 90th percentile over 24–120 single-product
    /// windows, five runs): n = 1024 and 2048 products 0.5–2% faster, every run; packing B costs about 3–4% there
    /// in all (measured by skipping it). Software prefetch of the rows ahead in the panel-by-panel order gained
    /// nothing. A partial last panel is packed on its own. Moves values only.
    /// </summary>
    private static void PackBBlock(in GemmProblem<T> g, int pc, int kc, int col0, int nc, T* dst)
    {
        int NR = K.NR;
        int full = g.CsB == 1 ? nc / NR : 0;
        if (full > 0)
        {
            T* src = g.Bp + pc * g.RsB + col0;
            nint rs = g.RsB, panel = (nint)kc * NR;
            for (int p = 0; p < kc; p++)
            {
                T* s = src + p * rs, d = dst + p * NR;
                for (int q = 0; q < full; q++) Unsafe.CopyBlockUnaligned(d + q * panel, s + q * NR, (uint)(NR * sizeof(T)));
            }
        }
        for (int jr = full * NR; jr < nc; jr += NR)
            PackBPanel(g, pc, kc, col0 + jr, Math.Min(NR, nc - jr), dst + (nint)(jr / NR) * kc * NR);
    }

    /// <summary>Columns col0..col0+nr of B, k = pc..pc+kc, into one panel: for each k, NR values (zero past nr).</summary>
    private static void PackBPanel(in GemmProblem<T> g, int pc, int kc, int col0, int nr, T* dst)
    {
        int NR = K.NR;
        T* src = g.Bp + pc * g.RsB + col0 * g.CsB;
        nint rs = g.RsB, cs = g.CsB;
        if (cs == 1 && nr == NR)
        {
            for (int p = 0; p < kc; p++) Unsafe.CopyBlockUnaligned(dst + p * NR, src + p * rs, (uint)(NR * sizeof(T)));
            return;
        }
        if (cs == 1)
        {
            Packing.ContiguousRows(src, rs, nr, kc, dst, NR);
            return;
        }
        // NR is a whole number of 8-float (4-double) blocks, so the transpose never writes past this panel.
        if (rs == 1 && Packing.Transposes<T>())
        {
            Packing.Transpose(src, cs, nr, kc, dst, NR);
            return;
        }
        Packing.Strided(src, cs, rs, nr, kc, dst, NR);
    }
}

/// <summary>
/// Per-thread packing buffers, 64-byte aligned (a misaligned panel costs 6–11%) and pinned so kernels can hold
/// raw pointers. They grow to the largest size asked for and are kept for the thread's life.
/// </summary>
internal static unsafe class GemmBuffers
{
    [ThreadStatic] private static byte[]? t_a;
    [ThreadStatic] private static byte[]? t_b;
    [ThreadStatic] private static byte[]? t_shared;
    [ThreadStatic] private static byte[]? t_direct;
    internal const long KeepBytes = 8 << 20;

    public static T* PackA<T>(nint count) where T : unmanaged => Get<T>(ref t_a, count);
    public static T* PackB<T>(nint count) where T : unmanaged => Get<T>(ref t_b, count);
    public static T* Direct<T>(nint count) where T : unmanaged => Get<T>(ref t_direct, count);

    /// <summary>
    /// A buffer shared with the pool's workers for one product. Up to 8 MiB it is kept for reuse; a larger one is
    /// allocated for this call only, and the caller keeps <paramref name="owner"/> alive while it uses the pointer.
    /// </summary>
    public static T* Shared<T>(nint count, out byte[] owner) where T : unmanaged
    {
        if ((long)count * sizeof(T) <= KeepBytes)
        {
            T* p = Get<T>(ref t_shared, count);
            owner = t_shared!;
            return p;
        }
        byte[]? fresh = null;
        T* q = Get<T>(ref fresh, count);
        owner = fresh!;
        return q;
    }

    private static T* Get<T>(ref byte[]? slot, nint count) where T : unmanaged
    {
        long bytes = (long)count * sizeof(T) + 64;
        if (bytes > Array.MaxLength) throw new OutOfMemoryException($"matmul: a packing buffer of {bytes} bytes is too large");
        var arr = slot;
        if (arr is null || arr.Length < bytes)
            slot = arr = GC.AllocateUninitializedArray<byte>((int)Math.Max(bytes, 4096), pinned: true);
        nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(arr));
        return (T*)((p + 63) & ~(nint)63);
    }
}
