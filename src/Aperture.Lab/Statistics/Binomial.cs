namespace Aperture.Lab.Statistics;

/// <summary>
/// Intervals for a share: the probability that a run succeeds, estimated from <c>successes</c> out of <c>n</c>
/// independent runs. Each returns an <see cref="Interval"/> whose Value is successes / n.
/// </summary>
public static class Binomial
{
    /// <summary>
    /// The Clopper–Pearson "exact" interval (Clopper &amp; Pearson, Biometrika 26, 1934): the lower end is the α/2 quantile
    /// of Beta(x, n − x + 1) and the upper end the 1 − α/2 quantile of Beta(x + 1, n − x), with the lower end 0 when
    /// x = 0 and the upper end 1 when x = n. It covers at least <paramref name="confidence"/> for every true share
    /// (conservative).
    /// </summary>
    public static Interval ClopperPearson(int successes, int n, double confidence = 0.95)
    {
        Check(successes, n, confidence);
        double alpha = 1 - confidence;
        double low = successes == 0 ? 0 : Beta.Quantile(alpha / 2, successes, n - successes + 1);
        double high = successes == n ? 1 : Beta.Quantile(1 - alpha / 2, successes + 1, n - successes);
        return new Interval((double)successes / n, low, high);
    }

    /// <summary>
    /// The Wilson score interval (Wilson, JASA 22, 1927): the shares p whose score test |p̂ − p| / √(p(1 − p)/n) ≤ z
    /// accepts, i.e. (p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n) with z = Φ⁻¹(1 − α/2). Its coverage is close
    /// to nominal on average, and it never leaves [0, 1].
    /// </summary>
    public static Interval Wilson(int successes, int n, double confidence = 0.95)
    {
        Check(successes, n, confidence);
        double z = Normal.Quantile(0.5 + confidence / 2), z2 = z * z, p = (double)successes / n;
        double center = (p + z2 / (2 * n)) / (1 + z2 / n);
        double half = z / (1 + z2 / n) * Math.Sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
        // At x = 0 and x = n one end is exactly 0 or 1; clamp the rounding there.
        double low = successes == 0 ? 0 : Math.Max(0, center - half);
        double high = successes == n ? 1 : Math.Min(1, center + half);
        return new Interval(p, low, high);
    }

    private static void Check(int successes, int n, double confidence)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "a share needs at least one trial");
        if (successes < 0 || successes > n)
            throw new ArgumentOutOfRangeException(nameof(successes), successes, $"successes must lie between 0 and n = {n}");
        Checks.Confidence(confidence);
    }
}
