namespace Aperture.Lab.Statistics;

/// <summary>The standard normal distribution: its CDF Φ and quantile Φ⁻¹, to full double precision.</summary>
public static class Normal
{
    private const double Sqrt2Pi = 2.5066282746310002;   // √(2π)
    private const double LogSqrtPi = 0.57236494292470008; // ln Γ(½) = ln √π
    private const double SqrtPi = 1.7724538509055160;     // Γ(½) = √π

    /// <summary>
    /// Φ(x) = P(Z ≤ x) for a standard normal Z. Computed as Φ(x) = ½·erfc(−x/√2) with erfc(z) = Q(½, z²), the
    /// regularized upper incomplete gamma function, by its power series for z² &lt; 1.5 and its Legendre continued fraction
    /// (modified Lentz) otherwise (Press et al., Numerical Recipes, 3rd ed., §6.2). The tail nearer x is computed
    /// directly, so Φ(x) keeps its relative precision far into the lower tail (Φ(−30) ≈ 4.9·10⁻¹⁹⁸).
    /// </summary>
    public static double Cdf(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        if (double.IsPositiveInfinity(x)) return 1;
        if (double.IsNegativeInfinity(x)) return 0;
        double h = 0.5 * x * x;
        if (h < 1.5) return 0.5 + CdfMinusHalf(x);
        double tail = 0.5 * UpperGammaHalf(x); // P(Z > |x|)
        return x >= 0 ? 1 - tail : tail;
    }

    // Φ(x) − ½ = ±½·P(½, x²/2), with full relative precision near 0 (for |x| &lt; √3).
    private static double CdfMinusHalf(double x)
    {
        double half = 0.5 * LowerGammaHalf(0.5 * x * x);
        return x >= 0 ? half : -half;
    }

    /// <summary>
    /// Φ⁻¹(p): the z with Φ(z) = p. Acklam's rational approximation (P. J. Acklam, "An algorithm for computing the inverse
    /// normal cumulative distribution function", 2003; relative error 1.15·10⁻⁹) followed by two Halley refinement steps
    /// against <see cref="Cdf"/>, which bring it to full double precision. Φ⁻¹(0) = −∞ and Φ⁻¹(1) = +∞.
    /// </summary>
    public static double Quantile(double p)
    {
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "probability must lie in [0, 1]");
        if (p == 0) return double.NegativeInfinity;
        if (p == 1) return double.PositiveInfinity;
        if (p == 0.5) return 0;
        if (p > 0.5) return -Quantile(1 - p); // work in the lower tail, where p carries its full precision
        double x = Acklam(p);
        for (int i = 0; i < 2; i++)
        {
            // Near the center compare Φ(x) − ½ with p − ½ (exact), which keeps the relative precision of small |x|.
            double e = 0.5 * x * x < 1.5 ? CdfMinusHalf(x) - (p - 0.5) : Cdf(x) - p;
            double u = e * Sqrt2Pi * Math.Exp(0.5 * x * x);
            x -= u / (1 + 0.5 * x * u);
        }
        return x;
    }

    private static double Acklam(double p)
    {
        const double pLow = 0.02425;
        if (p < pLow)
        {
            double q = Math.Sqrt(-2 * Math.Log(p));
            return (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) /
                   ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1);
        }
        double c = p - 0.5, r = c * c;
        return (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * c /
               (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1);
    }

    private static ReadOnlySpan<double> A =>
        [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
    private static ReadOnlySpan<double> B =>
        [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
    private static ReadOnlySpan<double> C =>
        [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
    private static ReadOnlySpan<double> D =>
        [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];

    // P(½, h) by its series: e^{−h} h^a / Γ(a) · Σ hⁿ / (a(a+1)…(a+n)), a = ½.
    private static double LowerGammaHalf(double h)
    {
        if (h == 0) return 0;
        double a = 0.5, ap = a, term = 1 / a, sum = term;
        for (int n = 1; n < 500; n++)
        {
            ap += 1;
            term *= h / ap;
            sum += term;
            if (term < sum * 1e-17) break;
        }
        return sum * Math.Exp(-h + a * Math.Log(h) - LogSqrtPi);
    }

    // Q(½, x²/2) by its continued fraction (modified Lentz), for x²/2 ≥ 1.5. The factor e^{−x²/2} is computed as
    // e^{−xs²/2}·e^{−(x − xs)(x + xs)/2} with xs = x rounded to a sixteenth (so xs² is exact), as in Cody's algorithm,
    // which keeps the rounding of x²/2 out of the exponent.
    private static double UpperGammaHalf(double x)
    {
        const double tiny = 1e-300, a = 0.5;
        x = Math.Abs(x);
        double h = 0.5 * x * x;
        double b = h + 1 - a, c = 1 / tiny, d = 1 / b, f = d;
        for (int i = 1; i < 500; i++)
        {
            double an = -i * (i - a);
            b += 2;
            d = an * d + b; if (Math.Abs(d) < tiny) d = tiny;
            c = b + an / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            double delta = d * c;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        double xs = Math.Round(x * 16) / 16;
        double gauss = Math.Exp(-0.5 * xs * xs) * Math.Exp(-0.5 * (x - xs) * (x + xs));
        return gauss * Math.Sqrt(h) * f / SqrtPi;
    }
}
