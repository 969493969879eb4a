using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aperture;

/// <summary>
/// The batch-1 product of a Linear layer over a transposed copy of its weight: y[j] = Σ_k x[k]·Wᵀ[k, j] (+ b[j]),
/// with Wᵀ stored [in, out] so that a register holds 16 consecutive outputs of one row. Each output is still the one
/// fused multiply-add chain over k in increasing order, starting from zero, that <see cref="Gemv"/> and the GEMM
/// compute, and the bias is added to the finished chain as the separate bias pass adds it, so the bits are the same.
/// </summary>
/// <remarks>
/// Without the 64 register shuffles per 256 multiply-adds of <see cref="Gemv"/>, one step of k is a broadcast of x[k]
/// and up to 16 independent FMAs with their loads straight from one contiguous row of Wᵀ; the product is then bound
/// by reading the weight. The copy (<see cref="TransposedWeight"/>) is owned by a layer and rebuilt when the weight
/// changes.
/// <para>
/// At batch 1 the 784-256-256-10 MLP's three copies (1.08 MB) just exceed one Zen 5 core's 1 MB L2, so each pass
/// streams them from L3 (about 10 µs a pass against about 7.3 µs for its layers timed apart with their copies
/// L2-resident). Tried on that core and slower, thread CPU time, interleaved: running 128-output chunks in an order
/// alternating from call to call, so that an LRU-like L2 would keep most of the copies (+1.7 µs, as much as the same
/// chunks in a fixed order: splitting the 256 outputs into half rows cost it, and alternating won nothing); software prefetches 4–16 rows ahead into L1 or L2 (+1.8 to
/// +3 µs); non-temporal prefetches of the 784-input layer so it would not evict the others (+0.6 to +0.8 µs).
/// </para>
/// </remarks>
internal static unsafe class GemvTransposed
{
    /// <summary>Whether <see cref="Run"/> can run on the active code path (float32, AVX-512).</summary>
    public static bool Supported => KernelPaths.Active == KernelPath.Avx512 && Avx512F.IsSupported;

    /// <summary>Output vectors (of 16) per unit of parallel work: a thread takes whole units.</summary>
    private const int UnitVectors = 8;

    /// <summary>
    /// y[j] = Σ_k x[k·incX]·wt[k·ld + j] (+ bias[j]) for j &lt; n, k ascending. <paramref name="ld"/> is a multiple of 16
    /// and the columns n … ld − 1 of <paramref name="wt"/> are readable (their results are never stored).
    /// </summary>
    public static void Run(float* x, nint incX, float* wt, nint ld, float* bias, float* y, int n, int k)
    {
        int vectors = (n + 15) / 16;
        int units = (vectors + UnitVectors - 1) / UnitVectors;
        var body = new Body(x, incX, wt, ld, bias, y, n, k, vectors);
        // As in Gemv: a product large enough to pay for waking a worker is split by outputs, each thread streaming
        // its own columns of the weight; the chains do not depend on the split.
        if (units > 1 && Parallelism.Threads > 1 && (long)n * k >= Gemv.GemvParallelMinWork)
            Parallelism.For(units, (long)UnitVectors * 16 * k, body);
        else body.Run(0, units);
    }

    private readonly struct Body(float* x, nint incX, float* wt, nint ld, float* bias, float* y, int n, int k, int vectors)
        : Parallelism.IRangeBody
    {
        public void Run(int u0, int u1) => Columns(x, incX, wt, ld, bias, y, n, k, u0 * UnitVectors, Math.Min(u1 * UnitVectors, vectors));
    }

    /// <summary>Output vectors [v0, v1), in chunks of up to 16 registers of accumulators.</summary>
    private static void Columns(float* x, nint incX, float* wt, nint ld, float* bias, float* y, int n, int k, int v0, int v1)
    {
        int v = v0;
        for (; v + 16 <= v1; v += 16) Chunk<W16>(x, incX, wt, ld, bias, y, n, k, v * 16);
        if (v1 - v >= 8) { Chunk<W8>(x, incX, wt, ld, bias, y, n, k, v * 16); v += 8; }
        if (v1 - v >= 4) { Chunk<W4>(x, incX, wt, ld, bias, y, n, k, v * 16); v += 4; }
        if (v1 - v >= 2) { Chunk<W2>(x, incX, wt, ld, bias, y, n, k, v * 16); v += 2; }
        if (v1 - v >= 1) Chunk<W1>(x, incX, wt, ld, bias, y, n, k, v * 16);
    }

    private interface IWidth { static abstract int V { get; } }
    private struct W1 : IWidth { public static int V => 1; }
    private struct W2 : IWidth { public static int V => 2; }
    private struct W4 : IWidth { public static int V => 4; }
    private struct W8 : IWidth { public static int V => 8; }
    private struct W16 : IWidth { public static int V => 16; }

    /// <summary>Outputs [col, col + 16·V): V accumulators, each the k-ordered chain of 16 outputs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Chunk<TW>(float* x, nint incX, float* wt, nint ld, float* bias, float* y, int n, int k, int col)
        where TW : struct, IWidth
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> a8 = default, a9 = default, a10 = default, a11 = default, a12 = default, a13 = default, a14 = default, a15 = default;
        float* p = wt + col;
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
            if (TW.V > 8)
            {
                a8 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 128), a8);
                a9 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 144), a9);
                a10 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 160), a10);
                a11 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 176), a11);
                a12 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 192), a12);
                a13 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 208), a13);
                a14 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 224), a14);
                a15 = Avx512F.FusedMultiplyAdd(xv, Vector512.Load(p + 240), a15);
            }
        }
        Store(a0, bias, y, n, col);
        if (TW.V > 1) Store(a1, bias, y, n, col + 16);
        if (TW.V > 2) { Store(a2, bias, y, n, col + 32); Store(a3, bias, y, n, col + 48); }
        if (TW.V > 4)
        {
            Store(a4, bias, y, n, col + 64); Store(a5, bias, y, n, col + 80);
            Store(a6, bias, y, n, col + 96); Store(a7, bias, y, n, col + 112);
        }
        if (TW.V > 8)
        {
            Store(a8, bias, y, n, col + 128); Store(a9, bias, y, n, col + 144);
            Store(a10, bias, y, n, col + 160); Store(a11, bias, y, n, col + 176);
            Store(a12, bias, y, n, col + 192); Store(a13, bias, y, n, col + 208);
            Store(a14, bias, y, n, col + 224); Store(a15, bias, y, n, col + 240);
        }
    }

    /// <summary>y[col …] = acc (+ bias), the outputs past n dropped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector512<float> acc, float* bias, float* y, int n, int col)
    {
        if (col + 16 <= n)
        {
            if (bias != null) acc = Avx512F.Add(acc, Vector512.Load(bias + col));
            acc.Store(y + col);
            return;
        }
        for (int r = 0; col + r < n; r++) y[col + r] = bias != null ? acc.GetElement(r) + bias[col + r] : acc.GetElement(r);
    }

    /// <summary>
    /// wt[q·ld + j] = w[j·ldw + q] for j &lt; n, q &lt; k, and zero in the padding columns n … ld − 1: the transposed
    /// copy of an [n, k] row-major weight.
    /// </summary>
    public static void Transpose(float* w, nint ldw, int n, int k, float* wt, nint ld)
    {
        // Blocks of 16 × 16 so both the rows read and the rows written stay in L1.
        for (int j0 = 0; j0 < n; j0 += 16)
        {
            int j1 = Math.Min(j0 + 16, n);
            for (int q0 = 0; q0 < k; q0 += 16)
            {
                int q1 = Math.Min(q0 + 16, k);
                for (int j = j0; j < j1; j++)
                    for (int q = q0; q < q1; q++) wt[q * ld + j] = w[j * ldw + q];
            }
        }
        for (int q = 0; q < k; q++)
            for (int j = n; j < ld; j++) wt[q * ld + j] = 0;
    }
}
