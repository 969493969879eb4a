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
    public void ChecksFollowTheirRegions()
    {
        // Mean 0.5, 95% t-interval [0.480, 0.520].
        var e = Estimate.Mean("x", Unit.Dimensionless, [0.48, 0.5, 0.52, 0.49, 0.51]);
        static Outcome Alone(Check c) => Verdict.From(c.Estimate, c).Outcome;
        Assert.Equal(Outcome.Held, Alone(Check.Within(e, 0.4, 0.6)));
        Assert.Equal(Outcome.Inconclusive, Alone(Check.Within(e, 0.5, 0.6)));   // straddles the band's edge
        Assert.Equal(Outcome.DidNotHold, Alone(Check.Within(e, 0.6, 0.7)));     // wholly outside the band
        Assert.Equal(Outcome.Held, Alone(Check.Below(e, 0.6)));
        Assert.Equal(Outcome.DidNotHold, Alone(Check.Above(e, 0.6)));
        Assert.Equal(Outcome.Held, Alone(Check.Above(e, 0.4, 0.2)));
        Assert.Equal(Outcome.DidNotHold, Alone(Check.Below(e, 0.2, 0.4)));       // wholly above the contradicting edge

        // Between the regions (supported above 0.7, contradicted below 0.3): inconclusive, and no seed count decides it.
        var gap = Verdict.From(e, Check.Above(e, 0.7, 0.3));
        Assert.Equal(Outcome.Inconclusive, gap.Outcome);
        Assert.Null(gap.Checks[0].SeedsToDecide);
        Assert.Null(gap.SeedsToDecide);
        Assert.Contains("between", gap.Checks[0].Reason);
        // The estimate supports the claim but the interval crosses the edge: more seeds would decide it.
        var near = Verdict.From(e, Check.Above(e, 0.49, 0.2));
        Assert.Equal(Outcome.Inconclusive, near.Outcome);
        Assert.True(near.SeedsToDecide > 5, $"seeds to decide: {near.SeedsToDecide}");

        // The regions are stated disjoint.
        Assert.Throws<ArgumentException>(() => Check.Of(e, Region.Above(0.4), Region.Below(0.6)));
        Assert.Throws<ArgumentException>(() => Check.Above(e, 0.3, 0.4));
        Assert.Throws<ArgumentException>(() => Check.Below(e, 0.4, 0.3));

        // A degenerate interval (zero width, or undefined) never decides, whichever region it sits in.
        var flat = new Estimate("flat", 0.5, 0.5, 0.5, 5, "t-interval") { Unit = Unit.Dimensionless };
        Assert.True(flat.Degenerate);
        Assert.Equal(Outcome.Inconclusive, Alone(Check.Above(flat, 0.1)));
        Assert.Equal(Outcome.Inconclusive, Alone(Check.Below(flat, 0.1)));
        Assert.Equal(Outcome.Inconclusive, Alone(Check.Within(e with { Low = double.NaN }, 0.4, 0.6)));
        Assert.Equal(Outcome.Inconclusive, Alone(Check.Above(Estimate.Share("all", [true, true, true, true, true]) with { Low = 1 }, 0.5)));

        var held = Check.Within(e, 0.4, 0.6);
        var failed = Check.Within(e, 0.6, 0.7);
        var open = Check.Within(e, 0.5, 0.6);
        Assert.Equal(Outcome.Held, Verdict.From(e, held, held).Outcome);
        Assert.Equal(Outcome.DidNotHold, Verdict.From(e, held, failed, open).Outcome);
        Assert.Equal(Outcome.Inconclusive, Verdict.From(e, held, open).Outcome);
    }

    [Fact]
    public void HolmAdjustsTheFamilyOfContradictions()
    {
        // Per-seed values 1..5: contradicted below c, with c at the upper end of the (1 − p) interval, has p-value p.
        var e = Estimate.Mean("x", Unit.Dimensionless, [1.0, 2, 3, 4, 5]);
        Check At(double p) => Check.Above(e, 100, e.IntervalAt!(1 - p).High + 1e-9);
        var (p04, p03, p01) = (At(0.04), At(0.03), At(0.01));
        Assert.InRange(p04.ContradictionP, 0.039, 0.041);
        Assert.InRange(p01.ContradictionP, 0.009, 0.011);
        // Alone, each is contradicted at 5%.
        Assert.Equal(Outcome.DidNotHold, Verdict.From(e, p04).Outcome);
        Assert.Equal(Outcome.DidNotHold, Verdict.From(e, p03).Outcome);
        // Together, Holm compares the smaller with 0.05/2: 0.03 is not small enough, so neither is rejected.
        var both = Verdict.From(e, p04, p03);
        Assert.Equal(Outcome.Inconclusive, both.Outcome);
        Assert.All(both.Checks, c => Assert.Equal(Outcome.Inconclusive, c.Outcome));
        // 0.01 ≤ 0.025 is rejected, and then 0.04 ≤ 0.05 is too (step-down).
        var stepDown = Verdict.From(e, p04, p01);
        Assert.Equal(Outcome.DidNotHold, stepDown.Outcome);
        Assert.All(stepDown.Checks, c => Assert.Equal(Outcome.DidNotHold, c.Outcome));
        // A degenerate check does not count in the family.
        var flat = new Estimate("flat", 0, 0, 0, 5, "t-interval") { Unit = Unit.Dimensionless };
        Assert.Equal(Outcome.DidNotHold, Verdict.From(e, p04, Check.Above(flat, 1)).Outcome);
    }
}
