using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Aperture;

/// <summary>
/// Sums over rows: y[c] = Σ_r x[r·ld + c] (a sum over leading axes, such as a bias gradient), vectorized across
/// columns so nothing is transposed or copied. Each output follows the same order definition as a contiguous sum of
/// its terms (<see cref="Reduce"/>): under the default order, row r goes to partial r mod 16 and the partials meet in
/// the fixed tree, so the bits equal <c>Reduce.Sum</c> over the column, on every path.
/// </summary>
internal static unsafe class ColumnSum
{
    /// <summary>True when <paramref name="p"/> names an order this kernel implements.</summary>
    public static bool Supports<T>(NumericsPolicy p) =>
        p.Order is ReductionOrder.Default or ReductionOrder.Sequential or ReductionOrder.Reversed
        && (p.Accumulation == AccumulationPrecision.Native || typeof(T) == typeof(double));

    /// <summary>
    /// All <paramref name="cols"/> columns of the sum over <paramref name="rows"/> rows, cut into blocks of 64
    /// columns across threads from <see cref="Parallelism.PassSplitMin"/> elements: each column's sum runs whole on
    /// one thread, so its bits do not depend on the cut.
    /// </summary>
    public static void RunSplit<T>(T* x, int rows, nint ld, T* y, int cols, ReductionOrder order) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if ((long)rows * cols >= Parallelism.PassSplitMin && cols > SplitColumns && Parallelism.Threads > 1)
            Parallelism.For((cols + SplitColumns - 1) / SplitColumns, (long)rows * SplitColumns, new Blocks<T>((nint)x, rows, ld, (nint)y, cols, order));
        else Run(x, rows, ld, y, 0, cols, order);
    }

    /// <summary>Columns per work item of <see cref="RunSplit"/>: four 512-bit registers of float32.</summary>
    private const int SplitColumns = 64;

    private readonly struct Blocks<T>(nint x, int rows, nint ld, nint y, int cols, ReductionOrder order) : Parallelism.IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int b0, int b1) => ColumnSum.Run((T*)x, rows, ld, (T*)y, b0 * SplitColumns, Math.Min(cols, b1 * SplitColumns), order);
    }

    /// <summary>Columns [c0, c1) of the sum over <paramref name="rows"/> rows.</summary>
    public static void Run<T>(T* x, int rows, nint ld, T* y, int c0, int c1, ReductionOrder order) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            float* xf = (float*)x, yf = (float*)y;
            switch (KernelPaths.Active)
            {
                case KernelPath.Avx512: Columns<F32x16, Vector512<float>, float>(xf, rows, ld, yf, c0, c1, order); break;
                case KernelPath.Avx2: Columns<F32x8, Vector256<float>, float>(xf, rows, ld, yf, c0, c1, order); break;
                default: Columns<F32x1, float, float>(xf, rows, ld, yf, c0, c1, order); break;
            }
        }
        else
        {
            double* xd = (double*)x, yd = (double*)y;
            switch (KernelPaths.Active)
            {
                case KernelPath.Avx512: Columns<F64x8, Vector512<double>, double>(xd, rows, ld, yd, c0, c1, order); break;
                case KernelPath.Avx2: Columns<F64x4, Vector256<double>, double>(xd, rows, ld, yd, c0, c1, order); break;
                default: Columns<F64x1, double, double>(xd, rows, ld, yd, c0, c1, order); break;
            }
        }
    }

    private static void Columns<V, TV, T>(T* x, int rows, nint ld, T* y, int c0, int c1, ReductionOrder order)
        where V : IVec<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = V.Width, c = c0;
        if (order == ReductionOrder.Default)
        {
            for (; c + w <= c1; c += w) V.Store(y + c, Interleaved<V, TV, T>(x + c, rows, ld));
            for (; c < c1; c++) y[c] = Interleaved<F1<T>, T, T>(x + c, rows, ld);
        }
        else
        {
            bool reversed = order == ReductionOrder.Reversed;
            for (; c + w <= c1; c += w) V.Store(y + c, Sequential<V, TV, T>(x + c, rows, ld, reversed));
            for (; c < c1; c++) y[c] = Sequential<F1<T>, T, T>(x + c, rows, ld, reversed);
        }
    }

    /// <summary>One register of columns under the interleaved order: 16 partial registers, then the tree.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static TV Interleaved<V, TV, T>(T* x, int rows, nint ld) where V : IVec<TV, T> where TV : struct where T : unmanaged
    {
        TV a0 = V.Zero, a1 = V.Zero, a2 = V.Zero, a3 = V.Zero, a4 = V.Zero, a5 = V.Zero, a6 = V.Zero, a7 = V.Zero;
        TV a8 = V.Zero, a9 = V.Zero, a10 = V.Zero, a11 = V.Zero, a12 = V.Zero, a13 = V.Zero, a14 = V.Zero, a15 = V.Zero;
        int r = 0;
        for (; r + 16 <= rows; r += 16)
        {
            T* p = x + r * ld;
            a0 = V.Add(a0, V.Load(p)); a1 = V.Add(a1, V.Load(p + ld));
            a2 = V.Add(a2, V.Load(p + 2 * ld)); a3 = V.Add(a3, V.Load(p + 3 * ld));
            a4 = V.Add(a4, V.Load(p + 4 * ld)); a5 = V.Add(a5, V.Load(p + 5 * ld));
            a6 = V.Add(a6, V.Load(p + 6 * ld)); a7 = V.Add(a7, V.Load(p + 7 * ld));
            a8 = V.Add(a8, V.Load(p + 8 * ld)); a9 = V.Add(a9, V.Load(p + 9 * ld));
            a10 = V.Add(a10, V.Load(p + 10 * ld)); a11 = V.Add(a11, V.Load(p + 11 * ld));
            a12 = V.Add(a12, V.Load(p + 12 * ld)); a13 = V.Add(a13, V.Load(p + 13 * ld));
            a14 = V.Add(a14, V.Load(p + 14 * ld)); a15 = V.Add(a15, V.Load(p + 15 * ld));
        }
        int rem = rows - r;
        T* q = x + r * ld;
        if (rem > 0) a0 = V.Add(a0, V.Load(q));
        if (rem > 1) a1 = V.Add(a1, V.Load(q + ld));
        if (rem > 2) a2 = V.Add(a2, V.Load(q + 2 * ld));
        if (rem > 3) a3 = V.Add(a3, V.Load(q + 3 * ld));
        if (rem > 4) a4 = V.Add(a4, V.Load(q + 4 * ld));
        if (rem > 5) a5 = V.Add(a5, V.Load(q + 5 * ld));
        if (rem > 6) a6 = V.Add(a6, V.Load(q + 6 * ld));
        if (rem > 7) a7 = V.Add(a7, V.Load(q + 7 * ld));
        if (rem > 8) a8 = V.Add(a8, V.Load(q + 8 * ld));
        if (rem > 9) a9 = V.Add(a9, V.Load(q + 9 * ld));
        if (rem > 10) a10 = V.Add(a10, V.Load(q + 10 * ld));
        if (rem > 11) a11 = V.Add(a11, V.Load(q + 11 * ld));
        if (rem > 12) a12 = V.Add(a12, V.Load(q + 12 * ld));
        if (rem > 13) a13 = V.Add(a13, V.Load(q + 13 * ld));
        if (rem > 14) a14 = V.Add(a14, V.Load(q + 14 * ld));
        // The fixed tree: p[j] += p[j + w] for w = 8, 4, 2, 1.
        a0 = V.Add(a0, a8); a1 = V.Add(a1, a9); a2 = V.Add(a2, a10); a3 = V.Add(a3, a11);
        a4 = V.Add(a4, a12); a5 = V.Add(a5, a13); a6 = V.Add(a6, a14); a7 = V.Add(a7, a15);
        a0 = V.Add(a0, a4); a1 = V.Add(a1, a5); a2 = V.Add(a2, a6); a3 = V.Add(a3, a7);
        a0 = V.Add(a0, a2); a1 = V.Add(a1, a3);
        return V.Add(a0, a1);
    }

    /// <summary>One register of columns, rows added one after another (forward or backward).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static TV Sequential<V, TV, T>(T* x, int rows, nint ld, bool reversed) where V : IVec<TV, T> where TV : struct where T : unmanaged
    {
        TV a = V.Zero;
        if (reversed) for (int r = rows - 1; r >= 0; r--) a = V.Add(a, V.Load(x + r * ld));
        else for (int r = 0; r < rows; r++) a = V.Add(a, V.Load(x + r * ld));
        return a;
    }

    /// <summary>The scalar register of any float type, for the last columns.</summary>
    private readonly struct F1<T> : IVec<T, T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static int Width => 1;
        public static T Zero => T.Zero;
        public static T Load(T* p) => *p;
        public static void Store(T* p, T v) => *p = v;
        public static T Splat(T x) => x;
        public static T Fma(T a, T b, T c) => T.FusedMultiplyAdd(a, b, c);
        public static T Add(T a, T b) => a + b;
        public static T Relu(T a) => T.Max(a, T.Zero);
    }
}
