using System.Numerics;
using System.Runtime.CompilerServices;

namespace Aperture;

/// <summary>
/// A strided matrix view for kernels: element (i, j) is <c>Data[Offset + i*RowStride + j*ColStride]</c>.
/// Transposes are free: swap the strides.
/// </summary>
internal readonly record struct MatrixView<T>(T[] Data, int Offset, int Rows, int Cols, int RowStride, int ColStride)
{
    public T this[int i, int j] => Data[Offset + i * RowStride + j * ColStride];
}

/// <summary>
/// Matrix multiply C = A·B (C contiguous, overwritten) for one matrix of a batch. Each output is accumulated over k
/// with fused multiply-adds in increasing k (the <see cref="ReductionOrder.Default"/> of matmul); other orders
/// and float64 accumulation take a slower exact path. Work is split over rows of C only, so any thread count
/// gives the same bits.
/// </summary>
internal static class MatMulKernel
{
    public static void Run<T>(MatrixView<T> a, MatrixView<T> b, T[] c, int cOffset, NumericsPolicy p)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = a.Rows, k = a.Cols, n = b.Cols;
        if (p.Order is ReductionOrder.Default or ReductionOrder.Sequential or ReductionOrder.Reversed
            && (p.Accumulation == AccumulationPrecision.Native || typeof(T) == typeof(double)))
        {
            bool reversed = p.Order == ReductionOrder.Reversed;
            bool fma = p.Order != ReductionOrder.Sequential;
            Parallelism.For(m, (long)k * n, (i0, i1) => RowsFma(a, b, c, cOffset, i0, i1, reversed, fma));
            return;
        }
        // Exact general path: each output's products, then a sum in the policy's order (and precision).
        Parallelism.For(m, (long)k * n * 4, (i0, i1) =>
        {
            var prod = new T[k];
            var wide = typeof(T) == typeof(float) ? new double[k] : null;
            for (int i = i0; i < i1; i++)
                for (int j = 0; j < n; j++)
                {
                    T s;
                    if (wide is not null && p.Accumulation == AccumulationPrecision.Float64)
                    {
                        for (int q = 0; q < k; q++) wide[q] = double.CreateTruncating(a[i, q]) * double.CreateTruncating(b[q, j]);
                        s = T.CreateTruncating(Reduce.Sum(wide, p with { Accumulation = AccumulationPrecision.Native }));
                    }
                    else
                    {
                        for (int q = 0; q < k; q++) prod[q] = a[i, q] * b[q, j];
                        s = SumOf(prod, p);
                    }
                    c[cOffset + i * n + j] = s;
                }
        });
    }

    private static T SumOf<T>(ReadOnlySpan<T> x, NumericsPolicy p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) return (T)(object)Reduce.Sum(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(x), p);
        return (T)(object)Reduce.Sum(System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(x), p);
    }

    /// <summary>c[i, :] = Σ_k a[i, k]·b[k, :], k ascending (or descending), one fused multiply-add per term.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowsFma<T>(MatrixView<T> a, MatrixView<T> b, T[] c, int cOffset, int i0, int i1, bool reversed, bool fma)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int k = a.Cols, n = b.Cols;
        // B rows must be contiguous for the vector loop; copy B once if they are not.
        T[] bData = b.Data;
        int bOff = b.Offset, bRow = b.RowStride;
        if (b.ColStride != 1 && n > 1)
        {
            bData = new T[k * n];
            for (int q = 0; q < k; q++)
                for (int j = 0; j < n; j++) bData[q * n + j] = b[q, j];
            bOff = 0;
            bRow = n;
        }
        int vw = Vector<T>.Count;
        for (int i = i0; i < i1; i++)
        {
            var crow = c.AsSpan(cOffset + i * n, n);
            crow.Clear();
            for (int step = 0; step < k; step++)
            {
                int q = reversed ? k - 1 - step : step;
                T av = a[i, q];
                var brow = bData.AsSpan(bOff + q * bRow, n);
                int j = 0;
                if (!KernelPaths.ForceScalar && Vector.IsHardwareAccelerated)
                {
                    var va = new Vector<T>(av);
                    for (; j <= n - vw; j += vw)
                    {
                        var vc = new Vector<T>(crow[j..]);
                        var vb = new Vector<T>(brow[j..]);
                        (fma ? FusedMultiplyAdd(va, vb, vc) : va * vb + vc).CopyTo(crow[j..]);
                    }
                }
                for (; j < n; j++) crow[j] = fma ? T.FusedMultiplyAdd(av, brow[j], crow[j]) : av * brow[j] + crow[j];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<T> FusedMultiplyAdd<T>(Vector<T> a, Vector<T> b, Vector<T> c) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            var r = Vector.FusedMultiplyAdd(Unsafe.As<Vector<T>, Vector<float>>(ref a), Unsafe.As<Vector<T>, Vector<float>>(ref b), Unsafe.As<Vector<T>, Vector<float>>(ref c));
            return Unsafe.As<Vector<float>, Vector<T>>(ref r);
        }
        var d = Vector.FusedMultiplyAdd(Unsafe.As<Vector<T>, Vector<double>>(ref a), Unsafe.As<Vector<T>, Vector<double>>(ref b), Unsafe.As<Vector<T>, Vector<double>>(ref c));
        return Unsafe.As<Vector<double>, Vector<T>>(ref d);
    }
}
