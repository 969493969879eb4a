using Aperture.Lab.Statistics;

namespace Aperture.Lab;

/// <summary>How often a verdict rule gives each wrong answer, by simulation.</summary>
/// <param name="FalseHeld">
/// P(held) when the claim is false at its least favourable point: one check's true value on the edge of its supporting
/// region, every other check certain to hold (the worst case for an intersection–union rule); the largest over checks.
/// </param>
/// <param name="FalseDidNotHold">P(did not hold) when every check's true value lies on its supporting region's edge nearest the contradicting region.</param>
/// <param name="Simulations">Simulated experiments per scenario.</param>
/// <param name="Seeds">Seeds per simulated experiment.</param>
/// <param name="Checks">Checks simulated.</param>
/// <param name="Skipped">Checks that could not be simulated (degenerate, or an interval built by hand).</param>
public sealed record RuleRates(double FalseHeld, double FalseDidNotHold, int Simulations, int Seeds, int Checks, int Skipped);

/// <summary>
/// Simulates a phenomenon's verdict rule — its checks' estimators, seed count, supporting and contradicting regions,
/// and the family adjustment — under no effect and under the claimed effect, redrawing per-seed values with the
/// spread the stored verdict measured. This is how docs/lab.md's false-verdict rates are computed
/// (<c>aperture lab rules</c>).
/// </summary>
public static class RuleSimulation
{
    /// <summary>Simulates <paramref name="template"/>'s rule with <paramref name="seeds"/> seeds (default: the template's own).</summary>
    public static RuleRates Simulate(Verdict template, int? seeds = null, int simulations = 1000, ulong seed = 1)
    {
        ArgumentNullException.ThrowIfNull(template);
        if (simulations < 10) throw new ArgumentOutOfRangeException(nameof(simulations), simulations, "at least 10 simulations");
        var live = template.Checks.Where(Simulable).ToList();
        int skipped = template.Checks.Count - live.Count;
        int n = seeds ?? (live.Count > 0 ? live.Max(c => c.Estimate.N) : 2);
        if (n < 2) throw new ArgumentOutOfRangeException(nameof(seeds), n, "at least 2 seeds");
        if (live.Count == 0) return new RuleRates(double.NaN, double.NaN, simulations, n, 0, skipped);
        var g = new Generator(seed);

        // No effect: each check in turn sits on its supporting edge; an intersection–union rule can hold only if that
        // check does, so P(held) ≤ P(that check held). The worst check bounds the rule.
        double falseHeld = 0;
        foreach (var c in live)
        {
            int held = 0;
            foreach (double truth in Edges(c))
                for (int s = 0; s < simulations; s++)
                    if (Verdict.From(c.Estimate, Redraw(c, truth, n, g)).Outcome == Outcome.Held) held++;
            falseHeld = Math.Max(falseHeld, held / (double)(simulations * Edges(c).Count));
        }

        // The claimed effect: every check on its supporting edge nearest the contradicting region, jointly judged.
        int wrong = 0;
        for (int s = 0; s < simulations; s++)
        {
            var checks = live.Select(c => Redraw(c, Edges(c)[(int)g.NextLong(Edges(c).Count)], n, g)).ToArray();
            if (Verdict.From(checks[0].Estimate, checks).Outcome == Outcome.DidNotHold) wrong++;
        }
        return new RuleRates(falseHeld, wrong / (double)simulations, simulations, n, live.Count, skipped);
    }

    private static bool Simulable(Check c) => !c.Degenerate && c.Estimate.Kind != EstimatorKind.Other && Edges(c).Count > 0;

    // The finite edges of the supporting region that face a contradicting value.
    private static List<double> Edges(Check c) => [.. new[] { c.Supports.Low, c.Supports.High }.Where(double.IsFinite).Distinct()];

    // A new check of the same kind, regions and family, on n values drawn with the template's spread around `truth`.
    private static Check Redraw(Check c, double truth, int n, Generator g)
    {
        var e = c.Estimate;
        string name = e.Name + "#" + g.NextLong(long.MaxValue);
        var estimate = e.Kind switch
        {
            EstimatorKind.T => Estimate.Mean(name, e.Unit, Normal(truth, Spread(e), n, g)),
            EstimatorKind.PercentileBootstrap => Estimate.MeanBootstrap(name, e.Unit, Normal(truth, Spread(e), n, g)),
            EstimatorKind.Bca => Estimate.MeanBca(name, e.Unit, Normal(truth, Spread(e), n, g)),
            EstimatorKind.LogT => Estimate.GeometricMean(name, e.Unit, [.. Normal(Math.Log(Math.Max(truth, 1e-300)), LogSpread(e), n, g).Select(Math.Exp)]),
            EstimatorKind.Share => Estimate.Share(name, [.. Enumerable.Range(0, n).Select(_ => g.NextDouble() < truth)]),
            EstimatorKind.MedianTime => Estimate.MedianTime(name, e.Unit, Times(truth, e.CensoredShare, n, g)),
            _ => throw new InvalidOperationException($"cannot redraw a {e.Kind} estimate"),
        };
        estimate = estimate with { Name = e.Name, Unit = e.Unit };
        return c.Contradicts.IsEmpty && double.IsFinite(c.Supports.Low) && double.IsFinite(c.Supports.High)
            ? Check.Within(estimate, c.Supports.Low, c.Supports.High)
            : Check.Of(estimate, c.Supports, c.Contradicts);
    }

    // The per-seed standard deviation a t-interval of this half-width implies.
    private static double Spread(Estimate e) =>
        Math.Max((e.High - e.Low) / 2 * Math.Sqrt(e.N) / StudentT.Quantile(0.975, Math.Max(1, e.N - 1)), 1e-12);

    private static double LogSpread(Estimate e) =>
        e.Low > 0 && e.High > 0 ? Math.Max((Math.Log(e.High) - Math.Log(e.Low)) / 2 * Math.Sqrt(e.N) / StudentT.Quantile(0.975, Math.Max(1, e.N - 1)), 1e-12) : 0.5;

    private static double[] Normal(double mean, double sd, int n, Generator g) => [.. Enumerable.Range(0, n).Select(_ => mean + sd * g.NextNormal())];

    // Exponential times with median `median`, censored at the time that censors the template's share of runs.
    private static (double, bool)[] Times(double median, double censoredShare, int n, Generator g)
    {
        double rate = Math.Log(2) / Math.Max(median, 1e-12);
        double budget = censoredShare > 0 && censoredShare < 1 ? -Math.Log(censoredShare) / rate : double.PositiveInfinity;
        return [.. Enumerable.Range(0, n).Select(_ =>
        {
            double t = -Math.Log(1 - g.NextDouble()) / rate;
            return t > budget ? (budget, false) : (t, true);
        })];
    }
}
