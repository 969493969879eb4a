using System.Runtime.CompilerServices;

namespace Aperture;

/// <summary>
/// exp, expm1, log, log1p, tanh, sigmoid and softplus for float32 and float64, each written once against <see cref="IMathVec{TV, TI, T}"/>
/// and so evaluated by the same operations in the same order with scalar, 256-bit and 512-bit registers: a result does
/// not depend on the code path, the CPU or the position of an element in its array. (Library routines such as
/// <c>MathF.Exp</c> or TensorPrimitives' vector kernels each use their own polynomial, so their bits differ by path.)
/// </summary>
/// <remarks>
/// The method is the classic one: x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite, ln2 split in two), e^r − 1 by its
/// Taylor polynomial (degree 7 for float, 13 for double, below half an ulp of truncation error), and 2^n built in
/// the exponent bits as two factors so that every n from the subnormal range to overflow is exact. The log reduces
/// x = 2^k·m with m in [√2/2, √2) and sums 2·atanh(s), s = (m−1)/(m+1), as in fdlibm. Special values (±0, ±∞, NaN,
/// subnormals) follow IEEE 754 and C99 Annex F. Accuracy is a couple of ulp (see the tests for the measured bounds).
/// </remarks>
internal static class VecMath
{
    private const double Log2E = 1.4426950408889634;
    // ln 2 split so that n·Ln2Hi is exact for every n in range.
    private const double Ln2HiF = 0.693145751953125, Ln2LoF = 1.428606765330187045e-06;
    private const double Ln2HiD = 6.93147180369123816490e-01, Ln2LoD = 1.90821492927058770002e-10;
    // 1.5·2^23 and 1.5·2^52: adding one rounds a float (double) to an integer held in the low mantissa bits.
    private const double ShiftF = 12582912.0, ShiftD = 6755399441055744.0;
    private const int ShiftFBits = 0x4B400000;
    private const long ShiftDBits = 0x4338000000000000;

    // ---- float32 ---------------------------------------------------------------------------------------------

    /// <summary>e^r − 1 for |r| ≤ ln2/2: r + r²·(1/2! + r/3! + … + r⁵/7!).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV ExpM1PolyF<V, TV, TI>(TV r) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct
    {
        TV q = V.Fma(V.C(1.0 / 5040), r, V.C(1.0 / 720));
        q = V.Fma(q, r, V.C(1.0 / 120));
        q = V.Fma(q, r, V.C(1.0 / 24));
        q = V.Fma(q, r, V.C(1.0 / 6));
        q = V.Fma(q, r, V.C(0.5));
        return V.Fma(V.Mul(r, r), q, r);
    }

    /// <summary>2^n for an integer-valued float n in the normal exponent range.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Pow2F<V, TV, TI>(TV n) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct =>
        V.FromBits(V.Shl(V.ISub(V.Bits(V.Add(n, V.C(ShiftF))), V.CI(ShiftFBits - 127)), 23));

    /// <summary>n = round(x/ln2) (as a float) and r = x − n·ln2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV ReduceF<V, TV, TI>(TV x, out TV n) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct
    {
        TV shift = V.C(ShiftF);
        n = V.Sub(V.Fma(x, V.C(Log2E), shift), shift);
        TV r = V.Fma(n, V.C(-Ln2HiF), x);
        return V.Fma(n, V.C(-Ln2LoF), r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Clamp<V, TV, TI, T>(TV x, double lo, double hi) where V : IMathVec<TV, TI, T> where TV : struct where TI : struct where T : unmanaged
    {
        // NaN fails both comparisons and passes through.
        x = V.Select(V.Lt(V.C(hi), x), V.C(hi), x);
        return V.Select(V.Lt(x, V.C(lo)), V.C(lo), x);
    }

    /// <summary>NaN inputs give themselves (quieted) back, the same on every path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV KeepNaN<V, TV, TI, T>(TV x, TV y) where V : IMathVec<TV, TI, T> where TV : struct where TI : struct where T : unmanaged =>
        V.Select(V.Eq(x, x), y, V.Add(x, x));

    /// <summary>e^x for float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpF<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct
    {
        // Past 89 the result overflows, below −104 it rounds to zero; the clamp keeps n (−151..129) representable.
        TV xc = Clamp<V, TV, TI, float>(x, -104, 89);
        TV r = ReduceF<V, TV, TI>(xc, out TV n);
        TV p = ExpM1PolyF<V, TV, TI>(r);
        TV shift = V.C(ShiftF);
        TV n1 = V.Sub(V.Fma(n, V.C(0.5), shift), shift);
        TV s1 = Pow2F<V, TV, TI>(n1), s2 = Pow2F<V, TV, TI>(V.Sub(n, n1));
        return KeepNaN<V, TV, TI, float>(x, V.Mul(V.Fma(p, s1, s1), s2));
    }

    /// <summary>e^x − 1 for float32, accurate near zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpM1F<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct
    {
        TV xc = Clamp<V, TV, TI, float>(x, -104, 89);
        TV r = ReduceF<V, TV, TI>(xc, out TV n);
        TV p = ExpM1PolyF<V, TV, TI>(r);
        TV one = V.C(1);
        // Small n: 2^n·(1+p) − 1 = fma(2^n, p, 2^n − 1), with 2^n − 1 exact, one rounding. Large n: the −1 is lost
        // in rounding anyway, and the exp form reaches overflow.
        TV sb = Pow2F<V, TV, TI>(Clamp<V, TV, TI, float>(n, -30, 127));
        TV small = V.Fma(sb, p, V.Sub(sb, one));
        TV shift = V.C(ShiftF);
        TV n1 = V.Sub(V.Fma(n, V.C(0.5), shift), shift);
        TV s1 = Pow2F<V, TV, TI>(n1), s2 = Pow2F<V, TV, TI>(V.Sub(n, n1));
        TV large = V.Sub(V.Mul(V.Fma(p, s1, s1), s2), one);
        TV y = V.Select(V.Lt(V.C(24), n), large, small);
        // expm1(−0) is −0, which the polynomial (r + r²·q) would turn into +0.
        return KeepNaN<V, TV, TI, float>(x, V.Select(V.Eq(x, V.C(0)), x, y));
    }

    /// <summary>Natural logarithm for float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV LogF<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct
    {
        // Subnormals are scaled into the normal range first.
        TV sub = V.Lt(x, V.C(1.1754943508222875e-38));
        TV xs = V.Select(sub, V.Mul(x, V.C(8388608.0)), x);
        TV kAdjust = V.Select(sub, V.C(-23), V.C(0));
        // x = 2^k·m, m in [√2/2, √2): offsetting by the bits of √2/2 puts the binade boundary at √2.
        TI ix = V.IAdd(V.Bits(xs), V.CI(0x3f800000 - 0x3f3504f3));
        TI k = V.Shr(ix, 23);                                           // biased exponent, 0..255 for x > 0
        TV m = V.FromBits(V.IAdd(V.IAnd(ix, V.CI(0x007fffff)), V.CI(0x3f3504f3)));
        TV kf = V.Add(V.Sub(V.FromBits(V.IAdd(k, V.CI(ShiftFBits - 127))), V.C(ShiftF)), kAdjust);
        TV f = V.Sub(m, V.C(1));
        TV s = V.Div(f, V.Add(V.C(2), f));
        TV z = V.Mul(s, s);
        // R = 2z/3 + 2z²/5 + 2z³/7 + 2z⁴/9 (|z| ≤ 0.0295: truncation below 2^-29).
        TV rz = V.Fma(V.C(2.0 / 9), z, V.C(2.0 / 7));
        rz = V.Fma(rz, z, V.C(2.0 / 5));
        rz = V.Fma(rz, z, V.C(2.0 / 3));
        rz = V.Mul(rz, z);
        TV hfsq = V.Mul(V.C(0.5), V.Mul(f, f));
        // log(1+f) = f − (hfsq − s·(hfsq + R)): f is exact, so the leading term carries no error.
        TV logm = V.Sub(f, V.Sub(hfsq, V.Mul(s, V.Add(hfsq, rz))));
        TV y = V.Fma(kf, V.C(Ln2HiF), V.Fma(kf, V.C(Ln2LoF), logm));
        y = V.Select(V.Eq(x, V.C(0)), V.C(double.NegativeInfinity), y);
        y = V.Select(V.Lt(x, V.C(0)), V.C(double.NaN), y);
        y = V.Select(V.Eq(x, V.C(double.PositiveInfinity)), x, y);
        return KeepNaN<V, TV, TI, float>(x, y);
    }

    /// <summary>Hyperbolic tangent for float32: expm1(2|x|) / (expm1(2|x|) + 2), with the sign of x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV TanhF<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct
    {
        // tanh rounds to 1 from |x| ≈ 8.7; at the clamp the formula gives exactly 1.
        TV a = Clamp<V, TV, TI, float>(V.Abs(x), 0, 9.1);
        TV y2 = V.Add(a, a);
        TV r = ReduceF<V, TV, TI>(y2, out TV n);
        TV p = ExpM1PolyF<V, TV, TI>(r);
        TV s = Pow2F<V, TV, TI>(n);
        TV e = V.Fma(s, p, V.Sub(s, V.C(1)));
        TV t = V.Div(e, V.Add(e, V.C(2)));
        return KeepNaN<V, TV, TI, float>(x, V.CopySign(t, x));
    }

    /// <summary>The logistic function for float32: 1/(1 + e^−|x|), or e^−|x|/(1 + e^−|x|) for x &lt; 0 (no cancellation, no overflow).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV SigmoidF<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct
    {
        TV e = ExpF<V, TV, TI>(V.Sub(V.C(0), V.Abs(x)));
        TV num = V.Select(V.Lt(x, V.C(0)), e, V.C(1));
        return KeepNaN<V, TV, TI, float>(x, V.Div(num, V.Add(V.C(1), e)));
    }

    /// <summary>log(1 + x) for float32: log(u) for u = 1 + x rounded, plus the first-order correction (x − (u − 1))/u.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Log1pF<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct
    {
        TV u = V.Add(V.C(1), x);
        TV c = V.Div(V.Sub(x, V.Sub(u, V.C(1))), u);
        c = V.Select(V.Eq(c, c), c, V.C(0));           // x = −1 or ±∞: no correction
        TV y = V.Add(LogF<V, TV, TI>(u), c);
        return KeepNaN<V, TV, TI, float>(x, V.Select(V.Eq(x, V.C(0)), x, y));
    }

    /// <summary>log(1 + e^x) for float32 as max(x, 0) + log1p(e^−|x|): no overflow, no cancellation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV SoftplusF<V, TV, TI>(TV x) where V : IMathVec<TV, TI, float> where TV : struct where TI : struct
    {
        TV tail = Log1pF<V, TV, TI>(ExpF<V, TV, TI>(V.Sub(V.C(0), V.Abs(x))));
        return KeepNaN<V, TV, TI, float>(x, V.Add(V.Select(V.Lt(V.C(0), x), x, V.C(0)), tail));
    }

    // ---- float64 ---------------------------------------------------------------------------------------------

    /// <summary>e^r − 1 for |r| ≤ ln2/2: r + r²·(1/2! + … + r¹¹/13!).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV ExpM1PolyD<V, TV, TI>(TV r) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct
    {
        TV q = V.Fma(V.C(1.0 / 6227020800), r, V.C(1.0 / 479001600));
        q = V.Fma(q, r, V.C(1.0 / 39916800));
        q = V.Fma(q, r, V.C(1.0 / 3628800));
        q = V.Fma(q, r, V.C(1.0 / 362880));
        q = V.Fma(q, r, V.C(1.0 / 40320));
        q = V.Fma(q, r, V.C(1.0 / 5040));
        q = V.Fma(q, r, V.C(1.0 / 720));
        q = V.Fma(q, r, V.C(1.0 / 120));
        q = V.Fma(q, r, V.C(1.0 / 24));
        q = V.Fma(q, r, V.C(1.0 / 6));
        q = V.Fma(q, r, V.C(0.5));
        return V.Fma(V.Mul(r, r), q, r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Pow2D<V, TV, TI>(TV n) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct =>
        V.FromBits(V.Shl(V.ISub(V.Bits(V.Add(n, V.C(ShiftD))), V.CI(ShiftDBits - 1023)), 52));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV ReduceD<V, TV, TI>(TV x, out TV n) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct
    {
        TV shift = V.C(ShiftD);
        n = V.Sub(V.Fma(x, V.C(Log2E), shift), shift);
        TV r = V.Fma(n, V.C(-Ln2HiD), x);
        return V.Fma(n, V.C(-Ln2LoD), r);
    }

    /// <summary>e^x for float64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpD<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct
    {
        TV xc = Clamp<V, TV, TI, double>(x, -746, 710);
        TV r = ReduceD<V, TV, TI>(xc, out TV n);
        TV p = ExpM1PolyD<V, TV, TI>(r);
        TV shift = V.C(ShiftD);
        TV n1 = V.Sub(V.Fma(n, V.C(0.5), shift), shift);
        TV s1 = Pow2D<V, TV, TI>(n1), s2 = Pow2D<V, TV, TI>(V.Sub(n, n1));
        return KeepNaN<V, TV, TI, double>(x, V.Mul(V.Fma(p, s1, s1), s2));
    }

    /// <summary>e^x − 1 for float64, accurate near zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpM1D<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct
    {
        TV xc = Clamp<V, TV, TI, double>(x, -746, 710);
        TV r = ReduceD<V, TV, TI>(xc, out TV n);
        TV p = ExpM1PolyD<V, TV, TI>(r);
        TV one = V.C(1);
        TV sb = Pow2D<V, TV, TI>(Clamp<V, TV, TI, double>(n, -60, 1023));
        TV small = V.Fma(sb, p, V.Sub(sb, one));
        TV shift = V.C(ShiftD);
        TV n1 = V.Sub(V.Fma(n, V.C(0.5), shift), shift);
        TV s1 = Pow2D<V, TV, TI>(n1), s2 = Pow2D<V, TV, TI>(V.Sub(n, n1));
        TV large = V.Sub(V.Mul(V.Fma(p, s1, s1), s2), one);
        TV y = V.Select(V.Lt(V.C(53), n), large, small);
        return KeepNaN<V, TV, TI, double>(x, V.Select(V.Eq(x, V.C(0)), x, y));
    }

    /// <summary>Natural logarithm for float64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV LogD<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct
    {
        TV sub = V.Lt(x, V.C(2.2250738585072014e-308));
        TV xs = V.Select(sub, V.Mul(x, V.C(4503599627370496.0)), x);
        TV kAdjust = V.Select(sub, V.C(-52), V.C(0));
        TI ix = V.IAdd(V.Bits(xs), V.CI(0x3ff0000000000000 - 0x3fe6a09e667f3bcd));
        TI k = V.Shr(ix, 52);
        TV m = V.FromBits(V.IAdd(V.IAnd(ix, V.CI(0x000fffffffffffff)), V.CI(0x3fe6a09e667f3bcd)));
        TV kf = V.Add(V.Sub(V.FromBits(V.IAdd(k, V.CI(ShiftDBits - 1023))), V.C(ShiftD)), kAdjust);
        TV f = V.Sub(m, V.C(1));
        TV s = V.Div(f, V.Add(V.C(2), f));
        TV z = V.Mul(s, s);
        // R = Σ_{i=1..10} 2zⁱ/(2i+1) (|z| ≤ 0.0295: truncation below 2^-60).
        TV rz = V.Fma(V.C(2.0 / 21), z, V.C(2.0 / 19));
        rz = V.Fma(rz, z, V.C(2.0 / 17));
        rz = V.Fma(rz, z, V.C(2.0 / 15));
        rz = V.Fma(rz, z, V.C(2.0 / 13));
        rz = V.Fma(rz, z, V.C(2.0 / 11));
        rz = V.Fma(rz, z, V.C(2.0 / 9));
        rz = V.Fma(rz, z, V.C(2.0 / 7));
        rz = V.Fma(rz, z, V.C(2.0 / 5));
        rz = V.Fma(rz, z, V.C(2.0 / 3));
        rz = V.Mul(rz, z);
        TV hfsq = V.Mul(V.C(0.5), V.Mul(f, f));
        TV logm = V.Sub(f, V.Sub(hfsq, V.Mul(s, V.Add(hfsq, rz))));
        TV y = V.Fma(kf, V.C(Ln2HiD), V.Fma(kf, V.C(Ln2LoD), logm));
        y = V.Select(V.Eq(x, V.C(0)), V.C(double.NegativeInfinity), y);
        y = V.Select(V.Lt(x, V.C(0)), V.C(double.NaN), y);
        y = V.Select(V.Eq(x, V.C(double.PositiveInfinity)), x, y);
        return KeepNaN<V, TV, TI, double>(x, y);
    }

    /// <summary>Hyperbolic tangent for float64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV TanhD<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct
    {
        // tanh rounds to 1 from |x| ≈ 19.06.
        TV a = V.Abs(x);
        TV ac = Clamp<V, TV, TI, double>(a, 0, 19.1);
        TV y2 = V.Add(ac, ac);
        TV r = ReduceD<V, TV, TI>(y2, out TV n);
        TV p = ExpM1PolyD<V, TV, TI>(r);
        TV s = Pow2D<V, TV, TI>(n);
        TV e = V.Fma(s, p, V.Sub(s, V.C(1)));
        TV t = V.Div(e, V.Add(e, V.C(2)));
        t = V.Select(V.Lt(a, V.C(19.1)), t, V.C(1));
        return KeepNaN<V, TV, TI, double>(x, V.CopySign(t, x));
    }

    /// <summary>The logistic function for float64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV SigmoidD<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct
    {
        TV e = ExpD<V, TV, TI>(V.Sub(V.C(0), V.Abs(x)));
        TV num = V.Select(V.Lt(x, V.C(0)), e, V.C(1));
        return KeepNaN<V, TV, TI, double>(x, V.Div(num, V.Add(V.C(1), e)));
    }

    /// <summary>log(1 + x) for float64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Log1pD<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct
    {
        TV u = V.Add(V.C(1), x);
        TV c = V.Div(V.Sub(x, V.Sub(u, V.C(1))), u);
        c = V.Select(V.Eq(c, c), c, V.C(0));
        TV y = V.Add(LogD<V, TV, TI>(u), c);
        return KeepNaN<V, TV, TI, double>(x, V.Select(V.Eq(x, V.C(0)), x, y));
    }

    /// <summary>log(1 + e^x) for float64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV SoftplusD<V, TV, TI>(TV x) where V : IMathVec<TV, TI, double> where TV : struct where TI : struct
    {
        TV tail = Log1pD<V, TV, TI>(ExpD<V, TV, TI>(V.Sub(V.C(0), V.Abs(x))));
        return KeepNaN<V, TV, TI, double>(x, V.Add(V.Select(V.Lt(V.C(0), x), x, V.C(0)), tail));
    }
}
