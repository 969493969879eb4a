namespace Aperture.Lab.Tests;

/// <summary>
/// The verdict rule's error rates: a degenerate interval never decides; the intersection–union rule for "held" and
/// Holm's adjustment for "did not hold" keep each wrong verdict at or below 5%, simulated.
/// </summary>
public class RuleSimulationTests
{
    // Monte Carlo tolerance: three standard errors of a 5% rate over the simulations used.
    private static double Tolerance(int sims) => 3 * Math.Sqrt(0.05 * 0.95 / sims);

    private static Estimate T(params double[] values) => Estimate.Mean("x", Unit.Dimensionless, values);

    [Fact]
    public void ADegenerateIntervalNeverDecides()
    {
        var flat = new Estimate("share", 1, 1, 1, 5, "t-interval") { Unit = Unit.ShareOfSeeds };
        Assert.True(flat.Degenerate);
        var alone = Verdict.From(flat, Check.Above(flat, 0.5));
        Assert.Equal(Outcome.Inconclusive, alone.Outcome);
        Assert.Contains("degenerate", alone.Checks[0].Reason);
        // Beside a check that holds, it still blocks "held"; it cannot make "did not hold" either.
        var good = T(1, 1.1, 0.9, 1.05, 0.95);
        Assert.Equal(Outcome.Inconclusive, Verdict.From(good, Check.Above(good, 0), Check.Above(flat, 0.5)).Outcome);
        Assert.Equal(Outcome.Inconclusive, Verdict.From(good, Check.Above(good, 0), Check.Below(flat, 0.5)).Outcome);
        Assert.Null(Verdict.From(flat, Check.Above(flat, 0.5)).SeedsToDecide);
        // Five of five as a share is an exact interval, not a degenerate one, and can decide.
        var share = Estimate.Share("share", [true, true, true, true, true, true]);
        Assert.False(share.Degenerate);
        Assert.Equal(Outcome.Held, Verdict.From(share, Check.Above(share, 0.5)).Outcome);
    }

    [Fact]
    public void AnUndecidedVerdictSaysHowManySeedsWouldDecideIt()
    {
        var e = T(0.2, 0.9, -0.1, 0.7, 0.4);    // mean 0.42, half-width ≈ 0.62
        var v = Verdict.From(e, Check.Above(e, 0));
        Assert.Equal(Outcome.Inconclusive, v.Outcome);
        Assert.NotNull(v.SeedsToDecide);
        Assert.InRange(v.SeedsToDecide!.Value, 6, 60);
        // Between the regions no seed count decides.
        var gap = Verdict.From(e, Check.Above(e, 1, 0));
        Assert.Null(gap.SeedsToDecide);
    }

    [Fact]
    public void OneTCheckIsWrongAtMostTwoAndAHalfPercentEachWay()
    {
        var template = Verdict.From(T(0, 1, -1, 0.5, -0.5), Check.Above(T(0, 1, -1, 0.5, -0.5), 0));
        var rates = RuleSimulation.Simulate(template, simulations: 4000);
        Assert.InRange(rates.FalseHeld, 0.025 - Tolerance(4000), 0.025 + Tolerance(4000));
        Assert.InRange(rates.FalseDidNotHold, 0.025 - Tolerance(4000), 0.025 + Tolerance(4000));
    }

    [Fact]
    public void HolmKeepsAFamilyOfChecksAtFivePercentWhereTheUnadjustedRuleDoesNot()
    {
        var e = T(0, 1, -1, 0.5, -0.5);
        var template = Verdict.From(e, Check.Above(e, 0), Check.Above(e, 0), Check.Above(e, 0), Check.Above(e, 0));
        const int sims = 3000;
        var rates = RuleSimulation.Simulate(template, simulations: sims);
        Assert.True(rates.FalseDidNotHold <= 0.05 + Tolerance(sims), $"Holm-adjusted false 'did not hold' {rates.FalseDidNotHold}");
        Assert.True(rates.FalseHeld <= 0.025 + Tolerance(sims), $"false 'held' {rates.FalseHeld}");

        // The rule the lab used before ("did not hold if any 95% interval lies wholly outside its band"): four
        // independent checks at the edge each miss 2.5% of the time, so about 1 − 0.975⁴ ≈ 9.6% of experiments.
        var g = new Generator(7);
        int naive = 0;
        for (int s = 0; s < sims; s++)
        {
            bool any = false;
            for (int k = 0; k < 4; k++)
            {
                var x = Estimate.Mean("x", Unit.Dimensionless, [.. Enumerable.Range(0, 5).Select(_ => g.NextNormal())]);
                any |= x.High < 0;
            }
            if (any) naive++;
        }
        Assert.True(naive / (double)sims > 0.07, $"unadjusted rate {naive / (double)sims}");
    }

    [Fact]
    public void ThePercentileBootstrapOverclaimsAtFourSeeds()
    {
        // Why no check uses it: at n = 4 its 95% interval covers about 80% of the time.
        var e = Estimate.MeanBootstrap("x", Unit.Dimensionless, [0, 1, -1, 0.5]);
        var rates = RuleSimulation.Simulate(Verdict.From(e, Check.Above(e, 0)), simulations: 1500);
        Assert.True(rates.FalseHeld > 0.05, $"false 'held' {rates.FalseHeld}");
    }

    [Fact]
    public void EveryPhenomenonsRuleKeepsBothWrongVerdictsAtFivePercent()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var runner = new LabRunner(store);
        const int sims = 600;
        var report = new List<string>();
        foreach (var (phenomenon, protocol) in Tiny.All(3))
        {
            var verdict = runner.Run(phenomenon, Tier.Quick, protocol).Verdict;
            var rates = RuleSimulation.Simulate(verdict, phenomenon.Defaults(Tier.Quick).Seeds, sims);
            report.Add($"{phenomenon.Id}: held {rates.FalseHeld:F3}, did not hold {rates.FalseDidNotHold:F3} ({rates.Checks} checks, {rates.Skipped} skipped)");
            Assert.True(rates.Checks > 0, $"{phenomenon.Id}: no check could be simulated");
            Assert.True(rates.FalseHeld <= 0.05 + Tolerance(sims), string.Join("\n", report));
            Assert.True(rates.FalseDidNotHold <= 0.05 + Tolerance(sims), string.Join("\n", report));
        }
    }
}
