using System.Buffers;
using System.Numerics;
using System.Runtime.Intrinsics;

namespace Aperture;

/// <summary>
/// Row maxima and log Σ exp over contiguous rows. The log-sum-exp of a row is computed with exactly the operations
/// of its composite definition, m + log Σ exp(x − m), in the same order (each x − m rounded, exp and log from
/// <see cref="VecMath"/>, the sum in the policy's order), so the fused kernel and the composite agree bit for bit;
/// the fused one only skips four temporary tensors and their passes over memory.
/// </summary>
internal static class LogSumExpKernel
{
    /// <summary>The largest value (IEEE 754 maximum: NaN if any is NaN, +0 above −0), −∞ for an empty row.</summary>
    public static T Max<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0, n = x.Length;
        T m = T.NegativeInfinity;
        ref T r = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        // Maximum is exact, commutative and associative under these rules, so lanes may meet in any order.
        switch (KernelPaths.Active)
        {
            case KernelPath.Avx512 when n >= Vector512<T>.Count:
                {
                    var a = Vector512.Create(T.NegativeInfinity);
                    for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count) a = Vector512.Max(a, Vector512.LoadUnsafe(ref r, (nuint)i));
                    for (int l = 0; l < Vector512<T>.Count; l++) m = T.Max(m, a[l]);
                    break;
                }
            case KernelPath.Avx2 when n >= Vector256<T>.Count:
                {
                    var a = Vector256.Create(T.NegativeInfinity);
                    for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count) a = Vector256.Max(a, Vector256.LoadUnsafe(ref r, (nuint)i));
                    for (int l = 0; l < Vector256<T>.Count; l++) m = T.Max(m, a[l]);
                    break;
                }
        }
        for (; i < n; i++) m = T.Max(m, x[i]);
        return m;
    }

    /// <summary>
    /// y[o] = m + log Σ_i exp(x[o, i] − m) for each of <paramref name="outer"/> contiguous rows of <paramref name="inner"/>
    /// values (m the row maximum, 0 when it is −∞). When given, <paramref name="e"/> receives exp(x − m) (row by row),
    /// <paramref name="s"/> the sums and <paramref name="m"/> the shifts, which the backward pass reuses.
    /// </summary>
    public static void Rows<T>(T[] src, int offset, int outer, int inner, T[] y, T[]? e, T[]? s, T[]? m, NumericsPolicy p)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Parallelism.For(outer, (long)inner * 24, (o0, o1) =>
        {
            var tmp = e is null ? ArrayPool<T>.Shared.Rent(Math.Max(inner, 1)) : null;
            try
            {
                for (int o = o0; o < o1; o++)
                {
                    var row = new ReadOnlySpan<T>(src, offset + o * inner, inner);
                    var t = e is null ? tmp.AsSpan(0, inner) : e.AsSpan(o * inner, inner);
                    T shift = Max(row);
                    if (T.IsNegativeInfinity(shift)) shift = T.Zero;
                    for (int i = 0; i < inner; i++) t[i] = row[i] - shift;
                    T sum, log;
                    if (typeof(T) == typeof(float))
                    {
                        var f = System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(t);
                        UnaryMath.Apply<ExpFn>(f, f);
                        float total = Reduce.Sum(f, p);
                        sum = (T)(object)total;
                        log = (T)(object)UnaryMath.Scalar<LogFn>(total);
                    }
                    else
                    {
                        var d = System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(t);
                        UnaryMath.Apply<ExpFn>(d, d);
                        double total = Reduce.Sum(d, p);
                        sum = (T)(object)total;
                        log = (T)(object)UnaryMath.Scalar<LogFn>(total);
                    }
                    y[o] = log + shift;
                    if (s is not null) s[o] = sum;
                    if (m is not null) m[o] = shift;
                }
            }
            finally
            {
                if (tmp is not null) ArrayPool<T>.Shared.Return(tmp);
            }
        });
    }
}
