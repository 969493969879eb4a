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
}
