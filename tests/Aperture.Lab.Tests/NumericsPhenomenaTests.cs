using Aperture.Lab.Phenomena;
using Aperture.NN;

namespace Aperture.Lab.Tests;

/// <summary>The numerics phenomena (Adam's β2 rounding, accumulation order) on tiny protocols.</summary>
public class NumericsPhenomenaTests
{
    private static T Tiny<T>(Phenomenon<T> phenomenon, int seeds, params (string Key, string Value)[] settings) where T : LabProtocol =>
        (T)LabRunner.Resolve(phenomenon, Tier.Quick, settings.Select(s => KeyValuePair.Create(s.Key, s.Value)), seeds);

    private static PhenomenonOutcome RunAll(Phenomenon phenomenon, LabProtocol protocol)
    {
        using var dir = new TempDir();
        using var store = new Store.RunStore(dir.File("runs.db"));
        return new LabRunner(store).Run(phenomenon, Tier.Quick, protocol);
    }

    [Fact]
    public void AdamBeta2RoundingReproducesTheRoundedValuesAndTheirFailures()
    {
        var phenomenon = new AdamBeta2Rounding();
        var p = Tiny(phenomenon, 2, ("train_per_class", "6"), ("test_per_class", "5"), ("hidden", "8"), ("batch_size", "20"), ("epochs", "2"));
        var results = phenomenon.ArmNames(p).ToDictionary(arm => arm, arm =>
        {
            var run = new RunContext(arm, 0, Tier.Quick, Aperture.Lab.Tests.Tiny.Subset);
            phenomenon.Run(p, run);
            return run.Results;
        });

        Assert.Equal(0.999, results[AdamBeta2Rounding.Float64]["effective_beta2"]);
        Assert.Equal(0.99609375, results[AdamBeta2Rounding.BFloat16TowardZero]["effective_beta2"]);
        Assert.Equal(0.8984375, results[AdamBeta2Rounding.BFloat16TowardZero]["effective_beta1"]);
        Assert.Equal(1.0, results[AdamBeta2Rounding.BFloat16Nearest]["effective_beta2"]);
        Assert.Equal(1.0, results[AdamBeta2Rounding.BFloat16NearestFolded]["effective_beta2"]);
        Assert.Equal(0.9990234375, results[AdamBeta2Rounding.Float16Nearest]["effective_beta2"]);
        Assert.Equal(0.0, results[AdamBeta2Rounding.Float16Nearest]["effective_eps"]);
        Assert.Equal(1.0, results[AdamBeta2Rounding.Float16NearestLongBeta2]["effective_beta2"]);

        // Round to nearest: NaN after the first step in PyTorch's form, not one bit changed in the folded form.
        Assert.Equal(1, results[AdamBeta2Rounding.BFloat16Nearest]["nonfinite_after_step1"]);
        Assert.Equal(1, results[AdamBeta2Rounding.BFloat16Nearest]["first_nonfinite_step"]);
        Assert.Equal(0, results[AdamBeta2Rounding.BFloat16NearestFolded]["nonfinite_at_end"]);
        Assert.Equal(1, results[AdamBeta2Rounding.BFloat16NearestFolded]["frozen"]);
        Assert.Equal(1, results[AdamBeta2Rounding.Float16NearestLongBeta2]["nonfinite_after_step1"]);
        // Truncation and float64 train: finite and moving.
        foreach (var arm in new[] { AdamBeta2Rounding.Float64, AdamBeta2Rounding.BFloat16TowardZero })
        {
            Assert.Equal(0, results[arm]["nonfinite_at_end"]);
            Assert.Equal(0, results[arm]["frozen"]);
            Assert.True(results[arm]["distance_from_start"] > 0);
        }
        // Validation refuses β2 = 1 when Adam is built and at a step, leaves the parameters alone and says why.
        var refused = results[AdamBeta2Rounding.Validation];
        Assert.Equal(1, refused["refused_at_construction"]);
        Assert.Equal(1, refused["refused_at_step"]);
        Assert.Equal(1, refused["parameters_unchanged"]);
        Assert.Equal(1, refused["message_explains"]);

        var outcome = RunAll(phenomenon, p);
        Assert.Equal(14, outcome.RunsExecuted);
        Assert.Equal(4, outcome.Verdict.Checks.Count);
        Assert.All(outcome.Verdict.Checks.Take(3), c => Assert.Equal(Outcome.Held, c.Outcome));
    }

    [Fact]
    public void AccumulationOrderRerunIsIdenticalAndPerturbationsDiffer()
    {
        var phenomenon = new AccumulationOrder();
        var p = Tiny(phenomenon, 2, ("train_per_class", "6"), ("test_per_class", "5"), ("hidden", "8"), ("batch_size", "10"), ("epochs", "5"));
        var runs = phenomenon.ArmNames(p).ToDictionary(arm => arm, arm =>
        {
            var run = new RunContext(arm, 1, Tier.Quick, Aperture.Lab.Tests.Tiny.Subset);
            phenomenon.Run(p, run);
            return run;
        });
        Assert.Equal(1, runs[AccumulationOrder.ExactRerun].Results["identical"]);
        Assert.Equal(-1, runs[AccumulationOrder.ExactRerun].Results["first_difference_step"]);
        Assert.Equal(0, runs[AccumulationOrder.ExactRerun].Results["max_distance"]);
        Assert.DoesNotContain(runs[AccumulationOrder.ExactRerun].Metrics, m => m.Key == "weight_distance");
        // The flipped bit differs from the start; the reversed order from the first step; another seed from the start.
        Assert.Equal(0, runs[AccumulationOrder.BitFlip].Results["first_difference_step"]);
        Assert.Equal(1, runs[AccumulationOrder.ReversedOrder].Results["first_difference_step"]);
        Assert.Equal(0, runs[AccumulationOrder.DifferentSeed].Results["first_difference_step"]);
        foreach (var arm in new[] { AccumulationOrder.BitFlip, AccumulationOrder.ReversedOrder, AccumulationOrder.DifferentSeed })
            Assert.Equal(0, runs[arm].Results["identical"]);
        Assert.True(runs[AccumulationOrder.DifferentSeed].Results["final_distance"] > runs[AccumulationOrder.BitFlip].Results["final_distance"]);
        Assert.Contains(runs[AccumulationOrder.BitFlip].Metrics, m => m.Key == "test_disagreement" && m.Step == 5);

        var outcome = RunAll(phenomenon, p with { ControlLearningRates = [0.01] });
        Assert.Equal(14, outcome.RunsExecuted);
        Assert.Equal(3, outcome.Verdict.Checks.Count);
        Assert.Equal(Outcome.Held, outcome.Verdict.Checks[0].Outcome);
        Assert.Contains(outcome.Verdict.Extra, e => e.Name.Contains("at learning rate 0.01", StringComparison.Ordinal));
    }

    [Fact]
    public void FlipLastBitChangesOneWeightByOneUlp()
    {
        var p = new AccumulationOrder().Quick;
        foreach (var layer in new[] { AccumulationOrder.FlipLayer.Output, AccumulationOrder.FlipLayer.Input })
        {
            var original = Models.Mlp(20, [7], 3, generator: new Generator(4));
            var flipped = Models.Mlp(20, [7], 3, generator: new Generator(4));
            var (row, column, before, after) = AccumulationOrder.FlipLastBit(p with { FlipIn = layer }, flipped, new Generator(9));
            Assert.Equal(1, BitConverter.SingleToInt32Bits(before) ^ BitConverter.SingleToInt32Bits(after));
            Assert.Equal(Math.Abs(before - after), MathF.BitIncrement(Math.Abs(before)) - Math.Abs(before), 0f);
            string name = layer == AccumulationOrder.FlipLayer.Output ? "2.weight" : "0.weight";
            var a = original.GetParameter(name).ToArray<float>();
            var b = flipped.GetParameter(name).ToArray<float>();
            int columns = original.GetParameter(name).Size(1);
            var differing = Enumerable.Range(0, a.Length).Where(i => a[i] != b[i]).ToList();
            Assert.Equal([row * columns + column], differing);
            Assert.Equal(after, b[row * columns + column]);
        }
    }

    [Fact]
    public void ProtocolsRejectSettingsThatBreakTheirDesign()
    {
        string Problem<T>(Phenomenon<T> phenomenon, string key, string value) where T : LabProtocol =>
            Assert.Throws<LabConfigException>(() => LabRunner.Resolve(phenomenon, Tier.Quick, [KeyValuePair.Create(key, value)])).Message;

        Assert.Contains("beta2 must lie in [0, 1)", Problem(new AdamBeta2Rounding(), "beta2", "1"));
        Assert.Contains("differ from learning_rate", Problem(new AccumulationOrder(), "control_learning_rates", "0.1"));
        Assert.Contains("output, input", Problem(new AccumulationOrder(), "flip_in", "middle"));
    }
}
