namespace Aperture.Lab.Statistics;

/// <summary>
/// Intervals matched to their estimand: a geometric mean for ratios (<see cref="LogT"/>) and bootstrap intervals that
/// can be evaluated at any confidence level from one set of resamples (<see cref="BcaByConfidence"/>,
/// <see cref="PercentileByConfidence"/>), as test inversion (<see cref="Stats.OneSidedPValue"/>) needs.
/// </summary>
public static class Intervals
{
    /// <summary>
    /// For strictly positive ratios (speedups, loss ratios): the geometric mean exp(mean(ln x)) with the Student-t
    /// interval of the mean of ln x, back-transformed by exp. The interval is for the median of a log-normal
    /// population (its geometric mean), and is asymmetric around the estimate on the original scale.
    /// </summary>
    /// <exception cref="ArgumentException">A value is ≤ 0, NaN or infinite (the message names it), or there are fewer than 2.</exception>
    public static Interval LogT(IReadOnlyList<double> values, double confidence = 0.95)
    {
        Checks.AtLeast(values, 2, "a log-scale t-interval", nameof(values));
        Checks.Confidence(confidence);
        var logs = new double[values.Count];
        for (int i = 0; i < logs.Length; i++)
        {
            double v = values[i];
            if (!(v > 0 && double.IsFinite(v)))
                throw new ArgumentException($"a log-scale t-interval needs strictly positive, finite values; values[{i}] = {v}", nameof(values));
            logs[i] = Math.Log(v);
        }
        var t = Stats.TInterval(logs, confidence);
        return new Interval(Math.Exp(t.Value), Math.Exp(t.Low), Math.Exp(t.High));
    }

    /// <summary>
    /// The bias-corrected and accelerated (BCa) bootstrap interval of <paramref name="statistic"/> (the mean by default)
    /// at <paramref name="confidence"/>; see <see cref="BcaByConfidence"/> for the method and its edge cases.
    /// </summary>
    public static Interval Bca(IReadOnlyList<double> values, Generator generator, Func<double[], double>? statistic = null,
        int resamples = 10_000, double confidence = 0.95)
    {
        Checks.Confidence(confidence);
        return BcaByConfidence(values, generator, statistic, resamples)(confidence);
    }

    /// <summary>
    /// Resamples once and returns the BCa interval as a function of the confidence level (Efron, "Better bootstrap
    /// confidence intervals", JASA 82, 1987; Efron &amp; Tibshirani, An Introduction to the Bootstrap, 1993, §14.3).
    /// With θ̂ the statistic of the values and θ*₁…θ*_B that of B resamples drawn with replacement from
    /// <paramref name="generator"/>: the bias correction is z₀ = Φ⁻¹(#{θ* &lt; θ̂}/B + ½·#{θ* = θ̂}/B) (ties counted half,
    /// so a discrete statistic is not biased by its ties); the acceleration comes from the jackknife,
    /// a = Σ(θ̄₍.₎ − θ₍ᵢ₎)³ / (6·(Σ(θ̄₍.₎ − θ₍ᵢ₎)²)^{3/2}) (0 when every leave-one-out value is equal); and the ends are
    /// the type-7 quantiles of the θ* at levels Φ(z₀ + (z₀ + z_q)/(1 − a(z₀ + z_q))) for q = α/2 and 1 − α/2. Where
    /// 1 − a(z₀ + z_q) ≤ 0 the level is taken at its limit (0 or 1: the smallest or largest θ*).
    /// Edge cases: when all values are equal the interval has zero width at θ̂ (the caller should call it degenerate);
    /// when z₀ is infinite (every θ* lies strictly on one side of θ̂) the correction is undefined, and each end falls
    /// back to the percentile bound (the α/2 or 1 − α/2 quantile of the θ*), widened if needed to contain θ̂.
    /// The function is deterministic: the same confidence always gives the same interval.
    /// </summary>
    public static Func<double, Interval> BcaByConfidence(IReadOnlyList<double> values, Generator generator,
        Func<double[], double>? statistic = null, int resamples = 10_000)
    {
        statistic ??= v => Stats.Mean(v);
        return BcaFromResamples(values, statistic, Resample(values, generator, statistic, resamples, "a BCa bootstrap"));
    }

    /// <summary>The BCa interval by confidence from resampled statistics already drawn and sorted (see <see cref="Resample"/>).</summary>
    internal static Func<double, Interval> BcaFromResamples(IReadOnlyList<double> values, Func<double[], double> statistic, double[] boot)
    {
        double theta = statistic([.. values]);
        if (AllEqual(values)) return c => { Checks.Confidence(c); return new Interval(theta, theta, theta); };

        double below = 0;
        foreach (var s in boot) below += s < theta ? 1 : s == theta ? 0.5 : 0;
        double z0 = Normal.Quantile(below / boot.Length);
        double a = JackknifeAcceleration(values, statistic);

        return confidence =>
        {
            Checks.Confidence(confidence);
            double alpha = 1 - confidence;
            if (double.IsInfinity(z0))
            {
                double lo = Stats.Quantile(boot, alpha / 2), hi = Stats.Quantile(boot, 1 - alpha / 2);
                return new Interval(theta, Math.Min(lo, theta), Math.Max(hi, theta));
            }
            return new Interval(theta, Stats.Quantile(boot, Level(z0, a, alpha / 2)), Stats.Quantile(boot, Level(z0, a, 1 - alpha / 2)));
        };
    }

    /// <summary>
    /// Resamples once and returns the percentile bootstrap interval (the α/2 and 1 − α/2 type-7 quantiles of the
    /// resampled statistic; Efron &amp; Tibshirani 1993, §13.3) as a function of the confidence level. It draws the
    /// resamples exactly as <see cref="Stats.Bootstrap"/> does, so with an equal generator it gives the same interval.
    /// </summary>
    public static Func<double, Interval> PercentileByConfidence(IReadOnlyList<double> values, Generator generator,
        Func<double[], double>? statistic = null, int resamples = 10_000)
    {
        statistic ??= v => Stats.Mean(v);
        var boot = Resample(values, generator, statistic, resamples, "a percentile bootstrap");
        return PercentileFromResamples(statistic([.. values]), boot);
    }

    /// <summary>The percentile interval by confidence from resampled statistics already drawn and sorted.</summary>
    internal static Func<double, Interval> PercentileFromResamples(double theta, double[] boot) => confidence =>
    {
        Checks.Confidence(confidence);
        double alpha = 1 - confidence;
        return new Interval(theta, Stats.Quantile(boot, alpha / 2), Stats.Quantile(boot, 1 - alpha / 2));
    };

    private static double Level(double z0, double a, double q)
    {
        double w = z0 + Normal.Quantile(q);
        // At the extreme confidences a p-value search visits, the normal quantile is infinite; so is the level's.
        if (double.IsInfinity(w)) return w > 0 ? 1 : 0;
        double denom = 1 - (double.IsFinite(a) ? a : 0) * w;
        if (denom <= 0) return w > 0 ? 1 : 0;
        double level = Normal.Cdf(z0 + w / denom);
        return double.IsNaN(level) ? q : Math.Clamp(level, 0, 1);
    }

    private static double JackknifeAcceleration(IReadOnlyList<double> values, Func<double[], double> statistic)
    {
        int n = values.Count;
        if (n < 2) return 0;
        var jack = new double[n];
        var rest = new double[n - 1];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0, k = 0; j < n; j++) if (j != i) rest[k++] = values[j];
            jack[i] = statistic(rest);
        }
        double mean = Stats.Mean(jack), s2 = 0, s3 = 0;
        foreach (var t in jack) { double d = mean - t; s2 += d * d; s3 += d * d * d; }
        return s2 == 0 ? 0 : s3 / (6 * Math.Pow(s2, 1.5));
    }

    /// <summary>The statistic of <paramref name="resamples"/> resamples drawn with replacement, sorted ascending.</summary>
    internal static double[] Resample(IReadOnlyList<double> values, Generator generator, Func<double[], double> statistic,
        int resamples, string what)
    {
        Checks.AtLeast(values, 1, what, nameof(values));
        ArgumentNullException.ThrowIfNull(generator);
        if (resamples < 100) throw new ArgumentOutOfRangeException(nameof(resamples), resamples, "a bootstrap needs at least 100 resamples");
        var stats = new double[resamples];
        var sample = new double[values.Count];
        for (int r = 0; r < resamples; r++)
        {
            for (int i = 0; i < sample.Length; i++) sample[i] = values[(int)generator.NextLong(values.Count)];
            stats[r] = statistic(sample);
        }
        Array.Sort(stats);
        return stats;
    }

    private static bool AllEqual(IReadOnlyList<double> values)
    {
        for (int i = 1; i < values.Count; i++) if (values[i] != values[0]) return false;
        return true;
    }
}
