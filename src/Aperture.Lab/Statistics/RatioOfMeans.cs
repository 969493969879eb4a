using Aperture.Lab.Statistics;

namespace Aperture.Lab;

/// <summary>
/// The ratio of two means measured on the same seeds, Σaᵢ / Σbᵢ (a perturbed pair's disagreement over a new seed's),
/// with a BCa bootstrap interval that resamples seeds, keeping each seed's pair (aᵢ, bᵢ) together.
/// </summary>
public static class RatioOfMeans
{
    /// <summary>
    /// Σ<paramref name="numerator"/> / Σ<paramref name="denominator"/>, paired by position (seed), with its BCa 95%
    /// interval (Efron 1987; 10,000 resamples of the seeds, drawn from a generator seeded from <paramref name="name"/>,
    /// so each check has its own stream and the same name gives the same interval). Unlike the mean of per-seed
    /// ratios, one seed with a tiny denominator cannot dominate it. Every denominator must be positive (else the
    /// estimate is NaN, degenerate, and cannot decide a check).
    /// </summary>
    public static Estimate Bca(string name, IReadOnlyList<double> numerator, IReadOnlyList<double> denominator)
    {
        ArgumentNullException.ThrowIfNull(numerator);
        ArgumentNullException.ThrowIfNull(denominator);
        if (numerator.Count != denominator.Count)
            throw new ArgumentException($"'{name}': {numerator.Count} numerators but {denominator.Count} denominators; they must be paired by seed");
        var a = numerator.ToArray();
        var b = denominator.ToArray();
        // A resample of only zero denominators would be 0/0: the ratio needs every denominator positive.
        if (b.Any(v => !(v > 0)) || a.Any(v => !double.IsFinite(v)))
            return new Estimate(name, double.NaN, double.NaN, double.NaN, a.Length, "ratio of means: undefined (a denominator is not positive)") { Unit = Unit.Ratio };
        // The bootstrap resamples seed indices; the statistic reads each resampled seed's pair.
        double[] seeds = [.. Enumerable.Range(0, a.Length).Select(i => (double)i)];
        double Statistic(double[] idx)
        {
            double sa = 0, sb = 0;
            foreach (double i in idx)
            {
                sa += a[(int)i];
                sb += b[(int)i];
            }
            return sa / sb;
        }
        var at = Intervals.BcaByConfidence(seeds, new Generator(Estimate.SeedOf(name)), Statistic);
        var i95 = at(Estimate.Confidence);
        return new Estimate(name, i95.Value, i95.Low, i95.High, a.Length, "ratio of means, BCa bootstrap over seeds") { IntervalAt = at, Unit = Unit.Ratio };
    }
}
