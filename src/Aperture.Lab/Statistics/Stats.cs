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

/// <summary>The few statistics a verdict needs: means, intervals over seeds, paired differences, a line fit.</summary>
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
        RequireSome(x, "Bootstrap");
        if (resamples < 100) throw new ArgumentOutOfRangeException(nameof(resamples), resamples, "a bootstrap needs at least 100 resamples");
        statistic ??= v => Mean(v);
        var stats = new double[resamples];
        var sample = new double[x.Count];
        for (int r = 0; r < resamples; r++)
        {
            for (int i = 0; i < sample.Length; i++) sample[i] = x[(int)generator.NextLong(x.Count)];
            stats[r] = statistic(sample);
        }
        Array.Sort(stats);
        double alpha = 1 - confidence;
        return new Interval(statistic([.. x]), Quantile(stats, alpha / 2), Quantile(stats, 1 - alpha / 2));
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

    private static void CheckConfidence(double c)
    {
        if (!(c > 0 && c < 1)) throw new ArgumentOutOfRangeException(nameof(c), c, "confidence must lie strictly between 0 and 1");
    }
}
