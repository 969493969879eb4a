using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Aperture;

/// <summary>An elementwise function written once for every register width (see <see cref="VecMath"/>).</summary>
internal interface IUnaryFn
{
    static abstract TV Float<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct;
    static abstract TV Double<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct;
}

internal readonly struct ExpFn : IUnaryFn
{
    public static TV Float<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct => VecMath.ExpF<V, TV, TI>(x);
    public static TV Double<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct => VecMath.ExpD<V, TV, TI>(x);
}

internal readonly struct ExpM1Fn : IUnaryFn
{
    public static TV Float<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct => VecMath.ExpM1F<V, TV, TI>(x);
    public static TV Double<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct => VecMath.ExpM1D<V, TV, TI>(x);
}

internal readonly struct LogFn : IUnaryFn
{
    public static TV Float<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct => VecMath.LogF<V, TV, TI>(x);
    public static TV Double<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct => VecMath.LogD<V, TV, TI>(x);
}

internal readonly struct TanhFn : IUnaryFn
{
    public static TV Float<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct => VecMath.TanhF<V, TV, TI>(x);
    public static TV Double<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct => VecMath.TanhD<V, TV, TI>(x);
}

internal readonly struct SigmoidFn : IUnaryFn
{
    public static TV Float<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct => VecMath.SigmoidF<V, TV, TI>(x);
    public static TV Double<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct => VecMath.SigmoidD<V, TV, TI>(x);
}

internal readonly struct Log1pFn : IUnaryFn
{
    public static TV Float<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct => VecMath.Log1pF<V, TV, TI>(x);
    public static TV Double<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct => VecMath.Log1pD<V, TV, TI>(x);
}

internal readonly struct SoftplusFn : IUnaryFn
{
    public static TV Float<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct => VecMath.SoftplusF<V, TV, TI>(x);
    public static TV Double<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct => VecMath.SoftplusD<V, TV, TI>(x);
}

/// <summary>
/// Applies an <see cref="IUnaryFn"/> over spans with the widest registers the current <see cref="KernelPaths"/> allow;
/// the tail uses the scalar instantiation of the same function, so it agrees with the vector lanes bit for bit.
/// Long spans are split over threads (outputs are independent).
/// </summary>
internal static unsafe class UnaryMath
{
    private const int ParallelMin = 1 << 15;

    public static void Apply<F>(ReadOnlySpan<float> x, Span<float> y) where F : IUnaryFn
    {
        if (y.Length < x.Length) throw new ArgumentException($"output of length {y.Length} is shorter than the input ({x.Length})");
        fixed (float* px = x, py = y)
        {
            if (x.Length >= ParallelMin && Parallelism.Threads > 1) SplitFloat<F>((nint)px, (nint)py, x.Length);
            else RunFloat<F>(px, py, x.Length);
        }
    }

    public static void Apply<F>(ReadOnlySpan<double> x, Span<double> y) where F : IUnaryFn
    {
        if (y.Length < x.Length) throw new ArgumentException($"output of length {y.Length} is shorter than the input ({x.Length})");
        fixed (double* px = x, py = y)
        {
            if (x.Length >= ParallelMin && Parallelism.Threads > 1) SplitDouble<F>((nint)px, (nint)py, x.Length);
            else RunDouble<F>(px, py, x.Length);
        }
    }

    // Separate from Apply so that the lambda's closure is allocated only for long spans.
    private static void SplitFloat<F>(nint x, nint y, int n) where F : IUnaryFn =>
        Parallelism.For((n + 1023) / 1024, 1024 * 16, (b0, b1) =>
        {
            int i0 = b0 * 1024, i1 = Math.Min(n, b1 * 1024);
            RunFloat<F>((float*)x + i0, (float*)y + i0, i1 - i0);
        });

    private static void SplitDouble<F>(nint x, nint y, int n) where F : IUnaryFn =>
        Parallelism.For((n + 1023) / 1024, 1024 * 16, (b0, b1) =>
        {
            int i0 = b0 * 1024, i1 = Math.Min(n, b1 * 1024);
            RunDouble<F>((double*)x + i0, (double*)y + i0, i1 - i0);
        });

    /// <summary>One value, on the scalar path (the reference every vector lane agrees with).</summary>
    public static float Scalar<F>(float x) where F : IUnaryFn => F.Float<M32x1, float, int>(x);

    /// <inheritdoc cref="Scalar{F}(float)"/>
    public static double Scalar<F>(double x) where F : IUnaryFn => F.Double<M64x1, double, long>(x);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunFloat<F>(float* x, float* y, int n) where F : IUnaryFn
    {
        int i = 0;
        switch (KernelPaths.Active)
        {
            case KernelPath.Avx512:
                for (; i + 16 <= n; i += 16) M32x16.Store(y + i, F.Float<M32x16, Vector512<float>, Vector512<int>>(M32x16.Load(x + i)));
                break;
            case KernelPath.Avx2:
                for (; i + 8 <= n; i += 8) M32x8.Store(y + i, F.Float<M32x8, Vector256<float>, Vector256<int>>(M32x8.Load(x + i)));
                break;
        }
        for (; i < n; i++) y[i] = F.Float<M32x1, float, int>(x[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunDouble<F>(double* x, double* y, int n) where F : IUnaryFn
    {
        int i = 0;
        switch (KernelPaths.Active)
        {
            case KernelPath.Avx512:
                for (; i + 8 <= n; i += 8) M64x8.Store(y + i, F.Double<M64x8, Vector512<double>, Vector512<long>>(M64x8.Load(x + i)));
                break;
            case KernelPath.Avx2:
                for (; i + 4 <= n; i += 4) M64x4.Store(y + i, F.Double<M64x4, Vector256<double>, Vector256<long>>(M64x4.Load(x + i)));
                break;
        }
        for (; i < n; i++) y[i] = F.Double<M64x1, double, long>(x[i]);
    }
}
