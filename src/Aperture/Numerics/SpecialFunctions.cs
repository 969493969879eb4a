namespace Aperture;

/// <summary>Special functions the BCL lacks, accurate to a few units in the last place of a double.</summary>
public static class SpecialFunctions
{
    /// <summary>The error function erf(x) = 2/√π ∫₀ˣ e^(−t²) dt.</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double a = Math.Abs(x);
        if (a >= 6) return Math.CopySign(1.0, x);
        if (a < 2.5) return ErfSeries(x);
        return Math.CopySign(1.0 - ErfcContinuedFraction(a), x);
    }

    /// <summary>The complementary error function 1 − erf(x), accurate in its tail.</summary>
    public static double Erfc(double x)
    {
        if (double.IsNaN(x)) return x;
        if (x < 2.5) return 1.0 - Erf(x);
        if (x > 27) return 0;
        return ErfcContinuedFraction(x);
    }

    // erf(x) = 2/√π · e^(−x²) · Σ (2x²)^n x / (1·3·…·(2n+1)): every term positive, so no cancellation.
    private static double ErfSeries(double x)
    {
        double x2 = 2 * x * x, term = x, sum = x;
        for (int n = 1; n < 200; n++)
        {
            term *= x2 / (2 * n + 1);
            sum += term;
            if (Math.Abs(term) <= 1e-17 * Math.Abs(sum)) break;
        }
        return 2 / Math.Sqrt(Math.PI) * Exp(-x * x) * sum;
    }

    // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated by the modified Lentz method.
    private static double ErfcContinuedFraction(double x)
    {
        const double tiny = 1e-300;
        double f = x, c = x, d = 0;
        for (int n = 1; n < 500; n++)
        {
            double an = n / 2.0;
            d = x + an * d;
            if (Math.Abs(d) < tiny) d = tiny;
            c = x + an / c;
            if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return Exp(-x * x) / Math.Sqrt(Math.PI) / f;
    }

    // Aperture's own exp (the same bits on every CPU), not the C library's.
    private static double Exp(double x) => UnaryMath.Scalar<ExpFn>(x);
}
