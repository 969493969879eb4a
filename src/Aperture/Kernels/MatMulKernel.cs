using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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
/// Matrix multiply C = A·B (C contiguous, overwritten). Each output is accumulated over k with fused
/// multiply-adds in increasing k (the <see cref="ReductionOrder.Default"/> of matmul), or decreasing k under
/// <see cref="ReductionOrder.Reversed"/>; <see cref="ReductionOrder.Sequential"/> multiplies and adds separately;
/// other orders and float64 accumulation take a slower exact path. The fast paths (packed AVX-512, AVX2 and
/// scalar, see <see cref="Gemm{T, K}"/>) all produce the bits of the naive chain <c>c = fma(a[i,k], b[k,j], c)</c>,
/// and work is split over outputs only, so neither the code path nor the thread count changes a result.
/// </summary>
internal static class MatMulKernel
{
    /// <summary>
    /// C = A·B into <paramref name="c"/> from <paramref name="cOffset"/> (row-major, overwritten) in the order of policy
    /// <paramref name="p"/>; <paramref name="split"/> says which side of C to cut when the product is split across
    /// threads (see <see cref="ProductSplit"/>), which changes no bit.
    /// </summary>
    public static void Run<T>(MatrixView<T> a, MatrixView<T> b, T[] c, int cOffset, NumericsPolicy p, ProductSplit split = ProductSplit.Any)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = a.Rows, k = a.Cols, n = b.Cols;
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            c.AsSpan(cOffset, m * n).Clear();
            return;
        }
        if (p.Order is ReductionOrder.Default or ReductionOrder.Reversed
            && (p.Accumulation == AccumulationPrecision.Native || typeof(T) == typeof(double)))
        {
            Fused(a, b, c, cOffset, p.Order == ReductionOrder.Reversed, split);
            return;
        }
        if (p.Order == ReductionOrder.Sequential && (p.Accumulation == AccumulationPrecision.Native || typeof(T) == typeof(double)))
        {
            Unfused(a, b, c, cOffset);
            return;
        }
        Exact(a, b, c, cOffset, p);
    }

    // The slower paths live in their own methods: a lambda's captured parameters would otherwise cost every call
    // (the fast path included) a closure allocation.
    private static void Unfused<T>(MatrixView<T> a, MatrixView<T> b, T[] c, int cOffset) where T : unmanaged, IFloatingPointIeee754<T> =>
        Parallelism.For(a.Rows, (long)a.Cols * b.Cols, (i0, i1) => RowsUnfused(a, b, c, cOffset, i0, i1));

    /// <summary>Exact general path: each output's products, then a sum in the policy's order (and precision).</summary>
    private static void Exact<T>(MatrixView<T> a, MatrixView<T> b, T[] c, int cOffset, NumericsPolicy p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = a.Rows, k = a.Cols, n = b.Cols;
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

    /// <summary>
    /// A batch of products: matrix i of A starts <paramref name="strideA"/> elements after matrix i−1 (0 broadcasts
    /// one matrix), likewise B; C holds the outputs back to back. Small products run one per thread.
    /// </summary>
    public static void RunBatched<T>(int batch, MatrixView<T> a, int strideA, MatrixView<T> b, int strideB, T[] c, int cOffset, NumericsPolicy p)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        long work = (long)a.Rows * a.Cols * b.Cols;
        if (batch > 1 && work < GemmBlocking.ParallelMinWork) ManySmall(batch, a, strideA, b, strideB, c, cOffset, p);
        else Each(0, batch, a, strideA, b, strideB, c, cOffset, p);
    }

    private static void ManySmall<T>(int batch, MatrixView<T> a, int strideA, MatrixView<T> b, int strideB, T[] c, int cOffset, NumericsPolicy p)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Parallelism.For(batch, Math.Max((long)a.Rows * a.Cols * b.Cols, 1), (b0, b1) => Each(b0, b1, a, strideA, b, strideB, c, cOffset, p));

    private static void Each<T>(int b0, int b1, MatrixView<T> a, int strideA, MatrixView<T> b, int strideB, T[] c, int cOffset, NumericsPolicy p)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int mn = a.Rows * b.Cols;
        for (int i = b0; i < b1; i++)
            Run(a with { Offset = a.Offset + i * strideA }, b with { Offset = b.Offset + i * strideB }, c, cOffset + i * mn, p);
    }

    /// <summary>The fused fast path: pins the operands and hands a stride description to the GEMM for this CPU.</summary>
    private static unsafe void Fused<T>(MatrixView<T> a, MatrixView<T> b, T[] c, int cOffset, bool reversed, ProductSplit split)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = a.Rows, k = a.Cols, n = b.Cols;
        fixed (T* pa = a.Data, pb = b.Data, pc = c)
        {
            var g = new GemmProblem<T>(pa + a.Offset, a.RowStride, a.ColStride, pb + b.Offset, b.RowStride, b.ColStride, pc + cOffset, n, 1, m, n, k);
            if (reversed) g = g.KReversed();
            if (Gemv.Supports<T>() && TryGemv(g)) return;
            if (typeof(T) == typeof(float) && SmallGemm.TryRun(Unsafe.As<GemmProblem<T>, GemmProblem<float>>(ref g), split)) return;
            if (typeof(T) == typeof(float)) RunFloat(Unsafe.As<GemmProblem<T>, GemmProblem<float>>(ref g), split);
            else RunDouble(Unsafe.As<GemmProblem<T>, GemmProblem<double>>(ref g), split);
        }
    }

    /// <summary>
    /// A vector times a matrix whose other side is contiguous in k — x·Wᵀ at batch 1, or W·v — goes to
    /// <see cref="Gemv"/>: the same chains, without transposing W through memory. Returns false for other shapes.
    /// </summary>
    private static unsafe bool TryGemv<T>(GemmProblem<T> g) where T : unmanaged
    {
        if (typeof(T) != typeof(float) || g.K < 1) return false;
        var f = Unsafe.As<GemmProblem<T>, GemmProblem<float>>(ref g);
        // 1 × k · k × n with B's columns contiguous in k: y[j] = Σ x[k]·B[k, j], B[k, j] at j·CsB + k.
        if (f.M == 1 && f.N > 1 && f.RsB == 1 && f.CsB != 1)
        {
            Gemv.Run(f.Ap, f.CsA, f.Bp, f.CsB, f.Cp, f.CsC, f.N, f.K);
            return true;
        }
        // m × k · k × 1 with A's rows contiguous in k: C[i] = Σ A[i, k]·v[k].
        if (f.N == 1 && f.M > 1 && f.CsA == 1 && f.RsA != 1)
        {
            Gemv.Run(f.Bp, f.RsB, f.Ap, f.RsA, f.Cp, f.RsC, f.M, f.K);
            return true;
        }
        return false;
    }

    private static void RunFloat(GemmProblem<float> g, ProductSplit split)
    {
        switch (KernelPaths.Active)
        {
            case KernelPath.Avx512:
                GemmDriver<float, F32x16, Vector512<float>, MidTile<F32x16, Vector512<float>, float>>.Run(g, split);
                break;
            case KernelPath.Avx2:
                GemmDriver<float, F32x8, Vector256<float>, ShortTile<F32x8, Vector256<float>, float>>.Run(g, split);
                break;
            default:
                GemmDriver<float, F32x1, float, ShortTile<F32x1, float, float>>.Run(g, split);
                break;
        }
    }

    private static void RunDouble(GemmProblem<double> g, ProductSplit split)
    {
        switch (KernelPaths.Active)
        {
            case KernelPath.Avx512:
                GemmDriver<double, F64x8, Vector512<double>, MidTile<F64x8, Vector512<double>, double>>.Run(g, split);
                break;
            case KernelPath.Avx2:
                GemmDriver<double, F64x4, Vector256<double>, ShortTile<F64x4, Vector256<double>, double>>.Run(g, split);
                break;
            default:
                GemmDriver<double, F64x1, double, ShortTile<F64x1, double, double>>.Run(g, split);
                break;
        }
    }

    /// <summary>c[i, :] = Σ_k a[i, k]·b[k, :], k ascending, a separate multiply and add per term (<see cref="ReductionOrder.Sequential"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowsUnfused<T>(MatrixView<T> a, MatrixView<T> b, T[] c, int cOffset, int i0, int i1)
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
            for (int q = 0; q < k; q++)
            {
                T av = a[i, q];
                var brow = bData.AsSpan(bOff + q * bRow, n);
                int j = 0;
                if (KernelPaths.Active != KernelPath.Scalar && Vector.IsHardwareAccelerated)
                {
                    var va = new Vector<T>(av);
                    for (; j <= n - vw; j += vw) (va * new Vector<T>(brow[j..]) + new Vector<T>(crow[j..])).CopyTo(crow[j..]);
                }
                for (; j < n; j++) crow[j] = av * brow[j] + crow[j];
            }
        }
    }
}
