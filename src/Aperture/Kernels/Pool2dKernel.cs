using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aperture;

/// <summary>The windows of a max pooling: kernel, stride, padding and dilation per axis, and the output size.</summary>
internal readonly record struct MaxPoolGeometry(int KH, int KW, int SH, int SW, int PH, int PW, int DH, int DW, int OH, int OW);

/// <summary>
/// The windows of an average pooling along one axis: output o averages the input range [Start[o], End[o])
/// (already clipped to the input) and contributes Count[o] to its divisor. Starts and ends never decrease with o,
/// so the outputs whose windows hold one input position form a contiguous range.
/// </summary>
internal sealed record PoolWindows(int[] Start, int[] End, int[] Count)
{
    public int Outputs => Start.Length;

    /// <summary>For each input position i, the outputs [First[i], Stop[i]) whose windows hold it.</summary>
    public (int[] First, int[] Stop) Inverse(int size)
    {
        var first = new int[size];
        var stop = new int[size];
        for (int i = 0; i < size; i++)
        {
            int a = 0;
            while (a < Outputs && !(Start[a] <= i && i < End[a])) a++;
            int b = a;
            while (b < Outputs && Start[b] <= i && i < End[b]) b++;
            (first[i], stop[i]) = (a, b);
        }
        return (first, stop);
    }
}

/// <summary>An average pooling: its windows along each axis and the input plane it reads.</summary>
internal sealed record AvgPoolPlan(PoolWindows Rows, PoolWindows Cols, int H, int W);

/// <summary>
/// Pooling loops over the H×W planes of [N, C, H, W] tensors. Work is split over output rows or planes, each
/// computed in a fixed order, so any thread count gives the same bits.
/// </summary>
internal static class Pool2dKernel
{
    private static Tensor Dense(Tensor t) => t.IsContiguous ? t : StridedCopy.ToContiguous(t);

    /// <summary>
    /// The maximum of each window and where it is: a flat index into the H×W plane, the first in row-major window
    /// order (a NaN wins over numbers). Padding is −∞; a window that holds only padding gives −∞ and index −1.
    /// </summary>
    public static (Tensor Values, Tensor Indices) MaxPool(Tensor x, MaxPoolGeometry g)
    {
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        var values = Tensor.Empty([n, c, g.OH, g.OW], x.DType);
        var indices = Tensor.Empty([n, c, g.OH, g.OW], DType.Int64);
        var xc = Dense(x);
        if (x.DType == DType.Float32) MaxPool(xc.Buffer<float>(), xc._offset, n * c, h, w, g, values.Buffer<float>(), indices.Buffer<long>());
        else MaxPool(xc.Buffer<double>(), xc._offset, n * c, h, w, g, values.Buffer<double>(), indices.Buffer<long>());
        return (values, indices);
    }

    private static void MaxPool<T>(T[] x, int xOff, int planes, int h, int w, MaxPoolGeometry g, T[] values, long[] indices)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Parallelism.For(planes * g.OH, (long)g.OW * g.KH * g.KW, new MaxPoolBody<T>(x, xOff, h, w, g, values, indices));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MaxPoolRows<T>(T[] x, int xOff, int h, int w, MaxPoolGeometry g, T[] values, long[] indices, int r0, int r1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (g.PH == 0 && g.PW == 0 && g.DH == 1 && g.DW == 1 && (g.OH - 1) * g.SH + g.KH <= h && (g.OW - 1) * g.SW + g.KW <= w)
        {
            InteriorRows(x, xOff, h, w, g, values, indices, r0, r1);
            return;
        }
        for (int r = r0; r < r1; r++)
        {
            int plane = r / g.OH, oh = r % g.OH;
            int src = xOff + plane * h * w;
            for (int ow = 0; ow < g.OW; ow++)
            {
                int best = -1;
                T bv = T.NegativeInfinity;
                for (int ki = 0; ki < g.KH; ki++)
                {
                    int ih = oh * g.SH - g.PH + ki * g.DH;
                    if ((uint)ih >= (uint)h) continue;
                    for (int kj = 0; kj < g.KW; kj++)
                    {
                        int iw = ow * g.SW - g.PW + kj * g.DW;
                        if ((uint)iw >= (uint)w) continue;
                        T v = x[src + ih * w + iw];
                        if (best < 0 || v > bv || (T.IsNaN(v) && !T.IsNaN(bv)))
                        {
                            best = ih * w + iw;
                            bv = v;
                        }
                    }
                }
                values[r * g.OW + ow] = bv;
                indices[r * g.OW + ow] = best;
            }
        }
    }

    /// <summary>
    /// <see cref="MaxPoolRows"/> for windows that all lie inside the input (no padding, no dilation): the same
    /// comparisons in the same order, without the per-element bounds tests.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InteriorRows<T>(T[] x, int xOff, int h, int w, MaxPoolGeometry g, T[] values, long[] indices, int r0, int r1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T xs = ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(x);
        bool pairs = typeof(T) == typeof(float) && g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2
            && KernelPaths.Active != KernelPath.Scalar && System.Runtime.Intrinsics.X86.Avx2.IsSupported;
        if (pairs && KernelPaths.Active == KernelPath.Avx512 && Avx512F.VL.IsSupported)
        {
            Pairs2x2Rows((float[])(object)x, xOff, h, w, g.OH, g.OW, (float[])(object)values, indices, r0, r1);
            return;
        }
        for (int r = r0; r < r1; r++)
        {
            int plane = r / g.OH, oh = r % g.OH;
            int src = xOff + plane * h * w, top = oh * g.SH;
            int outAt = r * g.OW;
            int first = pairs ? Pairs2x2((float[])(object)x, src, top, w, g.OW, (float[])(object)values, indices, outAt) : 0;
            for (int ow = first; ow < g.OW; ow++)
            {
                int left = ow * g.SW;
                int best = top * w + left;
                T bv = Unsafe.Add(ref xs, src + best);
                for (int ki = 0; ki < g.KH; ki++)
                {
                    int rowAt = (top + ki) * w + left;
                    for (int kj = ki == 0 ? 1 : 0; kj < g.KW; kj++)
                    {
                        T v = Unsafe.Add(ref xs, src + rowAt + kj);
                        if (v > bv || (T.IsNaN(v) && !T.IsNaN(bv)))
                        {
                            best = rowAt + kj;
                            bv = v;
                        }
                    }
                }
                values[outAt + ow] = bv;
                indices[outAt + ow] = best;
            }
        }
    }

    /// <summary>
    /// The 2×2, stride-2 windows of output rows [r0, r1) with AVX-512, eight windows a step (a masked step for the
    /// last few of a row, so no row is too short). Each input row's sixteen values are split into the windows' left
    /// and right columns, the two columns compared, then the two rows. The scalar loop's rule — the first NaN, else
    /// the largest value, the first in row-major order among equals — is then one comparison each time: the candidate
    /// compared against is always the earlier one (the left column, then the upper row), so it stays unless it is a
    /// number and the other is larger or NaN (¬(b ≤ a), unordered included).
    /// </summary>
    /// <remarks>
    /// Against the AVX2 blocks (two comparisons of indices and four of values per combination, and a call per row for
    /// each block), on LeNet-5's two poolings at one thread (the AVX2 path forced and this one alternated in one
    /// process, best of 30 windows of 50 calls, three rounds): 64 × 6 × 28 × 28 117.7–122.0 → 51.6–60.1 µs, and
    /// 64 × 16 × 10 × 10 (five windows a row, all in the masked step) 69.3–71.3 → 30.9–32.9 µs.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Pairs2x2Rows(float[] x, int xOff, int h, int w, int oh, int ow, float[] values, long[] indices, int r0, int r1)
    {
        var leftColumns = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var rightColumns = leftColumns + Vector512<int>.One;
        var windowStart = Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14);
        var loadLanes = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        var storeLanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        var storeLanes64 = Vector512.Create(0L, 1, 2, 3, 4, 5, 6, 7);
        var width = Vector256.Create(w);
        fixed (float* px = x, pv = values)
        fixed (long* pi = indices)
        {
            int plane = r0 / oh, row = r0 % oh;
            for (int r = r0; r < r1; r++)
            {
                int row0 = 2 * row * w;
                float* top = px + xOff + (long)plane * h * w + row0, bottom = top + w;
                float* v = pv + (long)r * ow;
                long* at = pi + (long)r * ow;
                for (int o = 0; o < ow; o += 8)
                {
                    int count = Math.Min(8, ow - o);
                    Vector512<float> a, b;
                    if (count == 8)
                    {
                        a = Vector512.Load(top + 2 * o);
                        b = Vector512.Load(bottom + 2 * o);
                    }
                    else
                    {
                        // Masked lanes are not read (no fault past the end of the input) and come back as zero.
                        var load = Vector512.LessThan(loadLanes, Vector512.Create(2 * count)).AsSingle();
                        a = Avx512F.MaskLoad(top + 2 * o, load, Vector512<float>.Zero);
                        b = Avx512F.MaskLoad(bottom + 2 * o, load, Vector512<float>.Zero);
                    }
                    // Lanes 0–7: the upper row's windows, 8–15: the lower row's.
                    var left = Avx512F.PermuteVar16x32x2(a, leftColumns, b);
                    var right = Avx512F.PermuteVar16x32x2(a, rightColumns, b);
                    var takeRight = Avx512F.CompareOrdered(left, left) & Avx512F.CompareNotLessThanOrEqual(right, left);
                    var column = Vector512.ConditionalSelect(takeRight, right, left);
                    var columnAt = takeRight.AsInt32() & Vector512<int>.One;
                    var upper = column.GetLower();
                    var lower = column.GetUpper();
                    var takeLower = Avx.Compare(upper, upper, FloatComparisonMode.OrderedNonSignaling)
                        & Avx.Compare(lower, upper, FloatComparisonMode.UnorderedNotLessThanOrEqualNonSignaling);
                    var value = Vector256.ConditionalSelect(takeLower, lower, upper);
                    var within = Vector256.ConditionalSelect(takeLower.AsInt32(), columnAt.GetUpper() + width, columnAt.GetLower());
                    var index = Avx512F.ConvertToVector512Int64(Vector256.Create(row0 + 2 * o) + windowStart + within);
                    if (count == 8)
                    {
                        value.Store(v + o);
                        index.Store(at + o);
                    }
                    else
                    {
                        Avx512F.VL.MaskStore(v + o, Vector256.LessThan(storeLanes, Vector256.Create(count)).AsSingle(), value);
                        Avx512F.MaskStore(at + o, Vector512.LessThan(storeLanes64, Vector512.Create((long)count)), index);
                    }
                }
                if (++row == oh) { row = 0; plane++; }
            }
        }
    }

    /// <summary>
    /// The 2×2, stride-2 windows of one output row, eight and four at a time with AVX2; returns how many outputs it
    /// wrote (all of them, or none for a row of fewer than four, which the scalar loop takes). The scalar loop's rule — the first NaN, else the largest value, the
    /// first in row-major order among equals — picks the same element whatever order the four are compared in,
    /// since it is a total order on (value, index) pairs; so the rows are combined first, then the column pairs.
    /// </summary>
    private static int Pairs2x2(float[] x, int src, int top, int w, int ow, float[] values, long[] indices, int outAt)
    {
        if (ow < 4) return 0;
        ref float xs = ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(x);
        int row0 = top * w, row1 = row0 + w;
        int o = 0;
        for (; o + 8 <= ow; o += 8) Eight(ref xs, src, row0, row1, o, values, indices, outAt);
        for (; o + 4 <= ow; o += 4) Four(ref xs, src, row0, row1, o, values, indices, outAt);
        // The last few outputs: one more block of four ending at the row's end, overlapping outputs already written
        // (recomputed to the same values).
        if (o < ow) Four(ref xs, src, row0, row1, ow - 4, values, indices, outAt);
        return ow;
    }

    private static void Eight(ref float xs, int src, int row0, int row1, int o, float[] values, long[] indices, int outAt)
    {
        var evensFirst = Vector256.Create(0, 2, 4, 6, 1, 3, 5, 7);
        var lane = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        int col = 2 * o;
        // Rows first: the upper element wins ties (it comes first in row-major order).
        var (v0, i0) = Rows(ref xs, src, row0, row1, col, lane);
        var (v1, i1) = Rows(ref xs, src, row0, row1, col + 8, lane);
        // Then columns: split each combined row into its even and odd columns (the left and right of each window).
        var p0 = Avx2.PermuteVar8x32(v0, evensFirst);
        var p1 = Avx2.PermuteVar8x32(v1, evensFirst);
        var q0 = Avx2.PermuteVar8x32(i0, evensFirst);
        var q1 = Avx2.PermuteVar8x32(i1, evensFirst);
        var (v, at) = Combine(Vector256.Create(p0.GetLower(), p1.GetLower()), Vector256.Create(q0.GetLower(), q1.GetLower()),
            Vector256.Create(p0.GetUpper(), p1.GetUpper()), Vector256.Create(q0.GetUpper(), q1.GetUpper()));
        v.StoreUnsafe(ref values[outAt + o]);
        var (lo, hi) = Vector256.Widen(at);
        lo.StoreUnsafe(ref indices[outAt + o]);
        hi.StoreUnsafe(ref indices[outAt + o + 4]);
    }

    private static void Four(ref float xs, int src, int row0, int row1, int o, float[] values, long[] indices, int outAt)
    {
        int col = 2 * o;
        var lane = Vector128.Create(0, 1, 2, 3);
        var (v0, i0) = Combine(Vector128.LoadUnsafe(ref xs, (nuint)(src + row0 + col)), Vector128.Create(row0 + col) + lane,
            Vector128.LoadUnsafe(ref xs, (nuint)(src + row1 + col)), Vector128.Create(row1 + col) + lane);
        var (v1, i1) = Combine(Vector128.LoadUnsafe(ref xs, (nuint)(src + row0 + col + 4)), Vector128.Create(row0 + col + 4) + lane,
            Vector128.LoadUnsafe(ref xs, (nuint)(src + row1 + col + 4)), Vector128.Create(row1 + col + 4) + lane);
        // Even columns of the eight (0, 2, 4, 6), then odd ones.
        var left = Sse.Shuffle(v0, v1, 0b10_00_10_00);
        var right = Sse.Shuffle(v0, v1, 0b11_01_11_01);
        var leftAt = Sse.Shuffle(i0.AsSingle(), i1.AsSingle(), 0b10_00_10_00).AsInt32();
        var rightAt = Sse.Shuffle(i0.AsSingle(), i1.AsSingle(), 0b11_01_11_01).AsInt32();
        var (v, at) = Combine(left, leftAt, right, rightAt);
        v.StoreUnsafe(ref values[outAt + o]);
        var (lo, hi) = Vector128.Widen(at);
        lo.StoreUnsafe(ref indices[outAt + o]);
        hi.StoreUnsafe(ref indices[outAt + o + 2]);
    }

    private static (Vector256<float>, Vector256<int>) Rows(ref float xs, int src, int row0, int row1, int col, Vector256<int> lane)
    {
        var a = Vector256.LoadUnsafe(ref xs, (nuint)(src + row0 + col));
        var b = Vector256.LoadUnsafe(ref xs, (nuint)(src + row1 + col));
        return Combine(a, Vector256.Create(row0 + col) + lane, b, Vector256.Create(row1 + col) + lane);
    }

    /// <summary>
    /// The winner of two candidates per lane under the scalar loop's rule: a NaN beats a number, a larger number beats
    /// a smaller, and between equals (or two NaNs) the one first in row-major order, the smaller index, wins.
    /// </summary>
    private static (Vector256<float>, Vector256<int>) Combine(Vector256<float> a, Vector256<int> aAt, Vector256<float> b, Vector256<int> bAt)
    {
        var aNaN = ~Vector256.Equals(a, a);
        var bNaN = ~Vector256.Equals(b, b);
        var earlier = Vector256.LessThan(bAt, aAt).AsSingle();
        var take = (Vector256.GreaterThan(b, a) & ~aNaN)
            | (bNaN & ~aNaN)
            | (((Vector256.Equals(a, b)) | (aNaN & bNaN)) & earlier);
        return (Vector256.ConditionalSelect(take, b, a), Vector256.ConditionalSelect(take.AsInt32(), bAt, aAt));
    }

    private static (Vector128<float>, Vector128<int>) Combine(Vector128<float> a, Vector128<int> aAt, Vector128<float> b, Vector128<int> bAt)
    {
        var aNaN = ~Vector128.Equals(a, a);
        var bNaN = ~Vector128.Equals(b, b);
        var earlier = Vector128.LessThan(bAt, aAt).AsSingle();
        var take = (Vector128.GreaterThan(b, a) & ~aNaN)
            | (bNaN & ~aNaN)
            | (((Vector128.Equals(a, b)) | (aNaN & bNaN)) & earlier);
        return (Vector128.ConditionalSelect(take, b, a), Vector128.ConditionalSelect(take.AsInt32(), bAt, aAt));
    }

    /// <summary>
    /// y[p, i] = x[p, index[p, i]] over planes p: x [N, C, H, W], index [N, C, OH, OW] → [N, C, OH, OW]; an index of
    /// −1 gives <paramref name="fill"/>.
    /// </summary>
    public static Tensor GatherPlanes(Tensor x, Tensor index, double fill)
    {
        var y = Tensor.Empty(index.Shape, x.DType);
        var xc = Dense(x);
        int planes = index.Shape[0] * index.Shape[1], outPlane = index.Shape[2] * index.Shape[3], inPlane = x.Shape[2] * x.Shape[3];
        var ic = Dense(index);
        var idx = ic.Buffer<long>();
        if (x.DType == DType.Float32) Gather(xc.Buffer<float>(), xc._offset, idx, ic._offset, planes, inPlane, outPlane, (float)fill, y.Buffer<float>());
        else Gather(xc.Buffer<double>(), xc._offset, idx, ic._offset, planes, inPlane, outPlane, fill, y.Buffer<double>());
        return y;
    }

    private static void Gather<T>(T[] x, int xOff, long[] idx, int idxOff, int planes, int inPlane, int outPlane, T fill, T[] y)
    {
        Parallelism.For(planes, outPlane, new GatherBody<T>(x, xOff, idx, idxOff, inPlane, outPlane, fill, y));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GatherRange<T>(T[] x, int xOff, long[] idx, int idxOff, int inPlane, int outPlane, T fill, T[] y, int p0, int p1)
    {
        for (int p = p0; p < p1; p++)
            for (int i = p * outPlane; i < (p + 1) * outPlane; i++)
            {
                long j = idx[idxOff + i];
                y[i] = j < 0 ? fill : x[xOff + p * inPlane + (int)j];
            }
    }

    /// <summary>
    /// The adjoint of <see cref="GatherPlanes"/>: zeros of [N, C, <paramref name="h"/>, <paramref name="w"/>] with
    /// src[p, i] added at index[p, i] (in increasing i; −1 is skipped).
    /// </summary>
    /// <remarks>
    /// Each plane is zeroed by the thread that scatters into it, just before: zeroed up front, on the calling thread,
    /// LeNet-5's first pooling gradient (1.2 MB at batch 64) was a serial pass that left the other core waiting.
    /// </remarks>
    public static Tensor ScatterPlanes(Tensor src, Tensor index, int h, int w)
    {
        var y = Tensor.Empty([index.Shape[0], index.Shape[1], h, w], src.DType);
        var sc = Dense(src);
        int planes = index.Shape[0] * index.Shape[1], outPlane = index.Shape[2] * index.Shape[3];
        var ic = Dense(index);
        var idx = ic.Buffer<long>();
        int oh = index.Shape[2], ow = index.Shape[3];
        if (src.DType == DType.Float32 && oh == h / 2 && ow == w / 2 && outPlane > 0 && KernelPaths.Active == KernelPath.Avx512 && Avx512F.VL.IsSupported)
            Parallelism.For(planes, outPlane, new ScatterCellsBody(sc.Buffer<float>(), sc._offset, idx, ic._offset, h, w, oh, ow, y.Buffer<float>()));
        else if (src.DType == DType.Float32) Scatter(sc.Buffer<float>(), sc._offset, idx, ic._offset, planes, h * w, outPlane, y.Buffer<float>());
        else Scatter(sc.Buffer<double>(), sc._offset, idx, ic._offset, planes, h * w, outPlane, y.Buffer<double>());
        return y;
    }

    private static void Scatter<T>(T[] src, int srcOff, long[] idx, int idxOff, int planes, int inPlane, int outPlane, T[] y)
        where T : INumberBase<T>
    {
        Parallelism.For(planes, outPlane, new ScatterBody<T>(src, srcOff, idx, idxOff, inPlane, outPlane, y));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScatterRange<T>(T[] src, int srcOff, long[] idx, int idxOff, int inPlane, int outPlane, T[] y, int p0, int p1)
        where T : INumberBase<T>
    {
        Array.Clear(y, p0 * inPlane, (p1 - p0) * inPlane);
        for (int p = p0; p < p1; p++) ScatterPlane(src, srcOff, idx, idxOff, inPlane, outPlane, y, p);
    }

    // Plane p of the scatter-add into zeros (the plane already cleared).
    private static void ScatterPlane<T>(T[] src, int srcOff, long[] idx, int idxOff, int inPlane, int outPlane, T[] y, int p)
        where T : INumberBase<T>
    {
        for (int i = p * outPlane; i < (p + 1) * outPlane; i++)
        {
            long j = idx[idxOff + i];
            if (j >= 0) y[p * inPlane + (int)j] += src[srcOff + i];
        }
    }

    /// <summary>
    /// <see cref="ScatterRange"/> for float32 planes of h × w whose [oh, ow] indices each lie in their own output's
    /// 2 × 2 cell (rows 2·i, 2·i + 1, columns 2·j, 2·j + 1: a 2×2, stride-2 pooling's): the cells do not overlap, so
    /// the scatter-add into zeros writes every input position once, with its window's gradient or zero, and needs
    /// neither the clearing pass nor a scalar loop. The winner gets 0 + g, as the add into zero gives it (−0 becomes
    /// +0, a NaN stays). A plane with an index outside its cell (another pooling of the same output size, or −1 for a
    /// window of padding only) is cleared and scattered by the general loop instead.
    /// </summary>
    /// <remarks>
    /// The forward pooling and this gradient together, on LeNet-5's two poolings at one thread (measured as in
    /// <see cref="Pairs2x2Rows"/>): 64 × 6 × 28 × 28 204.7–263.5 → 104.3–138.1 µs, 64 × 16 × 10 × 10 113.0–113.1 →
    /// 69.8–73.9 µs; the gradient alone about as fast as the general loop on the second, whose planes fit in L2.
    /// </remarks>
    private static unsafe void ScatterCellsRange(float[] src, int srcOff, long[] idx, int idxOff, int h, int w, int oh, int ow, float[] y, int p0, int p1)
    {
        int inPlane = h * w, outPlane = oh * ow;
        fixed (float* ps = src, py = y)
        fixed (long* pidx = idx)
            for (int p = p0; p < p1; p++)
            {
                float* plane = py + (long)p * inPlane;
                if (ScatterCells(ps + srcOff + (long)p * outPlane, pidx + idxOff + (long)p * outPlane, plane, w, oh, ow))
                {
                    // An odd last row lies in no cell.
                    if ((h & 1) != 0) new Span<float>(plane + (h - 1) * w, w).Clear();
                }
                else
                {
                    new Span<float>(plane, inPlane).Clear();
                    ScatterPlane(src, srcOff, idx, idxOff, inPlane, outPlane, y, p);
                }
            }
    }

    // One plane of ScatterCellsRange: false, with the plane part written, at the first index outside its cell. No
    // calls, so that the constants stay in registers.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe bool ScatterCells(float* g, long* at, float* plane, int w, int oh, int ow)
    {
        var interleave = Vector512.Create(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
        var windowStart = Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14);
        var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        var lanes64 = Vector512.Create(0L, 1, 2, 3, 4, 5, 6, 7);
        var storeLanes = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        Vector256<int> down = Vector256.Create(w), downRight = Vector256.Create(w + 1);
        for (int r = 0; r < oh; r++, g += ow, at += ow)
        {
            float* upper = plane + 2 * r * w, lower = upper + w;
            for (int o = 0; o < ow; o += 8)
            {
                int count = Math.Min(8, ow - o);
                Vector256<float> grad;
                Vector512<long> index;
                var inactive = Vector256<int>.Zero;
                if (count == 8)
                {
                    grad = Vector256.Load(g + o);
                    index = Vector512.Load(at + o);
                }
                else
                {
                    inactive = Vector256.GreaterThanOrEqual(lanes, Vector256.Create(count));
                    grad = Avx512F.VL.MaskLoad(g + o, (~inactive).AsSingle(), Vector256<float>.Zero);
                    index = Avx512F.MaskLoad(at + o, Vector512.LessThan(lanes64, Vector512.Create((long)count)), Vector512<long>.Zero);
                }
                // Saturated to int32, an index no plane could hold stays outside every cell.
                var within = Avx512F.ConvertToVector256Int32WithSaturation(index) - (Vector256.Create(2 * r * w + 2 * o) + windowStart);
                var m00 = Vector256.Equals(within, Vector256<int>.Zero);
                var m01 = Vector256.Equals(within, Vector256<int>.One);
                var m10 = Vector256.Equals(within, down);
                var m11 = Vector256.Equals(within, downRight);
                if (!Vector256.EqualsAll(m00 | m01 | m10 | m11 | inactive, Vector256<int>.AllBitsSet)) return false;
                // Each window's four positions: 0 + g where its index points, +0 elsewhere; then the left and right
                // columns interleaved into each row's sixteen values.
                var sum = grad + Vector256<float>.Zero;
                var top = Avx512F.PermuteVar16x32(Vector512.Create(sum & m00.AsSingle(), sum & m01.AsSingle()), interleave);
                var bottom = Avx512F.PermuteVar16x32(Vector512.Create(sum & m10.AsSingle(), sum & m11.AsSingle()), interleave);
                if (count == 8)
                {
                    top.Store(upper + 2 * o);
                    bottom.Store(lower + 2 * o);
                }
                else
                {
                    var store = Vector512.LessThan(storeLanes, Vector512.Create(2 * count)).AsSingle();
                    Avx512F.MaskStore(upper + 2 * o, store, top);
                    Avx512F.MaskStore(lower + 2 * o, store, bottom);
                }
            }
            // An odd last column lies in no cell.
            if ((w & 1) != 0) upper[w - 1] = lower[w - 1] = 0;
        }
        return true;
    }

    /// <summary>The mean of each window (sum in row-major order, then one division): x [N, C, H, W] → [N, C, OH, OW].</summary>
    public static Tensor AvgPool(Tensor x, AvgPoolPlan plan)
    {
        int n = x.Shape[0], c = x.Shape[1];
        var y = Tensor.Empty([n, c, plan.Rows.Outputs, plan.Cols.Outputs], x.DType);
        var xc = Dense(x);
        if (x.DType == DType.Float32) AvgPool(xc.Buffer<float>(), xc._offset, n * c, plan, y.Buffer<float>());
        else AvgPool(xc.Buffer<double>(), xc._offset, n * c, plan, y.Buffer<double>());
        return y;
    }

    private static void AvgPool<T>(T[] x, int xOff, int planes, AvgPoolPlan plan, T[] y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (rows, cols) = (plan.Rows, plan.Cols);
        int oh = rows.Outputs, ow = cols.Outputs;
        long cost = Math.Max(1, (long)ow * (rows.End[0] - rows.Start[0]) * (cols.End[0] - cols.Start[0]));
        Parallelism.For(planes * oh, cost, (r0, r1) => AvgPoolRows(x, xOff, plan, y, r0, r1));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AvgPoolRows<T>(T[] x, int xOff, AvgPoolPlan plan, T[] y, int r0, int r1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (rows, cols) = (plan.Rows, plan.Cols);
        int oh = rows.Outputs, ow = cols.Outputs, inPlane = plan.H * plan.W;
        for (int r = r0; r < r1; r++)
        {
            int plane = r / oh, i = r % oh;
            int src = xOff + plane * inPlane;
            for (int j = 0; j < ow; j++)
            {
                T sum = T.Zero;
                int h0 = rows.Start[i], h1 = rows.End[i], w0 = cols.Start[j], w1 = cols.End[j];
                if (h0 >= h1 || w0 >= w1)
                {
                    y[r * ow + j] = T.Zero;
                    continue;
                }
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) sum += x[src + ih * plan.W + iw];
                y[r * ow + j] = sum / T.CreateTruncating(rows.Count[i] * cols.Count[j]);
            }
        }
    }

    /// <summary>
    /// The adjoint of <see cref="AvgPool"/>: gx[ih, iw] = Σ gy[oh, ow] / divisor[oh, ow] over the windows that hold
    /// (ih, iw), in increasing (oh, ow). Gathering rather than scattering lets each input row be computed alone.
    /// </summary>
    public static Tensor AvgPoolTranspose(Tensor gy, AvgPoolPlan plan)
    {
        int n = gy.Shape[0], c = gy.Shape[1];
        var gx = Tensor.Empty([n, c, plan.H, plan.W], gy.DType);
        var gc = Dense(gy);
        if (gy.DType == DType.Float32) AvgPoolTranspose(gc.Buffer<float>(), gc._offset, n * c, plan, gx.Buffer<float>());
        else AvgPoolTranspose(gc.Buffer<double>(), gc._offset, n * c, plan, gx.Buffer<double>());
        return gx;
    }

    private static void AvgPoolTranspose<T>(T[] gy, int gyOff, int planes, AvgPoolPlan plan, T[] gx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (rows, cols) = (plan.Rows, plan.Cols);
        var (rFirst, rStop) = rows.Inverse(plan.H);
        var (cFirst, cStop) = cols.Inverse(plan.W);
        Parallelism.For(planes * plan.H, (long)plan.W * 4, (r0, r1) => AvgPoolTransposeRows(gy, gyOff, plan, rFirst, rStop, cFirst, cStop, gx, r0, r1));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AvgPoolTransposeRows<T>(T[] gy, int gyOff, AvgPoolPlan plan, int[] rFirst, int[] rStop, int[] cFirst, int[] cStop, T[] gx, int r0, int r1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (rows, cols) = (plan.Rows, plan.Cols);
        int oh = rows.Outputs, ow = cols.Outputs, h = plan.H, w = plan.W;
        for (int r = r0; r < r1; r++)
        {
            int plane = r / h, ih = r % h;
            int src = gyOff + plane * oh * ow;
            for (int iw = 0; iw < w; iw++)
            {
                T sum = T.Zero;
                for (int i = rFirst[ih]; i < rStop[ih]; i++)
                    for (int j = cFirst[iw]; j < cStop[iw]; j++)
                        sum += gy[src + i * ow + j] / T.CreateTruncating(rows.Count[i] * cols.Count[j]);
                gx[r * w + iw] = sum;
            }
        }
    }

    // Loop bodies as structs: a parallel loop over them allocates no closure.
    private readonly struct MaxPoolBody<T>(T[] x, int xOff, int h, int w, MaxPoolGeometry g, T[] values, long[] indices) : Parallelism.IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end) => MaxPoolRows(x, xOff, h, w, g, values, indices, start, end);
    }

    private readonly struct GatherBody<T>(T[] x, int xOff, long[] idx, int idxOff, int inPlane, int outPlane, T fill, T[] y) : Parallelism.IRangeBody
    {
        public void Run(int start, int end) => GatherRange(x, xOff, idx, idxOff, inPlane, outPlane, fill, y, start, end);
    }

    private readonly struct ScatterCellsBody(float[] src, int srcOff, long[] idx, int idxOff, int h, int w, int oh, int ow, float[] y) : Parallelism.IRangeBody
    {
        public void Run(int start, int end) => ScatterCellsRange(src, srcOff, idx, idxOff, h, w, oh, ow, y, start, end);
    }

    private readonly struct ScatterBody<T>(T[] src, int srcOff, long[] idx, int idxOff, int inPlane, int outPlane, T[] y) : Parallelism.IRangeBody
        where T : INumberBase<T>
    {
        public void Run(int start, int end) => ScatterRange(src, srcOff, idx, idxOff, inPlane, outPlane, y, start, end);
    }
}
