using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Aperture;

/// <summary>
/// tanh, e^x − 1 and log(1 + x) accurate near 0. TensorPrimitives computes them from exp and log directly, which
/// cancels catastrophically for small arguments (its tanh returns −0 for 1e-20 and −6e-8 for 1e-10f; its ExpM1 and
/// LogP1 return 0 for 1e-30): a deep tanh net started with small weights would lose its forward signal to rounding.
/// Float32 inputs are computed in float64 and rounded once. Vector lanes and the scalar tail run the same operations
/// (fused multiply-adds included), so an element's bits do not depend on its position.
/// </summary>
internal static class Transcendental
{
    private const int Chunk = 256;

    // Below this |x|, tanh comes from its Taylor series; above it, 1 − 2/(e^{2|x|} + 1) loses less than 2 ulps to
    // cancellation (the subtracted term is at most 1/2 there).
    private const double TanhSeriesLimit = 0.55;

    /// <summary>
    /// The Taylor coefficients a₃, a₅, …, a₃₉ of tanh x = x + a₃x³ + a₅x⁵ + …, exact rationals rounded once, from
    /// y' = 1 − y²: (n + 1)·a_{n+1} = −Σ_{i+j=n} a_i·a_j with a₁ = 1. For |x| &lt; 0.55 each term is about 0.12 of the
    /// one before, so 19 terms reach below float64's rounding.
    /// </summary>
    internal static readonly double[] TanhSeries = ComputeTanhSeries(19);

    private static double[] ComputeTanhSeries(int terms)
    {
        int top = 2 * terms + 1;
        var num = new BigInteger[top + 1];
        var den = new BigInteger[top + 1];
        for (int i = 0; i <= top; i++) { num[i] = 0; den[i] = 1; }
        num[1] = 1;
        for (int n = 1; n < top; n++)
        {
            BigInteger sn = 0, sd = 1;
            for (int i = 1; i < n; i++)
            {
                if (num[i].IsZero || num[n - i].IsZero) continue;
                BigInteger pn = num[i] * num[n - i], pd = den[i] * den[n - i];
                sn = sn * pd + pn * sd;
                sd *= pd;
                var g = BigInteger.GreatestCommonDivisor(BigInteger.Abs(sn), sd);
                if (!g.IsZero && !g.IsOne) { sn /= g; sd /= g; }
            }
            num[n + 1] = -sn;
            den[n + 1] = sd * (n + 1);
        }
        var c = new double[terms];
        for (int k = 0; k < terms; k++) c[k] = Ratio(num[2 * k + 3], den[2 * k + 3]);
        return c;
    }

    // A non-zero rational n/d rounded to the nearest double (ties to even), by integer division to 54 significant bits.
    private static double Ratio(BigInteger n, BigInteger d)
    {
        int sign = n.Sign * d.Sign;
        n = BigInteger.Abs(n);
        d = BigInteger.Abs(d);
        int shift = (int)(d.GetBitLength() - n.GetBitLength()) + 54;
        BigInteger q, r;
        while (true)
        {
            q = shift >= 0 ? BigInteger.DivRem(n << shift, d, out r) : BigInteger.DivRem(n, d << -shift, out r);
            long bits = q.GetBitLength();
            if (bits == 54) break;
            shift += bits < 54 ? 1 : -1;
        }
        var mantissa = q >> 1;
        if (!q.IsEven && (!r.IsZero || !mantissa.IsEven)) mantissa += 1;
        return sign * Math.ScaleB((double)mantissa, 1 - shift);
    }

    /// <summary>y = tanh(x), within 2 ulps (x and y may be the same span).</summary>
    public static void Tanh(ReadOnlySpan<double> x, Span<double> y)
    {
        Span<double> e = stackalloc double[Chunk];
        for (int start = 0; start < x.Length; start += Chunk)
        {
            int n = Math.Min(Chunk, x.Length - start);
            var xs = x.Slice(start, n);
            var es = e[..n];
            TensorPrimitives.Abs(xs, es);
            TensorPrimitives.Multiply(es, 2.0, es);
            TensorPrimitives.Exp(es, es);
            TanhFromExp(xs, es, y.Slice(start, n));
        }
    }

    /// <inheritdoc cref="Tanh(ReadOnlySpan{double}, Span{double})"/>
    public static void Tanh(ReadOnlySpan<float> x, Span<float> y) => ViaDouble(x, y, Tanh);

    // e holds e^{2|x|}.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TanhFromExp(ReadOnlySpan<double> x, ReadOnlySpan<double> e, Span<double> y)
    {
        var c = TanhSeries;
        int i = 0;
        if (Vector.IsHardwareAccelerated && !KernelPaths.ForceScalar)
        {
            int w = Vector<double>.Count;
            var limit = new Vector<double>(TanhSeriesLimit);
            var one = Vector<double>.One;
            var two = new Vector<double>(2.0);
            var sign = new Vector<double>(-0.0);
            for (; i <= x.Length - w; i += w)
            {
                var vx = new Vector<double>(x[i..]);
                var a = Vector.Abs(vx);
                var s = a * a;
                var p = new Vector<double>(c[^1]);
                for (int k = c.Length - 2; k >= 0; k--) p = Vector.FusedMultiplyAdd(p, s, new Vector<double>(c[k]));
                var small = Vector.FusedMultiplyAdd(a * s, p, a);
                var big = one - two / (new Vector<double>(e[i..]) + one);
                var t = Vector.ConditionalSelect(Vector.LessThan(a, limit), small, big);
                Vector.ConditionalSelect(Vector.AsVectorInt64(sign), vx, t).CopyTo(y[i..]);
            }
        }
        for (; i < x.Length; i++)
        {
            double xi = x[i], a = Math.Abs(xi), s = a * a, p = c[^1];
            for (int k = c.Length - 2; k >= 0; k--) p = Math.FusedMultiplyAdd(p, s, c[k]);
            double t = a < TanhSeriesLimit ? Math.FusedMultiplyAdd(a * s, p, a) : 1.0 - 2.0 / (e[i] + 1.0);
            y[i] = Math.CopySign(t, xi);
        }
    }

    /// <summary>
    /// y = e^x − 1 by Kahan's correction: with u = e^x rounded, (u − 1)·x / log u cancels the rounding of u, leaving
    /// a few ulps of error for every x (x and y may be the same span).
    /// </summary>
    public static void Expm1(ReadOnlySpan<double> x, Span<double> y)
    {
        Span<double> u = stackalloc double[Chunk];
        Span<double> l = stackalloc double[Chunk];
        for (int start = 0; start < x.Length; start += Chunk)
        {
            int n = Math.Min(Chunk, x.Length - start);
            var xs = x.Slice(start, n);
            var us = u[..n];
            var ls = l[..n];
            TensorPrimitives.Exp(xs, us);
            TensorPrimitives.Log(us, ls);
            var ys = y.Slice(start, n);
            for (int i = 0; i < n; i++)
            {
                double xi = xs[i], ui = us[i], um1 = ui - 1.0;
                ys[i] = ui == 1.0 ? xi                            // |x| below half an ulp of 1: e^x − 1 = x to rounding
                    : um1 == -1.0 || double.IsPositiveInfinity(ui) ? um1 // saturated: −1 or +∞
                    : um1 * (xi / ls[i]);                        // x/log u ≈ 1 first, so e^x near the overflow stays finite
            }
        }
    }

    /// <inheritdoc cref="Expm1(ReadOnlySpan{double}, Span{double})"/>
    public static void Expm1(ReadOnlySpan<float> x, Span<float> y) => ViaDouble(x, y, Expm1);

    /// <summary>
    /// y = log(1 + x) by Goldberg's correction: with u = 1 + x rounded, log u · x / (u − 1) cancels the rounding of u
    /// (x and y may be the same span).
    /// </summary>
    public static void Log1p(ReadOnlySpan<double> x, Span<double> y)
    {
        Span<double> u = stackalloc double[Chunk];
        Span<double> l = stackalloc double[Chunk];
        for (int start = 0; start < x.Length; start += Chunk)
        {
            int n = Math.Min(Chunk, x.Length - start);
            var xs = x.Slice(start, n);
            var us = u[..n];
            var ls = l[..n];
            TensorPrimitives.Add(xs, 1.0, us);
            TensorPrimitives.Log(us, ls);
            var ys = y.Slice(start, n);
            for (int i = 0; i < n; i++)
            {
                double xi = xs[i], ui = us[i];
                ys[i] = ui == 1.0 ? xi                                          // 1 + x rounds to 1: log(1 + x) = x to rounding
                    : ui <= 0.0 || double.IsPositiveInfinity(ui) || double.IsNaN(ui) ? ls[i] // −∞, NaN or +∞, as log gives them
                    : ls[i] * (xi / (ui - 1.0));                      // x/(u − 1) ≈ 1 first: no overflow for huge x
            }
        }
    }

    /// <inheritdoc cref="Log1p(ReadOnlySpan{double}, Span{double})"/>
    public static void Log1p(ReadOnlySpan<float> x, Span<float> y) => ViaDouble(x, y, Log1p);

    /// <summary>log(1 + x) for one value, by the same correction as <see cref="Log1p(ReadOnlySpan{double}, Span{double})"/> (with the platform's log).</summary>
    public static double Log1p(double x)
    {
        double u = 1.0 + x;
        return u == 1.0 ? x : u <= 0.0 || double.IsPositiveInfinity(u) || double.IsNaN(u) ? Math.Log(u) : Math.Log(u) * (x / (u - 1.0));
    }

    private delegate void DoubleKernel(ReadOnlySpan<double> x, Span<double> y);

    // Widens a float32 chunk to float64, applies the kernel, and rounds each result once.
    private static void ViaDouble(ReadOnlySpan<float> x, Span<float> y, DoubleKernel kernel)
    {
        Span<double> d = stackalloc double[Chunk];
        for (int start = 0; start < x.Length; start += Chunk)
        {
            int n = Math.Min(Chunk, x.Length - start);
            var ds = d[..n];
            for (int i = 0; i < n; i++) ds[i] = x[start + i];
            kernel(ds, ds);
            for (int i = 0; i < n; i++) y[start + i] = (float)ds[i];
        }
    }
}
