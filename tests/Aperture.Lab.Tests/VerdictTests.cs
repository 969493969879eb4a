using Aperture.Lab.Phenomena;
using Microsoft.Data.Sqlite;

namespace Aperture.Lab.Tests;

/// <summary>Verdicts are computed from stored runs, and move as the seed count and the thresholds say they should.</summary>
public class VerdictTests
{
    [Fact]
    public void EveryEstimateStatesItsUnitAndPrintsIt()
    {
        Assert.Equal(Unit.ShareOfSeeds, Estimate.Share("s", [true, false, true]).Unit);
        Assert.Equal(Unit.Ratio, Estimate.Ratio("r", [1.1, 1.3, 1.2]).Unit);
        Assert.Equal(Unit.Steps, Estimate.MedianTime("t", Unit.Steps, [(10, true), (20, true), (30, false)]).Unit);
        var gap = Estimate.MeanDifference("gap", Unit.Accuracy, [0.8, 0.82, 0.81], [0.79, 0.8, 0.8]);
        Assert.Equal(Unit.Accuracy, gap.Unit);
        Assert.Equal(Unit.Accuracy, (gap with { Name = "renamed" }).Unit);
        Assert.EndsWith("] accuracy (fraction)", gap.FormatWithUnit());
        Assert.Throws<ArgumentException>(() => new Unit("  "));
        // Written as its name; read back from a verdict stored before units, as not stated.
        Assert.Equal("\"steps\"", System.Text.Json.JsonSerializer.Serialize(Unit.Steps));
        Assert.Equal(Unit.Steps, System.Text.Json.JsonSerializer.Deserialize<Unit>("\"steps\""));
        Assert.False(System.Text.Json.JsonSerializer.Deserialize<Unit>("null").IsStated);
        Assert.Throws<System.Text.Json.JsonException>(() => System.Text.Json.JsonSerializer.Deserialize<Unit>("3"));
        Assert.Equal(gap.Format(), (gap with { Unit = default }).FormatWithUnit());
    }

    [Fact]
    public void MoreSeedsReuseStoredRunsAndChangeTheInterval()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var runner = new LabRunner(store);

        // Four arms: gradient descent and heavy ball with exact gradients, SGD and heavy ball on sampled rows.
        var three = runner.Run(Tiny.Momentum, Tier.Quick, Tiny.MomentumProtocol(3));
        Assert.Equal((12, 0), (three.RunsExecuted, three.RunsReused));
        Assert.Equal(Outcome.Held, three.Verdict.Outcome);

        var again = runner.Run(Tiny.Momentum, Tier.Quick, Tiny.MomentumProtocol(3));
        Assert.Equal((0, 12), (again.RunsExecuted, again.RunsReused));
        Assert.Equal(Interval(three.Verdict.Effect), Interval(again.Verdict.Effect));
        Assert.Equal(three.Verdict.Outcome, again.Verdict.Outcome);

        var six = runner.Run(Tiny.Momentum, Tier.Quick, Tiny.MomentumProtocol(6));
        Assert.Equal((12, 12), (six.RunsExecuted, six.RunsReused));
        Assert.Equal(6, six.Verdict.Effect.N);
        Assert.NotEqual(three.Verdict.Effect.Low, six.Verdict.Effect.Low);
        Assert.NotEqual(three.Verdict.Effect.High, six.Verdict.Effect.High);
        // Twice the seeds: the t quantile drops from 4.30 to 2.57 and √n grows by √2, so the interval narrows.
        Assert.True(six.Verdict.Effect.High - six.Verdict.Effect.Low < three.Verdict.Effect.High - three.Verdict.Effect.Low);
        Assert.Equal(3, store.Verdicts(Tiny.Momentum.Id).Count);
    }

    [Fact]
    public void ChangingAThresholdRejudgesWithoutRunning()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var runner = new LabRunner(store);
        var stated = runner.Run(Tiny.Momentum, Tier.Quick, Tiny.MomentumProtocol(4));
        Assert.Equal(Outcome.Held, stated.Verdict.Outcome);
        var e = stated.Verdict.Effect;
        Assert.InRange(e.Value, 0.4, 0.6);

        // A contradicting region the interval lies wholly inside: did not hold, without running anything.
        var below = runner.Run(Tiny.Momentum, Tier.Quick, Tiny.MomentumProtocol(4, ("momentum_exponent_low", "0.1"),
            ("momentum_exponent_high", "0.3"), ("momentum_exponent_contradict", "0.35")));
        Assert.Equal(Outcome.DidNotHold, below.Verdict.Outcome);
        Assert.Equal((0, 16), (below.RunsExecuted, below.RunsReused));
        Assert.Equal(Outcome.DidNotHold, below.Verdict.Checks[0].Outcome);

        // A supporting band whose edge cuts the interval, the contradicting region far away: inconclusive, and the
        // verdict says how many seeds would decide it.
        string mid = e.Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        var straddle = runner.Run(Tiny.Momentum, Tier.Quick, Tiny.MomentumProtocol(4, ("momentum_exponent_high", mid)));
        Assert.Equal(Outcome.Inconclusive, straddle.Verdict.Outcome);
        Assert.Equal(0, straddle.RunsExecuted);
        Assert.Equal(Interval(e), Interval(straddle.Verdict.Effect));
        Assert.Contains(straddle.Overrides, kv => kv.Key == "momentum_exponent_high");

        // An interval between the regions (supported below 0.3, contradicted above 0.9): no seed count decides it.
        var between = runner.Run(Tiny.Momentum, Tier.Quick, Tiny.MomentumProtocol(4, ("momentum_exponent_low", "0.1"),
            ("momentum_exponent_high", "0.3"), ("momentum_exponent_contradict", "0.9")));
        Assert.Equal(Outcome.Inconclusive, between.Verdict.Outcome);
        Assert.Null(between.Verdict.Checks[0].SeedsToDecide);
        Assert.Null(between.Verdict.SeedsToDecide);
    }

    [Fact]
    public void TheVerdictReadsTheStoredRunsOnly()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var runner = new LabRunner(store);
        var protocol = Tiny.MomentumProtocol(3);
        var before = runner.Run(Tiny.Momentum, Tier.Quick, protocol);

        // Edit the stored iteration counts of heavy ball at the largest κ: the next judgement must follow the store.
        using (var db = new SqliteConnection($"Data Source={store.Path};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "UPDATE results SET value = value * 30 WHERE key = $k AND run_id IN (SELECT run_id FROM runs WHERE arm = 'heavy-ball')";
            cmd.Parameters.AddWithValue("$k", MomentumAcceleration.IterationsKey(1000));
            Assert.Equal(3, cmd.ExecuteNonQuery());
        }
        var after = runner.Judge(Tiny.Momentum, Tier.Quick, protocol);
        Assert.True(after.Verdict.Effect.Value > before.Verdict.Effect.Value + 0.3);
        Assert.Equal(Outcome.DidNotHold, after.Verdict.Outcome);
    }

    [Fact]
    public void JudgingWithoutFinishedRunsSaysSo()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var e = Assert.Throws<LabRunException>(() => new LabRunner(store).Judge(Tiny.Momentum, Tier.Quick, Tiny.MomentumProtocol(2)));
        Assert.Contains("8 of 8 runs are not finished", e.Message);
    }

    // An estimate's numbers (its interval function is a delegate, which record equality compares by reference).
    private static (string, double, double, double, int) Interval(Estimate e) => (e.Name, e.Value, e.Low, e.High, e.N);
}
