using Aperture.Lab.Phenomena;
using Aperture.Lab.Statistics;
using V = Aperture.Lab.Phenomena.BatchNormSpeedup.Variant;

namespace Aperture.Lab.Tests;

public class BatchNormSpeedupTests
{
    public static readonly BatchNormSpeedup Phenomenon = new();

    /// <summary>A protocol small enough for a test: a narrow net, a few steps, two learning rates.</summary>
    public static LabProtocol TinyProtocol(int seeds) =>
        LabRunner.Resolve(Phenomenon, Tier.Quick,
        [
            KeyValuePair.Create("hidden_layers", "2"), KeyValuePair.Create("width", "8"), KeyValuePair.Create("train_per_class", "6"),
            KeyValuePair.Create("eval_per_class", "3"), KeyValuePair.Create("batch_size", "12"), KeyValuePair.Create("steps", "8"),
            KeyValuePair.Create("eval_every", "2"), KeyValuePair.Create("probe_every", "4"), KeyValuePair.Create("learning_rates", "0.1,1"),
            KeyValuePair.Create("target_accuracy", "0.25"),
        ], seeds);

    [Fact]
    public void ATinyProtocolProducesEveryRunAndAVerdict()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var outcome = new LabRunner(store).Run(Phenomenon, Tier.Quick, TinyProtocol(2));
        Assert.Equal(12, outcome.RunsExecuted);
        Assert.Equal(3, outcome.Verdict.Checks.Count);
        Assert.StartsWith("speed-up over the Glorot-initialized control", outcome.Verdict.Effect.Name);
        Assert.StartsWith("share of seeds where batch norm reaches the target", outcome.Verdict.Checks[0].Estimate.Name);
        Assert.Contains(outcome.Verdict.Checks[1].Estimate.Kind, new[] { EstimatorKind.LogT, EstimatorKind.Other });
        var runs = store.LoadRunSet(store.ListRuns().Select(r => r.RunId));
        Assert.Equal(2, Phenomenon.Figures((BatchNormSpeedup.Protocol)TinyProtocol(2), runs).Count());
        Assert.All(runs.Runs, r => Assert.Contains("gradient_change", r.Metrics.Keys));
        Assert.Contains(outcome.Verdict.Extra, e => e.Name.StartsWith("batch-norm: steps to 25%", StringComparison.Ordinal));
    }

    [Fact]
    public void ArmsAreTypedAndPlainAndBatchNormStartFromTheSameWeights()
    {
        var p = (BatchNormSpeedup.Protocol)TinyProtocol(2);
        Assert.Equal(["plain lr=0.1", "plain lr=1", "plain-glorot lr=0.1", "plain-glorot lr=1", "batch-norm lr=0.1", "batch-norm lr=1"],
            Phenomenon.Arms(p).Select(a => a.Name));
        Assert.Equal("{\"variant\":\"plain-glorot\",\"learning_rate\":1}", new BatchNormSpeedup.Arm(V.PlainGlorot, 1).ToJson());
        var plain = new RunContext(new BatchNormSpeedup.Arm(V.Plain, 1), 0, Tier.Quick, Tiny.Subset);
        var bn = new RunContext(new BatchNormSpeedup.Arm(V.BatchNorm, 1), 0, Tier.Quick, Tiny.Subset);
        Phenomenon.Run(p, (BatchNormSpeedup.Arm)plain.ArmValue, plain);
        Phenomenon.Run(p, (BatchNormSpeedup.Arm)bn.ArmValue, bn);
        // At step 0, in eval mode, batch norm with its initial running statistics (0, 1) is y = x/√(1 + ε): the two
        // variants' initial losses differ only by that scaling.
        double Initial(RunContext r) => r.Metrics.First(m => m.Key == "train_loss" && m.Step == 0).Value;
        Assert.Equal(Initial(plain), Initial(bn), 3);
    }

    private static StoredRun Stored(V v, double lr, int seed, double steps, bool reached, bool diverged = false) =>
        new($"{v}{lr}-{seed}".PadRight(32, '0'), new BatchNormSpeedup.Arm(v, lr).Name, seed, 1,
            new Dictionary<string, double> { ["steps_to_target"] = steps, ["reached_target"] = reached ? 1 : 0, ["diverged"] = diverged ? 1 : 0 },
            new Dictionary<string, IReadOnlyList<(long, double)>>(), new Dictionary<string, string>());

    [Fact]
    public void RatesAreChosenOnTheOtherSeedsAndCensoredRunsCountAsSlower()
    {
        var p = new BatchNormSpeedup.Protocol { Seeds = 3, LearningRates = [0.1, 1], Steps = 100 };
        var runs = new RunSet(
        [
            // Plain: lr 1 is fastest on seeds 1 and 2, so seed 0 gets lr 1 even though lr 0.1 is fastest on seed 0 itself.
            Stored(V.Plain, 0.1, 0, 10, true), Stored(V.Plain, 0.1, 1, 100, false), Stored(V.Plain, 0.1, 2, 100, false),
            Stored(V.Plain, 1, 0, 100, false, diverged: true), Stored(V.Plain, 1, 1, 60, true), Stored(V.Plain, 1, 2, 80, true),
            Stored(V.BatchNorm, 0.1, 0, 50, true), Stored(V.BatchNorm, 0.1, 1, 40, true), Stored(V.BatchNorm, 0.1, 2, 30, true),
            Stored(V.BatchNorm, 1, 0, 100, false), Stored(V.BatchNorm, 1, 1, 100, false), Stored(V.BatchNorm, 1, 2, 100, false),
        ]);
        Assert.Equal(1, BatchNormSpeedup.ChosenRate(p, runs, V.Plain, 0));
        Assert.Equal(0.1, BatchNormSpeedup.ChosenRate(p, runs, V.BatchNorm, 0));
        // Seed 0: plain at lr 1 never reached the target (censored at 100): batch norm's 50 steps are at most half of it.
        Assert.True(BatchNormSpeedup.FasterOnSeed(p, runs, V.Plain, 0));
        // Without seed 0, seed 1's rates are chosen on seed 2 alone (plain lr 1, batch norm lr 0.1): 2 × 40 > 60 loses.
        Assert.False(BatchNormSpeedup.FasterOnSeed(p, new RunSet([.. runs.Runs.Where(r => r.Seed != 0)]), V.Plain, 1));
        Assert.Equal(0.1, BatchNormSpeedup.LargestStableRate(p, runs, V.Plain, 0));
        Assert.Equal(1, BatchNormSpeedup.LargestStableRate(p, runs, V.Plain, 1));
    }
}
