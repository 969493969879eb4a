using Aperture.Lab.Statistics;

namespace Aperture.Lab.Tests;

public class StatisticsTests
{
    [Theory]
    [InlineData(1, 12.706204736174698)]
    [InlineData(2, 4.302652729749464)]
    [InlineData(4, 2.7764451051977934)]
    [InlineData(9, 2.2621571628540993)]
    [InlineData(29, 2.045229642132703)]
    [InlineData(1000, 1.9623390808264078)]
    public void StudentTQuantileMatchesTables(int dof, double expected)
    {
        Assert.Equal(expected, StudentT.Quantile(0.975, dof), 1e-9);
        Assert.Equal(-expected, StudentT.Quantile(0.025, dof), 1e-9);
        Assert.Equal(0.975, StudentT.Cdf(expected, dof), 1e-10);
    }

    [Fact]
    public void TIntervalOfOneToFive()
    {
        var i = Stats.TInterval([1.0, 2, 3, 4, 5]);
        double half = 2.7764451051977934 * Math.Sqrt(2.5) / Math.Sqrt(5);
        Assert.Equal(3, i.Value, 1e-12);
        Assert.Equal(3 - half, i.Low, 1e-9);
        Assert.Equal(3 + half, i.High, 1e-9);
    }

    [Fact]
    public void TIntervalNarrowsWithMoreSeedsOfTheSameSpread()
    {
        double[] few = [0.9, 1.1, 1.0];
        double[] many = [0.9, 1.1, 1.0, 0.9, 1.1, 1.0, 0.9, 1.1, 1.0];
        Assert.True(Stats.TInterval(many).Width < Stats.TInterval(few).Width / 2);
    }

    [Fact]
    public void BootstrapIsSeededAndCoversTheMean()
    {
        double[] x = [2.1, 2.5, 1.9, 2.8, 2.2, 2.4, 2.0, 2.6];
        var a = Stats.Bootstrap(x, new Generator(7));
        var b = Stats.Bootstrap(x, new Generator(7));
        var c = Stats.Bootstrap(x, new Generator(8));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.True(a.Low < Stats.Mean(x) && Stats.Mean(x) < a.High);
        // The percentile bootstrap of a mean is a little narrower than the t-interval for small n, but comparable.
        double ratio = a.Width / Stats.TInterval(x).Width;
        Assert.InRange(ratio, 0.6, 1.1);
    }

    [Fact]
    public void PairedDifferencesAndFit()
    {
        Assert.Equal([1.0, -1, 0], Stats.PairedDifferences([2.0, 1, 5], [1.0, 2, 5]));
        Assert.Throws<ArgumentException>(() => Stats.PairedDifferences([1.0], [1.0, 2]));
        var (slope, intercept) = Stats.LinearFit([0.0, 1, 2, 3], [1.0, 3, 5, 7]);
        Assert.Equal(2, slope, 1e-12);
        Assert.Equal(1, intercept, 1e-12);
        Assert.Throws<ArgumentException>(() => Stats.LinearFit([1.0, 1], [1.0, 2]));
    }

    [Fact]
    public void ChecksFollowTheBand()
    {
        var e = new Estimate("x", 0.5, 0.45, 0.55, 5, "t-interval");
        Assert.Equal(Outcome.Held, Check.Within(e, 0.4, 0.6).Outcome);
        Assert.Equal(Outcome.Inconclusive, Check.Within(e, 0.5, 0.6).Outcome);
        Assert.Equal(Outcome.DidNotHold, Check.Within(e, 0.6, 0.7).Outcome);
        Assert.Equal(Outcome.Held, Check.Below(e, 0.6).Outcome);
        Assert.Equal(Outcome.DidNotHold, Check.Above(e, 0.6).Outcome);
        Assert.Equal(Outcome.Inconclusive, Check.Within(e with { Low = double.NaN }, 0.4, 0.6).Outcome);
        var held = Check.Within(e, 0.4, 0.6);
        var failed = Check.Within(e, 0.6, 0.7);
        var open = Check.Within(e, 0.5, 0.6);
        Assert.Equal(Outcome.Held, Verdict.From(e, held, held).Outcome);
        Assert.Equal(Outcome.DidNotHold, Verdict.From(e, held, failed, open).Outcome);
        Assert.Equal(Outcome.Inconclusive, Verdict.From(e, held, open).Outcome);
    }
}
