using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aperture;

/// <summary>
/// The batch-1 product of a Linear layer over a transposed copy of its weight: y[j] = Σ_k x[k]·Wᵀ[k, j] (+ b[j]),
/// with Wᵀ stored by panels of 128 outputs, each [in, 128] row-major, so that a register holds 16 consecutive
/// outputs of one row. Each output is still the one fused multiply-add chain over k in increasing order, starting
/// from zero, that <see cref="Gemv"/> and the GEMM compute; the bias is added to the finished chain as the separate
/// bias pass adds it, and a following ReLU's maximum is taken in the same store, so the bits are the same.
/// </summary>
/// <remarks>
/// Without the 64 register shuffles per 256 multiply-adds of <see cref="Gemv"/>, one step of k is a broadcast of x[k]
/// and up to 8 independent FMAs (enough to cover the FMA latency at two a cycle) with their loads straight from one
/// contiguous 512-byte row of a panel; the product is then bound by reading the weight. A panel is contiguous, so a
/// thread that owns whole panels (<see cref="Range(float*, nint, float*, float*, float*, int, int, int, int, bool)"/>, <see cref="NN.LinearChain"/>) streams one block of memory and
/// shares no line of the weight with another core. The copy (<see cref="TransposedWeight"/>) is owned by a layer and
/// rebuilt when the weight changes.
/// <para>
/// At batch 1 the 784-256-256-10 MLP's three copies (1.08 MB) just exceed one Zen 5 core's 1 MB L2, so on one thread
/// each pass streams part of them from L3. Against the former [in, out] copy read 256 outputs at a time (16
/// accumulators), the panels cut the 784-input layer's time by about 13% and the three layers' by 8–12% (thread CPU
/// time, the two kernels interleaved in one process, median of 3,000 paired windows on a loaded Zen 5 machine); the
/// 256-input layers are unchanged. Tried earlier on that core and slower: running 128-output chunks of the [in, out]
/// copy in an order alternating from call to call, so that an LRU-like L2 would keep most of the copies (+1.7 µs:
/// half rows strided by a whole row cost it, and alternating won nothing; whole panels of the present copy, taken in
/// an order alternating from pass to pass, do save a little: <see cref="NN.LinearChain"/>); software prefetches 4–16 rows ahead into
/// L1 or L2 (+1.8 to +3 µs); non-temporal prefetches of the 784-input layer so it would not evict the others (+0.6
/// to +0.8 µs).
/// </para>
/// </remarks>
internal static unsafe class GemvTransposed
{
    /// <summary>Whether <see cref="Run"/> can run on the active code path (float32, AVX-512).</summary>
    public static bool Supported => KernelPaths.Active == KernelPath.Avx512 && Avx512F.IsSupported;

    /// <summary>
    /// Output vectors (of 16) per panel of the copy: the copy of an [n, k] weight is ⌈n / 128⌉ panels, each the
    /// [k, 128] slice of Wᵀ for 128 outputs (the last one narrower) stored contiguously, so a thread that owns whole
    /// panels streams contiguous memory and shares no cache line of the weight with another thread.
    /// </summary>
    public const int PanelVectors = 8;

    /// <summary>Output vectors of 16 floats for <paramref name="n"/> outputs.</summary>
    public static int Vectors(int n) => (n + 15) / 16;

    /// <summary>Floats in the transposed copy of an [n, k] weight (n rounded up to whole vectors, times k).</summary>
    public static long CopyLength(int n, int k) => (long)Vectors(n) * 16 * k;

    /// <summary>
    /// y[j] = Σ_k x[q·incX]·Wᵀ[q, j] (+ bias[j]) for j &lt; n, q ascending, over the panel copy <paramref name="wt"/>
    /// (<see cref="Transpose"/>), split by panels across threads when the product pays for waking a worker.
    /// </summary>
    public static void Run(float* x, nint incX, float* wt, float* bias, float* y, int n, int k, bool relu = false)
    {
        int vectors = Vectors(n);
        int panels = (vectors + PanelVectors - 1) / PanelVectors;
        var body = new Body(x, incX, wt, bias, y, n, k, vectors, relu);
        // As in Gemv: a product large enough to pay for waking a worker is split by outputs, each thread streaming
        // its own panels of the weight; the chains do not depend on the split.
        if (panels > 1 && Parallelism.Threads > 1 && (long)n * k >= Gemv.GemvParallelMinWork)
            Parallelism.For(panels, (long)PanelVectors * 16 * k, body);
        else body.Run(0, panels);
    }

    private readonly struct Body(float* x, nint incX, float* wt, float* bias, float* y, int n, int k, int vectors, bool relu)
        : Parallelism.IRangeBody
    {
        public void Run(int p0, int p1) =>
            Range(x, incX, wt, bias, y, n, k, p0 * PanelVectors, Math.Min(p1 * PanelVectors, vectors), relu);
    }

    /// <summary>
    /// Output vectors [v0, v1) (outputs [16·v0, min(16·v1, n))): y[j] = Σ_q x[q·incX]·Wᵀ[q, j], plus bias[j] when
    /// <paramref name="bias"/> is not null, then max(·, 0) when <paramref name="relu"/> (the maximum <see cref="Ops.Relu"/>
    /// takes, NaN and −0 included). Each output is one fused multiply-add chain over q ascending from zero.
    /// </summary>
    public static void Range(float* x, nint incX, float* wt, float* bias, float* y, int n, int k, int v0, int v1, bool relu) =>
        Range(x, incX, wt, bias, y, n, k, v0, v1, relu, 0, k, null);

    /// <summary>
    /// <see cref="Range(float*, nint, float*, float*, float*, int, int, int, int, bool)"/> over the stretch
    /// q ∈ [<paramref name="q0"/>, <paramref name="q1"/>) of each chain: from the partial sums in
    /// <paramref name="partial"/> (whole vectors, indexed as y) when q0 &gt; 0, and left there, not in y, when
    /// q1 &lt; k. A float32 stored and reloaded is unchanged, so a chain run in stretches has the bits of the chain
    /// run whole. With <paramref name="panelsBackward"/> the panels are taken last first; each output's chain is the
    /// same either way.
    /// </summary>
    public static void Range(float* x, nint incX, float* wt, float* bias, float* y, int n, int k, int v0, int v1, bool relu, int q0, int q1, float* partial, bool panelsBackward = false)
    {
        if (v0 >= v1) return;
        int vectors = Vectors(n);
        int firstPanel = v0 / PanelVectors, lastPanel = (v1 - 1) / PanelVectors;
        float* xs = x + q0 * incX;
        int length = q1 - q0;
        for (int i = 0; i <= lastPanel - firstPanel; i++)
        {
            int panel = panelsBackward ? lastPanel - i : firstPanel + i;
            int first = panel * PanelVectors;
            int width = Math.Min(PanelVectors, vectors - first) * 16;
            int start = Math.Max(v0, first), end = Math.Min(v1, first + PanelVectors);
            // Row q0 of the panel, at the first wanted column.
            float* p = wt + (long)first * 16 * k + (long)q0 * width + (start - first) * 16;
            if (q0 == 0 && q1 == k) Columns<Whole>(xs, incX, p, width, bias, y, n, length, start, end, relu, partial);
            else if (q0 == 0) Columns<Start>(xs, incX, p, width, bias, y, n, length, start, end, relu, partial);
            else if (q1 == k) Columns<End>(xs, incX, p, width, bias, y, n, length, start, end, relu, partial);
            else Columns<Middle>(xs, incX, p, width, bias, y, n, length, start, end, relu, partial);
        }
    }

    /// <summary>Output vectors [v0, v1) of one panel of row length <paramref name="ld"/>, starting at <paramref name="p"/>.</summary>
    private static void Columns<TS>(float* x, nint incX, float* p, nint ld, float* bias, float* y, int n, int k, int v0, int v1, bool relu, float* partial)
        where TS : struct, IStretch
    {
        int v = v0;
        if (v1 - v >= 8) { Chunk<W8, TS>(x, incX, p, ld, bias, y, n, k, v * 16, relu, partial); v += 8; p += 128; }
        if (v1 - v >= 4) { Chunk<W4, TS>(x, incX, p, ld, bias, y, n, k, v * 16, relu, partial); v += 4; p += 64; }
        if (v1 - v >= 2) { Chunk<W2, TS>(x, incX, p, ld, bias, y, n, k, v * 16, relu, partial); v += 2; p += 32; }
        if (v1 - v >= 1) Chunk<W1, TS>(x, incX, p, ld, bias, y, n, k, v * 16, relu, partial);
    }

    private interface IWidth { static abstract int V { get; } }
    private struct W1 : IWidth { public static int V => 1; }
    private struct W2 : IWidth { public static int V => 2; }
    private struct W4 : IWidth { public static int V => 4; }
    private struct W8 : IWidth { public static int V => 8; }

    /// <summary>Where a stretch of the chains starts (zero, or partial sums) and ends (finished in y, or partial sums).</summary>
    private interface IStretch
    {
        static abstract bool Resumes { get; }
        static abstract bool Finishes { get; }
    }

    private struct Whole : IStretch { public static bool Resumes => false; public static bool Finishes => true; }
    private struct Start : IStretch { public static bool Resumes => false; public static bool Finishes => false; }
    private struct Middle : IStretch { public static bool Resumes => true; public static bool Finishes => false; }
    private struct End : IStretch { public static bool Resumes => true; public static bool Finishes => true; }

    /// <summary>
    /// Outputs [col, col + 16·V) from the panel columns at <paramref name="p"/> (row length <paramref name="ld"/>):
    /// V accumulators, each the k-ordered chain of 16 outputs over <paramref name="k"/> inputs.
    /// </summary>
    /// <remarks>
    /// The stretch's kind is a type argument rather than a flag: with the partial sums' loads behind a run-time
    /// branch (and a call for a last vector past n) the whole chain ran 50–60% slower, its loop unchanged (a 784- and
    /// a 256-input product, one thread, the two kernels alternated in one process).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Chunk<TW, TS>(float* x, nint incX, float* p, nint ld, float* bias, float* y, int n, int k, int col, bool relu, float* partial)
        where TW : struct, IWidth where TS : struct, IStretch
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        if (TS.Resumes)
        {
            float* s = partial + col;
            a0 = Vector512.Load(s);
            if (TW.V > 1) a1 = Vector512.Load(s + 16);
            if (TW.V > 2) { a2 = Vector512.Load(s + 32); a3 = Vector512.Load(s + 48); }
            if (TW.V > 4) { a4 = Vector512.Load(s + 64); a5 = Vector512.Load(s + 80); a6 = Vector512.Load(s + 96); a7 = Vector512.Load(s + 112); }
        }
        float* xp = x;
        for (int i = 0; i < k; i++, p += ld, xp += incX)
        {
            var xv = Vector512.Create(*xp);
            a0 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p), a0);
            if (TW.V > 1) a1 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 16), a1);
            if (TW.V > 2)
            {
                a2 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 32), a2);
                a3 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 48), a3);
            }
            if (TW.V > 4)
            {
                a4 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 64), a4);
                a5 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 80), a5);
                a6 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 96), a6);
                a7 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 112), a7);
            }
        }
        if (!TS.Finishes)
        {
            float* s = partial + col;
            a0.Store(s);
            if (TW.V > 1) a1.Store(s + 16);
            if (TW.V > 2) { a2.Store(s + 32); a3.Store(s + 48); }
            if (TW.V > 4) { a4.Store(s + 64); a5.Store(s + 80); a6.Store(s + 96); a7.Store(s + 112); }
            return;
        }
        Store(a0, bias, y, n, col, relu);
        if (TW.V > 1) Store(a1, bias, y, n, col + 16, relu);
        if (TW.V > 2) { Store(a2, bias, y, n, col + 32, relu); Store(a3, bias, y, n, col + 48, relu); }
        if (TW.V > 4)
        {
            Store(a4, bias, y, n, col + 64, relu); Store(a5, bias, y, n, col + 80, relu);
            Store(a6, bias, y, n, col + 96, relu); Store(a7, bias, y, n, col + 112, relu);
        }
    }

    /// <summary>y[col …] = acc (+ bias), then max(·, 0) when <paramref name="relu"/>; the outputs past n dropped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector512<float> acc, float* bias, float* y, int n, int col, bool relu)
    {
        if (col + 16 <= n)
        {
            if (bias != null) acc = Avx512F.Add(acc, Vector512.Load(bias + col));
            // Vector512.Max is the IEEE 754 maximum that TensorPrimitives.Max (Relu's call) takes: NaN stays NaN and
            // max(−0, 0) is +0, so the bits are Relu's.
            if (relu) acc = Vector512.Max(acc, Vector512<float>.Zero);
            acc.Store(y + col);
            return;
        }
        for (int r = 0; col + r < n; r++)
        {
            float v = bias != null ? acc.GetElement(r) + bias[col + r] : acc.GetElement(r);
            y[col + r] = relu ? float.Max(v, 0f) : v;
        }
    }

    /// <summary>
    /// The panel copy of an [n, k] row-major weight <paramref name="w"/> (row stride <paramref name="ldw"/>) into
    /// <paramref name="wt"/> (<see cref="CopyLength"/> floats): panel p holds Wᵀ[q, 128p + c] at
    /// <c>128·p·k + q·width + c</c>, width = 128 but for a narrower last panel, with zeros for the outputs n … past n
    /// that pad the last vector.
    /// </summary>
    public static void Transpose(float* w, nint ldw, int n, int k, float* wt)
    {
        int vectors = Vectors(n);
        for (int first = 0; first < vectors; first += PanelVectors)
        {
            int width = Math.Min(PanelVectors, vectors - first) * 16;
            int j0 = first * 16;
            float* panel = wt + (long)j0 * k;
            // Blocks of 16 outputs × 16 inputs, so both the rows read and the rows written stay in L1.
            for (int jb = 0; jb < width; jb += 16)
                for (int q0 = 0; q0 < k; q0 += 16)
                {
                    int q1 = Math.Min(q0 + 16, k);
                    for (int c = jb; c < jb + 16; c++)
                    {
                        int j = j0 + c;
                        if (j < n)
                            for (int q = q0; q < q1; q++) panel[(long)q * width + c] = w[j * ldw + q];
                        else
                            for (int q = q0; q < q1; q++) panel[(long)q * width + c] = 0;
                    }
                }
        }
    }
}
