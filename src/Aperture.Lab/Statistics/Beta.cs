namespace Aperture.Lab.Statistics;

/// <summary>The beta distribution Beta(a, b): its CDF and quantiles (for exact binomial intervals).</summary>
public static class Beta
{
    /// <summary>P(X ≤ x) for X ~ Beta(a, b): the regularized incomplete beta function I_x(a, b).</summary>
    public static double Cdf(double x, double a, double b)
    {
        CheckShape(a, b);
        if (double.IsNaN(x)) return double.NaN;
        return StudentT.RegularizedIncompleteBeta(x, a, b);
    }

    /// <summary>
    /// The <paramref name="p"/>-quantile of Beta(a, b): the x in [0, 1] with I_x(a, b) = p, found by bisection on
    /// <see cref="StudentT.RegularizedIncompleteBeta"/> (monotone in x) until the bracket reaches the resolution of a
    /// double. Quantile(0) = 0 and Quantile(1) = 1.
    /// </summary>
    public static double Quantile(double p, double a, double b)
    {
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "probability must lie in [0, 1]");
        CheckShape(a, b);
        if (p == 0) return 0;
        if (p == 1) return 1;
        double lo = 0, hi = 1;
        for (int i = 0; i < 1100; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (mid <= lo || mid >= hi) break;
            if (StudentT.RegularizedIncompleteBeta(mid, a, b) < p) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    private static void CheckShape(double a, double b)
    {
        if (!(a > 0 && double.IsFinite(a))) throw new ArgumentOutOfRangeException(nameof(a), a, "shape a must be positive and finite");
        if (!(b > 0 && double.IsFinite(b))) throw new ArgumentOutOfRangeException(nameof(b), b, "shape b must be positive and finite");
    }
}
