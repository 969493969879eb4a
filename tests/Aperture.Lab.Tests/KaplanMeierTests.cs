using Aperture.Lab.Statistics;

namespace Aperture.Lab.Tests;

public class KaplanMeierStatisticsTests
{
    // The 6-MP arm of Freireich et al. (Blood 21, 1963), as in Klein & Moeschberger §4.2; false = censored.
    private static readonly (double, bool)[] SixMp =
    [
        (6, true), (6, true), (6, true), (6, false), (7, true), (9, false), (10, true), (10, false), (11, false),
        (13, true), (16, true), (17, false), (19, false), (20, false), (22, true), (23, true), (25, false),
        (32, false), (32, false), (34, false), (35, false),
    ];

    [Fact]
    public void SixMpSurvivalMatchesTheTextbook()
    {
        var km = new KaplanMeier(SixMp);
        Assert.Equal(21, km.Count);
        Assert.Equal(1, km.Survival(5.9));
        Assert.Equal(0.857, km.Survival(6), 1e-3);
        Assert.Equal(0.807, km.Survival(7), 1e-3);
        Assert.Equal(0.807, km.Survival(9.5), 1e-3);
        Assert.Equal(0.753, km.Survival(10), 1e-3);
        Assert.Equal(0.690, km.Survival(13), 1e-3);
        Assert.Equal(0.627, km.Survival(16), 1e-3);
        Assert.Equal(0.538, km.Survival(22), 1e-3);
        Assert.Equal(0.448, km.Survival(23), 1e-3);
        Assert.Equal(0.448, km.Survival(100), 1e-3);
        // Ties: at t = 6 the censored one is still at risk for the three events (21 at risk, 3 events, 1 censored).
        var first = km.Steps[0];
        Assert.Equal((6.0, 21, 3, 1), (first.Time, first.AtRisk, first.Events, first.Censored));
        Assert.Equal(17, km.Steps[1].AtRisk);
        // Greenwood's standard error at t = 6 is 0.0764 (Klein & Moeschberger, Table 4.1A).
        Assert.Equal(0.0764, Math.Sqrt(first.Variance), 1e-4);
    }

    [Fact]
    public void SixMpMedianWithLogLogBrookmeyerCrowleyInterval()
    {
        // Reference: the same log-log limits computed in Python (numpy, z = scipy.stats.norm.ppf(0.975)) give
        // median 23, lower 13 (the lower limit first drops to 0.432 there), upper not reached (the upper limit stays ≥ 0.68),
        // as R's survfit(..., conf.type = "log-log") reports.
        var m = new KaplanMeier(SixMp).Median();
        Assert.Equal(23, m.Value);
        Assert.Equal(13, m.Low);
        Assert.Equal(double.PositiveInfinity, m.High);
        // At 50% confidence the limits are close enough to the curve that the upper end is reached.
        var narrow = new KaplanMeier(SixMp).Median(0.5);
        Assert.InRange(narrow.Low, 16, 23);
        Assert.True(narrow.High >= 23);
    }

    [Fact]
    public void UncensoredMedianIsTheSampleMedian()
    {
        // Odd n: the middle value.
        var odd = new KaplanMeier([(5, true), (1, true), (3, true), (9, true), (7, true)]);
        Assert.Equal(5, odd.Median().Value);
        // Even n: S = ½ exactly between the two middle values, so the median is their mean.
        var even = new KaplanMeier([(4, true), (1, true), (3, true), (10, true)]);
        Assert.Equal(3.5, even.Median().Value);
        var six = new KaplanMeier([(12, true), (2, true), (8, true), (4, true), (6, true), (10, true)]);
        Assert.Equal(7, six.Median().Value);
        // With ties the middle values can coincide.
        Assert.Equal(2, new KaplanMeier([(1, true), (2, true), (2, true), (3, true)]).Median().Value);
        // The interval contains the median.
        var m = six.Median();
        Assert.True(m.Low <= m.Value && m.Value <= m.High, $"{m}");
        Assert.Equal(0, six.Survival(12));
    }

    [Fact]
    public void AllCensoredIsNotReached()
    {
        var km = new KaplanMeier([(100, false), (100, false), (100, false)]);
        var m = km.Median();
        Assert.Equal(double.PositiveInfinity, m.Value);
        Assert.Equal(double.PositiveInfinity, m.High);
        Assert.Equal(1, km.Survival(1000));
        // Fewer than half reached the target: not reached either.
        var few = new KaplanMeier([(10, true), (50, false), (50, false), (50, false)]).Median();
        Assert.Equal(double.PositiveInfinity, few.Value);
        Assert.Equal(double.PositiveInfinity, few.High);
    }

    [Fact]
    public void KaplanMeierRejectsBadInput()
    {
        Assert.Equal("observations", Assert.ThrowsAny<ArgumentException>(() => new KaplanMeier([])).ParamName);
        var e = Assert.ThrowsAny<ArgumentException>(() => new KaplanMeier([(1, true), (double.NaN, true)]));
        Assert.Equal("observations", e.ParamName);
        Assert.Equal("confidence", Assert.ThrowsAny<ArgumentException>(() => new KaplanMeier([(1, true)]).Median(1)).ParamName);
    }
}
