using Aperture.Lab.Phenomena;
using Aperture.NN;

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
        Assert.Equal(8, outcome.RunsExecuted);
        Assert.Equal(2, outcome.Verdict.Checks.Count);
        Assert.True(outcome.Verdict.Effect.Value > 0);
        var runs = store.LoadRunSet(store.ListRuns().Select(r => r.RunId));
        Assert.Equal(3, Phenomenon.Figures((BatchNormSpeedup.Protocol)TinyProtocol(2), runs).Count());
        Assert.All(runs.Runs, r => Assert.Contains("gradient_change", r.Metrics.Keys));
    }

    [Fact]
    public void ArmNamesRoundTripAndBothVariantsStartFromTheSameWeights()
    {
        var p = (BatchNormSpeedup.Protocol)TinyProtocol(2);
        Assert.Equal(["plain lr=0.1", "plain lr=1", "batchnorm lr=0.1", "batchnorm lr=1"], Phenomenon.ArmNames(p));
        var plain = new RunContext(BatchNormSpeedup.ArmName(BatchNormSpeedup.Plain, 1), 0, Tier.Quick, Tiny.Subset);
        var bn = new RunContext(BatchNormSpeedup.ArmName(BatchNormSpeedup.BatchNorm, 1), 0, Tier.Quick, Tiny.Subset);
        Phenomenon.Run(p, plain);
        Phenomenon.Run(p, bn);
        Assert.Equal(1, plain.Results["learning_rate"]);
        // At step 0, in eval mode, batch norm with its initial running statistics (0, 1) is y = x/√(1 + ε): the two
        // variants' initial losses differ only by that scaling.
        Assert.Equal(plain.Results["initial_loss"], bn.Results["initial_loss"], 3);
    }

    [Fact]
    public void GradientPredictivenessRestoresTheNetworkAndItsRunningStatistics()
    {
        var g = new Generator(3);
        var net = Models.Mlp(5, [6, 6], 3, "sigmoid", batchNorm: true, generator: g);
        var x = Tensor.Randn([10, 5], g);
        var y = Tensor.FromArray(new long[] { 0, 1, 2, 0, 1, 2, 0, 1, 2, 0 }, [10]);
        var before = net.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());
        var (change, smoothness) = BatchNormSpeedup.GradientPredictiveness(net, x, y, lr: 0.5);
        Assert.True(change > 0 && double.IsFinite(change));
        Assert.Equal(change / 0.5, smoothness, 12);
        foreach (var (key, value) in net.StateDict())
            Assert.Equal(before[key], value.ToDoubleArray());
        // A step of (almost) nothing changes the gradient by (almost) nothing.
        Assert.True(BatchNormSpeedup.GradientPredictiveness(net, x, y, lr: 1e-9).Change < 1e-5);
    }

    private static StoredRun Stored(string arm, int seed, double steps, bool stable) =>
        new($"{arm}-{seed}".PadRight(32, '0'), arm, seed, 1,
            new Dictionary<string, double> { ["steps_to_target"] = steps, ["stable"] = stable ? 1 : 0 },
            new Dictionary<string, IReadOnlyList<(long, double)>>(), new Dictionary<string, string>());

    [Fact]
    public void BestAndLargestStableRatesFollowTheStatedRules()
    {
        var p = new BatchNormSpeedup.Protocol { Seeds = 2, LearningRates = [0.1, 1, 10] };
        string Plain(double lr) => BatchNormSpeedup.ArmName(BatchNormSpeedup.Plain, lr);
        var runs = new RunSet(
        [
            // Fewest steps by geometric mean at 1 (√(100·400) = 200 < 300), a tie between 0.1 and 10 does not matter.
            Stored(Plain(0.1), 0, 300, true), Stored(Plain(0.1), 1, 300, true),
            Stored(Plain(1), 0, 100, true), Stored(Plain(1), 1, 400, true),
            Stored(Plain(10), 0, 320, false), Stored(Plain(10), 1, 320, true),
        ]);
        Assert.Equal(1, BatchNormSpeedup.BestLearningRate(p, runs, BatchNormSpeedup.Plain));
        Assert.Equal(1, BatchNormSpeedup.LargestStableRate(p, runs, BatchNormSpeedup.Plain, 0));
        Assert.Equal(10, BatchNormSpeedup.LargestStableRate(p, runs, BatchNormSpeedup.Plain, 1));
        // Ties go to the smaller rate.
        var tied = new RunSet([.. p.LearningRates.SelectMany(lr => new[] { Stored(Plain(lr), 0, 320, true), Stored(Plain(lr), 1, 320, true) })]);
        Assert.Equal(0.1, BatchNormSpeedup.BestLearningRate(p, tied, BatchNormSpeedup.Plain));
        // No stable rate at all: the smallest rate stands in (a conservative floor).
        var none = new RunSet([.. p.LearningRates.Select(lr => Stored(Plain(lr), 0, 320, false))]);
        Assert.Equal(0.1, BatchNormSpeedup.LargestStableRate(p, none, BatchNormSpeedup.Plain, 0));
    }
}
