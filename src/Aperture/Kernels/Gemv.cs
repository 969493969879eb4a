using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aperture;

/// <summary>
/// The matrix–vector product of a Linear layer at batch 1: y[j] = Σ_k x[k]·W[j, k] over a W whose rows are contiguous
/// in k (a row-major [out, in] weight, or any matrix times a vector). Each output is the one fused multiply-add chain
/// over k in increasing order that every other matmul path computes, so the bits are those of the GEMM.
/// </summary>
/// <remarks>
/// With the vector along the outputs, a register holds W[j0..j0+15, k] — a column of a 16-row block, strided in
/// memory. Rather than gather it, or transpose W through a buffer, each 16×16 block of W is loaded as 16 contiguous
/// rows and transposed in registers (four rounds of 16 shuffles), and its 16 columns feed the accumulator one k at a
/// time. W is read once, front to back along each row. Two row blocks run side by side, so two independent chains
/// hide the FMA latency while the next blocks are being transposed. This form needs no copy of W, so it serves every
/// matrix–vector product; a Linear layer at batch 1 without autodiff instead keeps a transposed copy of its weight,
/// valid while the weight's version is unchanged, and runs <see cref="GemvTransposed"/> on it without the shuffles.
/// </remarks>
internal static unsafe class Gemv
{
    /// <summary>Rows of W (outputs) per unit of work: two blocks of 16.</summary>
    private const int Unit = 32;

    /// <summary>Whether <see cref="Run"/> has a kernel for this element type on the active path.</summary>
    public static bool Supports<T>() => typeof(T) == typeof(float) && KernelPaths.Active == KernelPath.Avx512 && Avx512F.IsSupported;

    /// <summary>
    /// y[j·incY] = Σ_k x[k·incX]·w[j·ldw + k] for j &lt; n, k ascending. Requires <see cref="Supports{T}"/>.
    /// </summary>
    public static void Run(float* x, nint incX, float* w, nint ldw, float* y, nint incY, int n, int k)
    {
        int units = (n + Unit - 1) / Unit;
        var body = new Body(x, incX, w, ldw, y, incY, n, k);
        // Each unit reads 32 rows of W once; at two threads each core then streams only its half of the weight.
        if (units > 1 && Parallelism.Threads > 1 && (long)n * k >= GemvParallelMinWork) Parallelism.For(units, (long)Unit * k, body);
        else body.Run(0, units);
    }

    /// <summary>
    /// Multiply-adds (n·k) from which the product is split over threads: a 784 × 256 layer is, a 256 × 256 one (about
    /// 3.5 µs on one thread) is not, since waking a worker costs a fair part of that.
    /// </summary>
    internal static long GemvParallelMinWork = 1 << 17;

    private readonly struct Body(float* x, nint incX, float* w, nint ldw, float* y, nint incY, int n, int k) : Parallelism.IRangeBody
    {
        public void Run(int u0, int u1)
        {
            for (int u = u0; u < u1; u++)
            {
                int j = u * Unit;
                int rows = Math.Min(Unit, n - j);
                if (rows > 16) Pair(x, incX, w + j * ldw, ldw, y + j * incY, incY, rows, k);
                else Single(x, incX, w + j * ldw, ldw, y + j * incY, incY, rows, k);
            }
        }
    }

    /// <summary>Rows [0, 16) and [16, rows) of a block of 17–32 outputs, two chains side by side.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void Pair(float* x, nint incX, float* w, nint ldw, float* y, nint incY, int rows, int k)
    {
        float* w2 = w + 16 * ldw;
        int rows2 = rows - 16;
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        int full = k / 16 * 16;
        for (int p = 0; p < full; p += 16)
        {
            acc0 = Block(x + p * incX, incX, w + p, ldw, 16, 16, acc0);
            acc1 = Block(x + p * incX, incX, w2 + p, ldw, rows2, 16, acc1);
        }
        if (full < k)
        {
            float* tail = stackalloc float[256];
            Pad(w + full, ldw, 16, k - full, tail);
            acc0 = Block(x + full * incX, incX, tail, 16, 16, k - full, acc0);
            Pad(w2 + full, ldw, rows2, k - full, tail);
            acc1 = Block(x + full * incX, incX, tail, 16, rows2, k - full, acc1);
        }
        Store(y, incY, 16, acc0);
        Store(y + 16 * incY, incY, rows2, acc1);
    }

    /// <summary>A block of at most 16 outputs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void Single(float* x, nint incX, float* w, nint ldw, float* y, nint incY, int rows, int k)
    {
        Vector512<float> acc = Vector512<float>.Zero;
        int full = k / 16 * 16;
        for (int p = 0; p < full; p += 16) acc = Block(x + p * incX, incX, w + p, ldw, rows, 16, acc);
        if (full < k)
        {
            float* tail = stackalloc float[256];
            Pad(w + full, ldw, rows, k - full, tail);
            acc = Block(x + full * incX, incX, tail, 16, rows, k - full, acc);
        }
        Store(y, incY, rows, acc);
    }

    /// <summary>The last (partial) 16 columns of up to 16 rows, zero-padded into a 16 × 16 block.</summary>
    private static void Pad(float* w, nint ldw, int rows, int cols, float* tail)
    {
        new Span<float>(tail, 256).Clear();
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) tail[r * 16 + c] = w[r * ldw + c];
    }

    private static void Store(float* y, nint incY, int rows, Vector512<float> acc)
    {
        if (rows == 16 && incY == 1)
        {
            acc.Store(y);
            return;
        }
        for (int r = 0; r < rows; r++) y[r * incY] = acc.GetElement(r);
    }

    /// <summary>
    /// acc[r] = fma(x[c], w[r, c], acc[r]) for c = 0 … <paramref name="cols"/> − 1 in order, over a 16 × 16 block of W
    /// (rows past <paramref name="rows"/> read as zero and are never stored).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Block(float* x, nint incX, float* w, nint ldw, int rows, int cols, Vector512<float> acc)
    {
        var r0 = Row(w, ldw, 0, rows); var r1 = Row(w, ldw, 1, rows); var r2 = Row(w, ldw, 2, rows); var r3 = Row(w, ldw, 3, rows);
        var r4 = Row(w, ldw, 4, rows); var r5 = Row(w, ldw, 5, rows); var r6 = Row(w, ldw, 6, rows); var r7 = Row(w, ldw, 7, rows);
        var r8 = Row(w, ldw, 8, rows); var r9 = Row(w, ldw, 9, rows); var r10 = Row(w, ldw, 10, rows); var r11 = Row(w, ldw, 11, rows);
        var r12 = Row(w, ldw, 12, rows); var r13 = Row(w, ldw, 13, rows); var r14 = Row(w, ldw, 14, rows); var r15 = Row(w, ldw, 15, rows);

        // Round 1: interleave pairs of rows (within each 128-bit lane).
        var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
        var t8 = Avx512F.UnpackLow(r8, r9); var t9 = Avx512F.UnpackHigh(r8, r9);
        var t10 = Avx512F.UnpackLow(r10, r11); var t11 = Avx512F.UnpackHigh(r10, r11);
        var t12 = Avx512F.UnpackLow(r12, r13); var t13 = Avx512F.UnpackHigh(r12, r13);
        var t14 = Avx512F.UnpackLow(r14, r15); var t15 = Avx512F.UnpackHigh(r14, r15);
        // Round 2: pairs of pairs, so each 128-bit lane holds a 4 × 4 transposed block.
        r0 = D(Avx512F.UnpackLow(t0.AsDouble(), t2.AsDouble())); r1 = D(Avx512F.UnpackHigh(t0.AsDouble(), t2.AsDouble()));
        r2 = D(Avx512F.UnpackLow(t1.AsDouble(), t3.AsDouble())); r3 = D(Avx512F.UnpackHigh(t1.AsDouble(), t3.AsDouble()));
        r4 = D(Avx512F.UnpackLow(t4.AsDouble(), t6.AsDouble())); r5 = D(Avx512F.UnpackHigh(t4.AsDouble(), t6.AsDouble()));
        r6 = D(Avx512F.UnpackLow(t5.AsDouble(), t7.AsDouble())); r7 = D(Avx512F.UnpackHigh(t5.AsDouble(), t7.AsDouble()));
        r8 = D(Avx512F.UnpackLow(t8.AsDouble(), t10.AsDouble())); r9 = D(Avx512F.UnpackHigh(t8.AsDouble(), t10.AsDouble()));
        r10 = D(Avx512F.UnpackLow(t9.AsDouble(), t11.AsDouble())); r11 = D(Avx512F.UnpackHigh(t9.AsDouble(), t11.AsDouble()));
        r12 = D(Avx512F.UnpackLow(t12.AsDouble(), t14.AsDouble())); r13 = D(Avx512F.UnpackHigh(t12.AsDouble(), t14.AsDouble()));
        r14 = D(Avx512F.UnpackLow(t13.AsDouble(), t15.AsDouble())); r15 = D(Avx512F.UnpackHigh(t13.AsDouble(), t15.AsDouble()));
        // Rounds 3 and 4: move the 128-bit lanes across registers.
        t0 = Avx512F.Shuffle4x128(r0, r4, 0x88); t1 = Avx512F.Shuffle4x128(r1, r5, 0x88);
        t2 = Avx512F.Shuffle4x128(r2, r6, 0x88); t3 = Avx512F.Shuffle4x128(r3, r7, 0x88);
        t4 = Avx512F.Shuffle4x128(r0, r4, 0xDD); t5 = Avx512F.Shuffle4x128(r1, r5, 0xDD);
        t6 = Avx512F.Shuffle4x128(r2, r6, 0xDD); t7 = Avx512F.Shuffle4x128(r3, r7, 0xDD);
        t8 = Avx512F.Shuffle4x128(r8, r12, 0x88); t9 = Avx512F.Shuffle4x128(r9, r13, 0x88);
        t10 = Avx512F.Shuffle4x128(r10, r14, 0x88); t11 = Avx512F.Shuffle4x128(r11, r15, 0x88);
        t12 = Avx512F.Shuffle4x128(r8, r12, 0xDD); t13 = Avx512F.Shuffle4x128(r9, r13, 0xDD);
        t14 = Avx512F.Shuffle4x128(r10, r14, 0xDD); t15 = Avx512F.Shuffle4x128(r11, r15, 0xDD);
        // Column c of the block is now register c.
        if (cols == 16)
        {
            acc = Fma(x, incX, 0, Avx512F.Shuffle4x128(t0, t8, 0x88), acc);
            acc = Fma(x, incX, 1, Avx512F.Shuffle4x128(t1, t9, 0x88), acc);
            acc = Fma(x, incX, 2, Avx512F.Shuffle4x128(t2, t10, 0x88), acc);
            acc = Fma(x, incX, 3, Avx512F.Shuffle4x128(t3, t11, 0x88), acc);
            acc = Fma(x, incX, 4, Avx512F.Shuffle4x128(t4, t12, 0x88), acc);
            acc = Fma(x, incX, 5, Avx512F.Shuffle4x128(t5, t13, 0x88), acc);
            acc = Fma(x, incX, 6, Avx512F.Shuffle4x128(t6, t14, 0x88), acc);
            acc = Fma(x, incX, 7, Avx512F.Shuffle4x128(t7, t15, 0x88), acc);
            acc = Fma(x, incX, 8, Avx512F.Shuffle4x128(t0, t8, 0xDD), acc);
            acc = Fma(x, incX, 9, Avx512F.Shuffle4x128(t1, t9, 0xDD), acc);
            acc = Fma(x, incX, 10, Avx512F.Shuffle4x128(t2, t10, 0xDD), acc);
            acc = Fma(x, incX, 11, Avx512F.Shuffle4x128(t3, t11, 0xDD), acc);
            acc = Fma(x, incX, 12, Avx512F.Shuffle4x128(t4, t12, 0xDD), acc);
            acc = Fma(x, incX, 13, Avx512F.Shuffle4x128(t5, t13, 0xDD), acc);
            acc = Fma(x, incX, 14, Avx512F.Shuffle4x128(t6, t14, 0xDD), acc);
            return Fma(x, incX, 15, Avx512F.Shuffle4x128(t7, t15, 0xDD), acc);
        }
        // The last partial block of k: the first cols columns only, still in order.
        for (int c = 0; c < cols; c++)
        {
            var col = (c & 7) switch
            {
                0 => (t0, t8), 1 => (t1, t9), 2 => (t2, t10), 3 => (t3, t11),
                4 => (t4, t12), 5 => (t5, t13), 6 => (t6, t14), _ => (t7, t15),
            };
            var v = c < 8 ? Avx512F.Shuffle4x128(col.Item1, col.Item2, 0x88) : Avx512F.Shuffle4x128(col.Item1, col.Item2, 0xDD);
            acc = Fma(x, incX, c, v, acc);
        }
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> D(Vector512<double> v) => v.AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Row(float* w, nint ldw, int r, int rows) => r < rows ? Vector512.Load(w + r * ldw) : Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fma(float* x, nint incX, int c, Vector512<float> col, Vector512<float> acc) =>
        Avx512F.FusedMultiplyAdd(Vector512.Create(x[c * incX]), col, acc);
}
