namespace Aperture.Lab.Statistics;

/// <summary>Student's t distribution: its CDF and quantiles, for confidence intervals over a handful of seeds.</summary>
public static class StudentT
{
    /// <summary>P(T ≤ t) for T with <paramref name="dof"/> degrees of freedom.</summary>
    public static double Cdf(double t, double dof)
    {
        if (dof <= 0) throw new ArgumentOutOfRangeException(nameof(dof), dof, "degrees of freedom must be positive");
        if (double.IsNaN(t)) return double.NaN;
        if (double.IsPositiveInfinity(t)) return 1;
        if (double.IsNegativeInfinity(t)) return 0;
        // P(|T| > |t|) = I_{ν/(ν+t²)}(ν/2, 1/2), the regularized incomplete beta function.
        double tail = 0.5 * RegularizedIncompleteBeta(dof / (dof + t * t), dof / 2, 0.5);
        return t >= 0 ? 1 - tail : tail;
    }

    /// <summary>The <paramref name="p"/>-quantile: the t with P(T ≤ t) = p.</summary>
    public static double Quantile(double p, double dof)
    {
        if (!(p > 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "probability must lie strictly between 0 and 1");
        if (dof <= 0) throw new ArgumentOutOfRangeException(nameof(dof), dof, "degrees of freedom must be positive");
        if (p == 0.5) return 0;
        if (p < 0.5) return -Quantile(1 - p, dof);
        // Bracket, then bisect: the CDF is monotone, and 200 halvings reach the resolution of a double.
        double lo = 0, hi = 1;
        while (Cdf(hi, dof) < p) { lo = hi; hi *= 2; if (hi > 1e300) return double.PositiveInfinity; }
        for (int i = 0; i < 200 && hi - lo > 1e-15 * hi; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (Cdf(mid, dof) < p) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    /// <summary>The regularized incomplete beta function I_x(a, b), by its continued fraction (modified Lentz).</summary>
    public static double RegularizedIncompleteBeta(double x, double a, double b)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        double front = Math.Exp(LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1 - x));
        // The fraction converges fast for x < (a+1)/(a+b+2); use the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) otherwise.
        if (x > (a + 1) / (a + b + 2)) return 1 - front * BetaFraction(1 - x, b, a) / b;
        return front * BetaFraction(x, a, b) / a;
    }

    private static double BetaFraction(double x, double a, double b)
    {
        const double tiny = 1e-300;
        double c = 1, d = 1 - (a + b) * x / (a + 1);
        if (Math.Abs(d) < tiny) d = tiny;
        d = 1 / d;
        double f = d;
        for (int m = 1; m <= 1000; m++)
        {
            int m2 = 2 * m;
            double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
            d = 1 + num * d; if (Math.Abs(d) < tiny) d = tiny;
            c = 1 + num / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            f *= d * c;
            num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
            d = 1 + num * d; if (Math.Abs(d) < tiny) d = tiny;
            c = 1 + num / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            double delta = d * c;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return f;
    }

    /// <summary>ln Γ(x) for x &gt; 0 (Lanczos, g = 7, nine terms: about 15 significant digits).</summary>
    public static double LogGamma(double x)
    {
        if (x < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        x -= 1;
        double sum = Lanczos[0];
        for (int i = 1; i < Lanczos.Length; i++) sum += Lanczos[i] / (x + i);
        double t = x + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }

    private static ReadOnlySpan<double> Lanczos =>
    [
        0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
        12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    ];
}
