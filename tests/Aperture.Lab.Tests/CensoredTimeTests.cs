using Aperture.Lab.Statistics;

namespace Aperture.Lab.Tests;

public class CensoredTimeTests
{
    [Fact]
    public void FasterByRespectsCensoring()
    {
        // Reached at 40 against a run censored at 100 (it took more than 100): at least 2× faster.
        Assert.True(new CensoredTime(40, true).FasterBy(2, new CensoredTime(100, false)));
        // Reached at 60 against a censored 100: the other may have reached at 101, so 2× is not established.
        Assert.False(new CensoredTime(60, true).FasterBy(2, new CensoredTime(100, false)));
        Assert.True(new CensoredTime(30, true).FasterBy(2, new CensoredTime(60, true)));
        Assert.False(new CensoredTime(31, true).FasterBy(2, new CensoredTime(60, true)));
        // A run that never reached the target is faster than nothing.
        Assert.False(new CensoredTime(10, false).FasterBy(1, new CensoredTime(100, false)));
    }

    [Fact]
    public void MedianIsKaplanMeierAndInfiniteWhenMostAreCensored()
    {
        Assert.Equal(20, CensoredTime.Median([new(10, true), new(20, true), new(30, true)]));
        Assert.Equal(double.PositiveInfinity, CensoredTime.Median([new(10, true), new(100, false), new(100, false)]));
        Assert.Equal(double.PositiveInfinity, CensoredTime.Median([]));
    }

    [Fact]
    public void ChoiceLeavesTheHeldSeedOut()
    {
        // Setting 1 is fastest on seed 0 only; setting 2 on seeds 1 and 2.
        double[,] t = { { 5, 50, 50 }, { 40, 10, 10 } };
        CensoredTime Time(double v, int s) => new(t[(int)v - 1, s], true);
        Assert.Equal(2, CensoredTime.ChooseLeavingOut([1, 2], [0, 1, 2], 0, Time));
        // Ties on the median (both +∞) go to the most reached, then the smaller setting.
        CensoredTime None(double v, int s) => new(100, v == 2 && s == 1);
        Assert.Equal(2, CensoredTime.ChooseLeavingOut([1, 2], [0, 1, 2, 3], 0, None));
        Assert.Equal(1, CensoredTime.ChooseLeavingOut([2, 1], [0, 2, 3], 0, None));
    }

    [Fact]
    public void SpeedupIsAGeometricMeanAndNeverOptimisticUnderCensoring()
    {
        // Ratios 2, 4, 8: geometric mean 4.
        var e = CensoredTime.Speedup("s", [(new(50, true), new(100, true)), (new(25, true), new(100, true)), (new(25, true), new(200, true))]);
        Assert.Equal(4, e.Value, 1e-12);
        Assert.Equal(EstimatorKind.LogT, e.Kind);
        // A censored slower time counts at the budget: a lower bound on that seed's ratio.
        var lower = CensoredTime.Speedup("s", [(new(50, true), new(250, false)), (new(25, true), new(100, true)), (new(25, true), new(200, true))]);
        Assert.Equal(Math.Cbrt(5 * 4 * 8), lower.Value, 1e-12);
        // A censored faster time would make the ratio an upper bound: undecidable, so a check on it cannot decide.
        var upper = CensoredTime.Speedup("s", [(new(250, false), new(100, true)), (new(25, true), new(100, true))]);
        Assert.True(upper.Degenerate);
        Assert.Equal(Outcome.Inconclusive, Verdict.From(upper, Check.Above(upper, 2, 1)).Outcome);
    }
}
