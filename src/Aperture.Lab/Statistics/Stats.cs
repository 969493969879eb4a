namespace Aperture.Lab.Statistics;

/// <summary>A point estimate with its confidence interval.</summary>
/// <param name="Value">The estimate (a mean over seeds, usually).</param>
/// <param name="Low">The lower end of the interval.</param>
/// <param name="High">The upper end of the interval.</param>
public readonly record struct Interval(double Value, double Low, double High)
{
    /// <summary>High − Low.</summary>
    public double Width => High - Low;
}

/// <summary>The few statistics a verdict needs: means, intervals over seeds, paired differences, a line fit, p-values by test inversion.</summary>
public static class Stats
{
    /// <summary>The arithmetic mean.</summary>
    public static double Mean(IReadOnlyList<double> x)
    {
        RequireSome(x, "Mean");
        double s = 0;
        foreach (var v in x) s += v;
        return s / x.Count;
    }

    /// <summary>The sample standard deviation (n − 1 in the denominator).</summary>
    public static double StdDev(IReadOnlyList<double> x)
    {
        if (x.Count < 2) throw new ArgumentException($"StdDev needs at least 2 values, found {x.Count}", nameof(x));
        double m = Mean(x), s = 0;
        foreach (var v in x) s += (v - m) * (v - m);
        return Math.Sqrt(s / (x.Count - 1));
    }

    /// <summary>The mean with a Student-t confidence interval: mean ± t(1 − α/2, n − 1)·sd/√n.</summary>
    public static Interval TInterval(IReadOnlyList<double> x, double confidence = 0.95)
    {
        CheckConfidence(confidence);
        if (x.Count < 2) throw new ArgumentException($"a t-interval needs at least 2 values, found {x.Count}", nameof(x));
        double m = Mean(x), half = StudentT.Quantile(0.5 + confidence / 2, x.Count - 1) * StdDev(x) / Math.Sqrt(x.Count);
        return new Interval(m, m - half, m + half);
    }

    /// <summary>
    /// A percentile bootstrap interval for <paramref name="statistic"/> (the mean by default): resample the values with
    /// replacement <paramref name="resamples"/> times with a seeded generator, and take the α/2 and 1 − α/2 quantiles.
    /// </summary>
    public static Interval Bootstrap(IReadOnlyList<double> x, Generator generator, Func<double[], double>? statistic = null,
        int resamples = 10_000, double confidence = 0.95)
    {
        CheckConfidence(confidence);
        return Intervals.PercentileByConfidence(x, generator, statistic, resamples)(confidence);
    }

    /// <summary>
    /// The one-sided p-value of an interval method, by test inversion. For <paramref name="above"/> = true (H₁: θ &gt;
    /// <paramref name="bound"/>) it is the smallest α in (0, ½] for which the lower end of the two-sided (1 − 2α)
    /// interval <paramref name="intervalAt"/>(1 − 2α) lies above <paramref name="bound"/>, i.e. for which the one-sided
    /// (1 − α) lower confidence bound excludes it; for <paramref name="above"/> = false (H₁: θ &lt; bound) the smallest α
    /// for which the upper end lies below it. It is found by 60 bisection steps on α (an absolute resolution of
    /// 4·10⁻¹⁹), assuming the ends move monotonically with the confidence level. It is 1 when the point estimate
    /// (the interval at α = ½) is not strictly beyond the bound. A confidence that rounds to 1 is taken to exclude
    /// nothing, so p-values below about 10⁻¹⁶ are reported as about 10⁻¹⁶. For <see cref="TInterval"/> this is the
    /// one-sided one-sample t-test p-value.
    /// </summary>
    /// <param name="intervalAt">The interval at a given two-sided confidence level in (0, 1); it must be deterministic
    /// (see <see cref="Intervals.BcaByConfidence"/> for bootstraps).</param>
    /// <param name="bound">The null value of the estimand.</param>
    /// <param name="above">True to test θ &gt; bound, false to test θ &lt; bound.</param>
    public static double OneSidedPValue(Func<double, Interval> intervalAt, double bound, bool above)
    {
        ArgumentNullException.ThrowIfNull(intervalAt);
        if (double.IsNaN(bound)) throw new ArgumentOutOfRangeException(nameof(bound), bound, "the bound must be a number");
        bool Excludes(double alpha)
        {
            double confidence = 1 - 2 * alpha;
            if (confidence >= 1) return false;
            if (confidence <= 0) confidence = double.Epsilon;
            var i = intervalAt(confidence);
            return above ? i.Low > bound : i.High < bound;
        }
        double estimate = intervalAt(0.5).Value;
        if (!(above ? estimate > bound : estimate < bound)) return 1;
        double lo = 0, hi = 0.5;
        for (int k = 0; k < 60; k++)
        {
            double mid = 0.5 * (lo + hi);
            if (Excludes(mid)) hi = mid; else lo = mid;
        }
        return hi;
    }

    /// <summary>The element-wise differences a[i] − b[i] of two measurements paired by seed.</summary>
    public static double[] PairedDifferences(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count)
            throw new ArgumentException($"paired differences need equal counts, found {a.Count} and {b.Count}");
        var d = new double[a.Count];
        for (int i = 0; i < d.Length; i++) d[i] = a[i] - b[i];
        return d;
    }

    /// <summary>The q-quantile of sorted values, interpolating linearly between order statistics (R's type 7).</summary>
    public static double Quantile(IReadOnlyList<double> sorted, double q)
    {
        RequireSome(sorted, "Quantile");
        if (!(q >= 0 && q <= 1)) throw new ArgumentOutOfRangeException(nameof(q), q, "quantile must lie in [0, 1]");
        double h = (sorted.Count - 1) * q;
        int i = (int)Math.Floor(h);
        if (i >= sorted.Count - 1) return sorted[^1];
        return sorted[i] + (h - i) * (sorted[i + 1] - sorted[i]);
    }

    /// <summary>The least-squares line y ≈ intercept + slope·x.</summary>
    public static (double Slope, double Intercept) LinearFit(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count != y.Count) throw new ArgumentException($"LinearFit needs as many x as y, found {x.Count} and {y.Count}");
        if (x.Count < 2) throw new ArgumentException($"LinearFit needs at least 2 points, found {x.Count}");
        double mx = Mean(x), my = Mean(y), sxy = 0, sxx = 0;
        for (int i = 0; i < x.Count; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
        }
        if (sxx == 0) throw new ArgumentException("LinearFit needs at least two distinct x values");
        double slope = sxy / sxx;
        return (slope, my - slope * mx);
    }

    private static void RequireSome(IReadOnlyList<double> x, string what)
    {
        if (x.Count == 0) throw new ArgumentException($"{what} needs at least one value, found none");
    }

    private static void CheckConfidence(double confidence) => Checks.Confidence(confidence);
}
