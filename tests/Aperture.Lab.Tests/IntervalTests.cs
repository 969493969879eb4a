using Aperture.Lab.Statistics;

namespace Aperture.Lab.Tests;

/// <summary>Normal, beta and binomial intervals, log-scale and BCa intervals, and p-values by test inversion.</summary>
public class IntervalStatisticsTests
{
    // Reference values from scipy 1.10.1 (Debian python3-scipy), computed offline: scipy.stats.norm.ppf(p).
    [Theory]
    [InlineData(0.975, 1.959963984540054)]
    [InlineData(0.025, -1.9599639845400545)]
    [InlineData(0.9, 1.2815515655446004)]
    [InlineData(0.3, -0.5244005127080409)]
    [InlineData(0.500000001, 2.5066282037387115e-09)]
    [InlineData(1e-10, -6.361340902404056)]
    [InlineData(1e-300, -37.0470962993612)]
    public void NormalQuantileMatchesScipy(double p, double expected)
    {
        Assert.Equal(expected, Normal.Quantile(p), Math.Abs(expected) * 1e-14 + 1e-22);
    }

    // scipy.stats.norm.cdf(x), except at −30, where scipy (erfc of the rounded x/√2) is off by 6·10⁻¹⁴ relative; there the
    // value is φ(30)/(30 + 1/(30 + 2/(30 + …))), Laplace's continued fraction, in Python's decimal at 50 digits:
    // 4.90671392714818715517e-198.
    [Theory]
    [InlineData(-30, 4.9067139271481872e-198)]
    [InlineData(-5, 2.866515718791933e-07)]
    [InlineData(-1.2, 0.11506967022170822)]
    [InlineData(0, 0.5)]
    [InlineData(0.3, 0.6179114221889526)]
    [InlineData(1.7320508, 0.9583677409944732)]
    [InlineData(4, 0.9999683287581669)]
    public void NormalCdfMatchesScipy(double x, double expected)
    {
        Assert.Equal(expected, Normal.Cdf(x), expected * 1e-14);
    }

    [Fact]
    public void NormalQuantileInvertsTheCdf()
    {
        for (double p = 0.001; p < 1; p += 0.0137)
            Assert.Equal(p, Normal.Cdf(Normal.Quantile(p)), 1e-15);
        Assert.Equal(double.NegativeInfinity, Normal.Quantile(0));
        Assert.Equal(double.PositiveInfinity, Normal.Quantile(1));
    }

    // scipy.stats.beta.ppf(p, a, b).
    [Theory]
    [InlineData(0.025, 3, 6, 0.08523341413725354)]
    [InlineData(0.975, 4, 5, 0.7551367836334484)]
    [InlineData(0.5, 0.5, 0.5, 0.5)]
    [InlineData(1e-6, 2, 30, 4.6394691291346266e-05)]
    [InlineData(0.9, 10, 1, 0.9895192582062144)]
    public void BetaQuantileMatchesScipy(double p, double a, double b, double expected)
    {
        Assert.Equal(expected, Beta.Quantile(p, a, b), expected * 1e-12);
    }

    // Clopper–Pearson by scipy.stats.beta.ppf(α/2, x, n−x+1) and beta.ppf(1−α/2, x+1, n−x); Wilson by its formula in
    // Python with z = scipy.stats.norm.ppf(0.5 + confidence/2).
    [Theory]
    [InlineData(5, 5, 0.95, 0.47817624989501856, 1, 0.5655175352168251, 1)]
    [InlineData(0, 10, 0.95, 0, 0.3084971078187608, 0, 0.2775327998628892)]
    [InlineData(3, 8, 0.95, 0.08523341413725355, 0.7551367836334484, 0.13684428582359737, 0.6942576053973728)]
    [InlineData(7, 20, 0.9, 0.1773109175744491, 0.5580345113154888, 0.202260040056761, 0.5334873111515283)]
    [InlineData(1, 3, 0.99, 0.0016694521863086687, 0.9585998492839568, 0.04042662929608465, 0.855783984952333)]
    public void SharesMatchScipy(int x, int n, double confidence, double cpLow, double cpHigh, double wLow, double wHigh)
    {
        var cp = Binomial.ClopperPearson(x, n, confidence);
        Assert.Equal((double)x / n, cp.Value);
        Assert.Equal(cpLow, cp.Low, 1e-12);
        Assert.Equal(cpHigh, cp.High, 1e-12);
        var w = Binomial.Wilson(x, n, confidence);
        Assert.Equal((double)x / n, w.Value);
        Assert.Equal(wLow, w.Low, 1e-12);
        Assert.Equal(wHigh, w.High, 1e-12);
    }

    [Fact]
    public void ClopperPearsonTextbookEnds()
    {
        var all = Binomial.ClopperPearson(5, 5, 0.95);
        Assert.Equal(0.4782, all.Low, 1e-4);
        Assert.Equal(1, all.High);
        var none = Binomial.ClopperPearson(0, 10, 0.95);
        Assert.Equal(0, none.Low);
        Assert.Equal(0.3085, none.High, 1e-4);
    }

    [Fact]
    public void ClopperPearsonCoversAtLeastNominalForP03N8()
    {
        // Exact coverage: the binomial probability of the x whose interval contains p = 0.3.
        const double p = 0.3;
        const int n = 8;
        double coverage = 0;
        for (int x = 0; x <= n; x++)
        {
            var i = Binomial.ClopperPearson(x, n);
            if (i.Low <= p && p <= i.High)
                coverage += Math.Exp(StudentT.LogGamma(n + 1) - StudentT.LogGamma(x + 1) - StudentT.LogGamma(n - x + 1)) *
                            Math.Pow(p, x) * Math.Pow(1 - p, n - x);
        }
        Assert.True(coverage >= 0.95, $"coverage {coverage}");
        // And by simulation, with a seeded generator.
        var g = new Generator(11);
        int covered = 0;
        const int sims = 4000;
        var intervals = new Interval[n + 1];
        for (int x = 0; x <= n; x++) intervals[x] = Binomial.ClopperPearson(x, n);
        for (int s = 0; s < sims; s++)
        {
            int x = 0;
            for (int k = 0; k < n; k++) if (g.NextDouble() < p) x++;
            if (intervals[x].Low <= p && p <= intervals[x].High) covered++;
        }
        Assert.True(covered / (double)sims >= 0.95, $"simulated coverage {covered / (double)sims}");
    }

    [Fact]
    public void TIntervalCoversAbout95PercentForNormalSamplesOfFive()
    {
        var g = new Generator(2024);
        int covered = 0;
        const int sims = 4000;
        var x = new double[5];
        for (int s = 0; s < sims; s++)
        {
            for (int i = 0; i < x.Length; i++) x[i] = 3 + 2 * Gaussian(g);
            var t = Stats.TInterval(x);
            if (t.Low <= 3 && 3 <= t.High) covered++;
        }
        double coverage = covered / (double)sims;
        Assert.InRange(coverage, 0.93, 0.97);
    }

    // scipy: exp(mean(log v)) and exp(mean(log v) ± scipy.stats.t.ppf(0.975, 4)·std(log v, ddof=1)/√5).
    [Fact]
    public void LogTIsTheGeometricMeanWithABackTransformedInterval()
    {
        var i = Intervals.LogT([1.2, 0.9, 1.5, 1.1, 1.3]);
        Assert.Equal(1.1829604100378162, i.Value, 1e-12);
        Assert.Equal(0.9335130112159229, i.Low, 1e-12);
        Assert.Equal(1.499063553376822, i.High, 1e-12);
    }

    [Fact]
    public void LogTRejectsNonPositiveValuesByName()
    {
        var e = Assert.Throws<ArgumentException>(() => Intervals.LogT([1.2, 0.0, 1.5]));
        Assert.Equal("values", e.ParamName);
        Assert.Contains("values[1] = 0", e.Message);
        e = Assert.Throws<ArgumentException>(() => Intervals.LogT([1.2, 2, double.PositiveInfinity]));
        Assert.Contains("values[2]", e.Message);
        e = Assert.Throws<ArgumentException>(() => Intervals.LogT([-3.0, 2]));
        Assert.Contains("values[0] = -3", e.Message);
    }

    [Fact]
    public void BcaIsSeededAndContainsTheMean()
    {
        double[] x = [2.1, 2.5, 1.9, 2.8, 2.2, 2.4, 2.0, 2.6, 4.0];
        var a = Intervals.Bca(x, new Generator(7));
        Assert.Equal(a, Intervals.Bca(x, new Generator(7)));
        Assert.True(a.Low < Stats.Mean(x) && Stats.Mean(x) < a.High, $"{a}");
        // A right-skewed sample: BCa moves both ends right of the percentile interval's.
        var p = Stats.Bootstrap(x, new Generator(7));
        Assert.True(a.Low > p.Low && a.High > p.High, $"BCa {a}, percentile {p}");
    }

    [Fact]
    public void BcaOfEqualValuesHasZeroWidth()
    {
        var i = Intervals.Bca([0.25, 0.25, 0.25, 0.25], new Generator(1));
        Assert.Equal(new Interval(0.25, 0.25, 0.25), i);
        Assert.Equal(0, i.Width);
    }

    [Fact]
    public void BcaFallsBackToPercentileWhenEveryResampleIsOnOneSide()
    {
        // A statistic that is 100 higher on each of the 1000 resamples (drawn first) than on the sample itself (next),
        // so every resampled value lies above θ̂ and z₀ = −∞.
        double[] x = [1.0, 2, 3, 4, 5];
        static Func<double[], double> Shifted()
        {
            int calls = 0;
            return v => calls++ < 1000 ? Stats.Mean(v) + 100 : Stats.Mean(v);
        }
        var i = Intervals.Bca(x, new Generator(3), Shifted(), resamples: 1000);
        var p = Intervals.PercentileByConfidence(x, new Generator(3), Shifted(), 1000)(0.95);
        Assert.Equal(3, i.Value);
        Assert.True(p.Low > 100, $"{p}");
        Assert.Equal(3, i.Low);          // the percentile bound, widened to contain θ̂
        Assert.Equal(p.High, i.High);    // the percentile bound
    }

    [Fact]
    public void BcaCoversLognormalMeansAtLeastAsWellAsPercentile()
    {
        // Lognormal(0, 1) samples of 20; true mean e^{1/2}. 1000 resamples each, the same resamples for both methods.
        // Seeded result: BCa 0.8725, percentile 0.850 (both below 0.95, as is known for skewed data at n = 20).
        double truth = Math.Exp(0.5);
        var g = new Generator(99);
        int bca = 0, pct = 0;
        const int sims = 2000;
        var x = new double[20];
        for (int s = 0; s < sims; s++)
        {
            for (int i = 0; i < x.Length; i++) x[i] = Math.Exp(Gaussian(g));
            var boot = Intervals.Resample(x, g, Stats.Mean, 1000, "a test");
            var b = Intervals.BcaFromResamples(x, Stats.Mean, boot)(0.95);
            var p = Intervals.PercentileFromResamples(Stats.Mean(x), boot)(0.95);
            if (b.Low <= truth && truth <= b.High) bca++;
            if (p.Low <= truth && truth <= p.High) pct++;
        }
        double bcaCoverage = bca / (double)sims, pctCoverage = pct / (double)sims;
        Assert.True(bcaCoverage >= pctCoverage - 0.01, $"BCa {bcaCoverage}, percentile {pctCoverage}");
        Assert.InRange(bcaCoverage, 0.8, 0.99);
    }

    [Fact]
    public void BootstrapEqualsPercentileByConfidence()
    {
        double[] x = [2.1, 2.5, 1.9, 2.8, 2.2];
        Assert.Equal(Stats.Bootstrap(x, new Generator(5), confidence: 0.8),
            Intervals.PercentileByConfidence(x, new Generator(5))(0.8));
    }

    // scipy.stats.ttest_1samp(x, 0.1, alternative='greater').pvalue and ttest_1samp(x, 0.9, alternative='less').pvalue.
    [Fact]
    public void OneSidedPValueOfTheTIntervalIsTheTTest()
    {
        double[] x = [0.3, 1.1, -0.2, 0.8, 0.5, 0.9];
        Assert.Equal(0.02996800207545154, Stats.OneSidedPValue(c => Stats.TInterval(x, c), 0.1, above: true), 1e-6);
        Assert.Equal(0.07206586613073003, Stats.OneSidedPValue(c => Stats.TInterval(x, c), 0.9, above: false), 1e-6);
        // And against the closed form 1 − F_t((mean − bound)/(sd/√n)) for several bounds.
        double m = Stats.Mean(x), se = Stats.StdDev(x) / Math.Sqrt(x.Length);
        foreach (double bound in new[] { -0.5, 0.0, 0.2, 0.45 })
        {
            double expected = 1 - StudentT.Cdf((m - bound) / se, x.Length - 1);
            Assert.Equal(expected, Stats.OneSidedPValue(c => Stats.TInterval(x, c), bound, above: true), 1e-9);
        }
        foreach (double bound in new[] { 0.6, 0.8, 1.0, 1.5 })
        {
            double expected = StudentT.Cdf((m - bound) / se, x.Length - 1);
            Assert.Equal(expected, Stats.OneSidedPValue(c => Stats.TInterval(x, c), bound, above: false), 1e-9);
        }
        // The estimate on the wrong side of the bound gives 1.
        Assert.Equal(1, Stats.OneSidedPValue(c => Stats.TInterval(x, c), 2, above: true));
        Assert.Equal(1, Stats.OneSidedPValue(c => Stats.TInterval(x, c), -2, above: false));
    }

    [Fact]
    public void OneSidedPValueWorksForSharesAndBca()
    {
        // 9 of 10 succeed: is the share above ½? Clopper–Pearson inverts the exact binomial test, P(X ≥ 9 | p = ½) = 11/1024.
        Assert.Equal(11 / 1024.0, Stats.OneSidedPValue(c => Binomial.ClopperPearson(9, 10, c), 0.5, above: true), 1e-9);
        double[] x = [2.1, 2.5, 1.9, 2.8, 2.2, 2.4, 2.0, 2.6, 4.0];
        var bca = Intervals.BcaByConfidence(x, new Generator(4), resamples: 2000);
        double p = Stats.OneSidedPValue(bca, 2.2, above: true);
        Assert.InRange(p, 1e-4, 0.05);
        Assert.Equal(p, Stats.OneSidedPValue(bca, 2.2, above: true));
    }

    [Fact]
    public void BadArgumentsAreNamed()
    {
        Assert.Equal("n", Assert.ThrowsAny<ArgumentException>(() => Binomial.ClopperPearson(0, 0, 0.95)).ParamName);
        Assert.Equal("successes", Assert.ThrowsAny<ArgumentException>(() => Binomial.ClopperPearson(6, 5, 0.95)).ParamName);
        Assert.Equal("successes", Assert.ThrowsAny<ArgumentException>(() => Binomial.Wilson(-1, 5, 0.95)).ParamName);
        Assert.Equal("confidence", Assert.ThrowsAny<ArgumentException>(() => Binomial.Wilson(1, 5, 1.0)).ParamName);
        Assert.Equal("confidence", Assert.ThrowsAny<ArgumentException>(() => Binomial.ClopperPearson(1, 5, 0)).ParamName);
        Assert.Equal("confidence", Assert.ThrowsAny<ArgumentException>(() => Stats.TInterval([1.0, 2], 1.5)).ParamName);
        Assert.Equal("confidence", Assert.ThrowsAny<ArgumentException>(() => Intervals.LogT([1.0, 2], double.NaN)).ParamName);
        Assert.Equal("values", Assert.ThrowsAny<ArgumentException>(() => Intervals.LogT([], 0.9)).ParamName);
        Assert.Equal("values", Assert.ThrowsAny<ArgumentException>(() => Intervals.Bca([], new Generator(1))).ParamName);
        Assert.Equal("confidence", Assert.ThrowsAny<ArgumentException>(() => Intervals.Bca([1.0, 2], new Generator(1), confidence: 1)).ParamName);
        Assert.Equal("p", Assert.ThrowsAny<ArgumentException>(() => Normal.Quantile(1.5)).ParamName);
        Assert.Equal("a", Assert.ThrowsAny<ArgumentException>(() => Beta.Quantile(0.5, 0, 1)).ParamName);
    }

    // Box–Muller from two uniforms (the cosine half only, for simplicity).
    internal static double Gaussian(Generator g)
    {
        double u = 1 - g.NextDouble(), v = g.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
    }
}
