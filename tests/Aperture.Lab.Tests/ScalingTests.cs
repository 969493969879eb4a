using Aperture.Lab.Statistics;

namespace Aperture.Lab.Tests;

public class ScalingTests
{
    [Fact]
    public void LogLogSlopeIsTheExponentAndMissingCountsMakeItUndefined()
    {
        Assert.Equal(0.5, Scaling.LogLogSlope([10.0, 100, 1000], [3.0 * Math.Sqrt(10), 30, 3 * Math.Sqrt(1000)]), 12);
        Assert.True(double.IsNaN(Scaling.LogLogSlope([10.0, 100, 1000], [5.0, -1, 50])));
    }

    [Fact]
    public void RatioOrUndefinedIsDegenerateWhenASeedHasNoRatio()
    {
        var full = Scaling.RatioOrUndefined("speed-up", [2.0, 2.2, 1.9]);
        Assert.Equal(Estimate.Ratio("speed-up", [2.0, 2.2, 1.9]).Value, full.Value);
        Assert.False(full.Degenerate);
        var missing = Scaling.RatioOrUndefined("speed-up", [2.0, double.NaN, 1.9]);
        Assert.True(missing.Degenerate);
        Assert.Contains("1 of 3 seeds", missing.Method);
        Assert.Equal(Outcome.Inconclusive, Verdict.From(missing, Check.Below(missing, 0.5, 1)).Outcome);
    }
}
