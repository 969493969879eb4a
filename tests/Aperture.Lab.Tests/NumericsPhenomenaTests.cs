using Aperture.Lab.Phenomena;
using Aperture.NN;

namespace Aperture.Lab.Tests;

/// <summary>The numerics phenomena (Adam's β2 rounding, accumulation order) on tiny protocols.</summary>
public class NumericsPhenomenaTests
{
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
        var p = (AdamBeta2Rounding.Protocol)Aperture.Lab.Tests.Tiny.Resolve(phenomenon, 6, [("train_per_class", "6"), ("test_per_class", "5"), ("hidden", "8"), ("batch_size", "20"), ("epochs", "2")]);
        var runs = phenomenon.Arms(p).ToDictionary(arm => arm.Setup, arm =>
        {
            var run = new RunContext(arm, 0, Tier.Quick, Aperture.Lab.Tests.Tiny.Subset);
            phenomenon.Run(p, arm, run);
            return run;
        });
        var results = runs.ToDictionary(kv => kv.Key, kv => kv.Value.Results);
        Assert.Equal(0.999, results[AdamBeta2Rounding.Setup.Float64]["effective_beta2"]);
        Assert.Equal(0.99609375, results[AdamBeta2Rounding.Setup.BFloat16TowardZero]["effective_beta2"]);
        Assert.Equal(0.8984375, results[AdamBeta2Rounding.Setup.BFloat16TowardZero]["effective_beta1"]);
        Assert.Equal(1.0, results[AdamBeta2Rounding.Setup.BFloat16Nearest]["effective_beta2"]);
        Assert.Equal(1.0, results[AdamBeta2Rounding.Setup.BFloat16NearestFolded]["effective_beta2"]);
        Assert.Equal(0.9990234375, results[AdamBeta2Rounding.Setup.Float16Nearest]["effective_beta2"]);
        Assert.Equal(0.0, results[AdamBeta2Rounding.Setup.Float16Nearest]["effective_eps"]);
        Assert.Equal(1.0, results[AdamBeta2Rounding.Setup.Float16NearestLongBeta2]["effective_beta2"]);
        // The state arm keeps the hyper-parameters as written.
        Assert.Equal(0.999, results[AdamBeta2Rounding.Setup.BFloat16State]["effective_beta2"]);

        // Round to nearest: NaN after the first step in PyTorch's form, not one bit changed in the folded form.
        Assert.Equal(1, results[AdamBeta2Rounding.Setup.BFloat16Nearest]["nonfinite_after_step1"]);
        Assert.Equal(1, results[AdamBeta2Rounding.Setup.BFloat16Nearest]["first_nonfinite_step"]);
        Assert.Equal(0, results[AdamBeta2Rounding.Setup.BFloat16NearestFolded]["nonfinite_at_end"]);
        Assert.Equal(1, results[AdamBeta2Rounding.Setup.BFloat16NearestFolded]["frozen"]);
        Assert.Equal(1, results[AdamBeta2Rounding.Setup.Float16NearestLongBeta2]["nonfinite_after_step1"]);
        // The NaN arm logs its loss at every step, NaN from the first update on (finite before it): its curve is
        // marked where it breaks rather than ending silently.
        var loss = runs[AdamBeta2Rounding.Setup.BFloat16Nearest].Metrics.Where(m => m.Key == "train_loss").OrderBy(m => m.Step).ToList();
        Assert.Equal(results[AdamBeta2Rounding.Setup.BFloat16Nearest]["steps"], loss.Count);
        Assert.True(double.IsFinite(loss[0].Value));
        Assert.All(loss.Skip(1), m => Assert.True(double.IsNaN(m.Value), $"step {m.Step}: {m.Value}"));
        Assert.Equal(loss.Count, runs[AdamBeta2Rounding.Setup.BFloat16Nearest].Metrics.Count(m => m.Key == "update_norm"));
        // Truncation, float64 and bfloat16 state train: finite and moving.
        foreach (var arm in new[] { AdamBeta2Rounding.Setup.Float64, AdamBeta2Rounding.Setup.BFloat16TowardZero, AdamBeta2Rounding.Setup.BFloat16State })
        {
            Assert.Equal(0, results[arm]["nonfinite_at_end"]);
            Assert.Equal(0, results[arm]["frozen"]);
            Assert.True(results[arm]["distance_from_start"] > 0);
        }
        // v in bfloat16 stalls; in float32 it moves.
        Assert.True(results[AdamBeta2Rounding.Setup.BFloat16State]["v_unchanged_share"] > results[AdamBeta2Rounding.Setup.Float64]["v_unchanged_share"]);
        // Validation refuses β2 = 1 when Adam is built and at a step, leaves the parameters alone and says why.
        var refused = results[AdamBeta2Rounding.Setup.Beta2OneRefused];
        Assert.Equal(1, refused["refused_at_construction"]);
        Assert.Equal(1, refused["refused_at_step"]);
        Assert.Equal(1, refused["parameters_unchanged"]);
        Assert.Equal(1, refused["message_explains"]);

        var outcome = RunAll(phenomenon, p);
        Assert.Equal(48, outcome.RunsExecuted);
        Assert.Equal(5, outcome.Verdict.Checks.Count);
        Assert.All(outcome.Verdict.Checks.Take(3), c => Assert.Equal(Outcome.Held, c.Outcome));
    }

    [Fact]
    public void AccumulationOrderRerunIsIdenticalAndPerturbationsDiffer()
    {
        var phenomenon = new AccumulationOrder();
        var p = (AccumulationOrder.Protocol)Aperture.Lab.Tests.Tiny.Resolve(phenomenon, 2, [("train_per_class", "6"), ("validation_per_class", "2"),
            ("test_per_class", "5"), ("hidden", "8"), ("batch_size", "10"), ("epochs", "5"), ("learning_rate", "0.1")]);
        var runs = phenomenon.Arms(p).ToDictionary(arm => arm.Kind, arm =>
        {
            var run = new RunContext(arm, 1, Tier.Quick, Aperture.Lab.Tests.Tiny.Subset);
            phenomenon.Run(p, arm, run);
            return run;
        });
        var exact = runs[AccumulationOrder.Perturbation.ExactRerun];
        Assert.Equal(1, exact.Results["identical"]);
        Assert.Equal(-1, exact.Results["first_difference_step"]);
        Assert.Equal(0, exact.Results["max_distance"]);
        Assert.DoesNotContain(exact.Metrics, m => m.Key == "weight_distance");
        // The flipped bit differs from the start; the reversed order from the first step; another seed from the start.
        Assert.Equal(0, runs[AccumulationOrder.Perturbation.BitFlip].Results["first_difference_step"]);
        Assert.Equal(1, runs[AccumulationOrder.Perturbation.ReversedOrder].Results["first_difference_step"]);
        Assert.Equal(0, runs[AccumulationOrder.Perturbation.DifferentSeed].Results["first_difference_step"]);
        foreach (var kind in new[] { AccumulationOrder.Perturbation.BitFlip, AccumulationOrder.Perturbation.ReversedOrder, AccumulationOrder.Perturbation.DifferentSeed })
            Assert.Equal(0, runs[kind].Results["identical"]);
        Assert.True(runs[AccumulationOrder.Perturbation.DifferentSeed].Results["final_distance"] > runs[AccumulationOrder.Perturbation.BitFlip].Results["final_distance"]);
        Assert.Contains(runs[AccumulationOrder.Perturbation.BitFlip].Metrics, m => m.Key == "test_disagreement" && m.Step == 5);
        Assert.Contains("validation_accuracy_original", exact.Results.Keys);
        Assert.Contains("disagreement_three_quarters", exact.Results.Keys);

        var outcome = RunAll(phenomenon, p with { ControlLearningRates = [0.01] });
        Assert.Equal(14, outcome.RunsExecuted);
        Assert.Equal(5, outcome.Verdict.Checks.Count);
        Assert.Contains(outcome.Verdict.Extra, e => e.Name.Contains("at learning rate 0.01", StringComparison.Ordinal));
    }

    [Fact]
    public void FlipLastBitChangesOneWeightByOneUlp()
    {
        foreach (var (layer, name) in new[] { (-1, "2.weight"), (0, "0.weight") })
        {
            var original = Models.Mlp(20, [7], 3, generator: new Generator(4));
            var flipped = Models.Mlp(20, [7], 3, generator: new Generator(4));
            var (row, column, before, after) = Aperture.Lab.Recipes.SgdMlp.FlipLastBit(flipped, layer, new Generator(9));
            Assert.Equal(1, BitConverter.SingleToInt32Bits(before) ^ BitConverter.SingleToInt32Bits(after));
            Assert.Equal(Math.Abs(before - after), MathF.BitIncrement(Math.Abs(before)) - Math.Abs(before), 0f);
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
        string Typed(Phenomenon phenomenon, string key, string value) =>
            Assert.Throws<LabConfigException>(() => LabRunner.Resolve(phenomenon, Tier.Quick, [KeyValuePair.Create(key, value)])).Message;
        Assert.Contains("beta2 must lie in [0, 0.999999], found 1", Typed(new AdamBeta2Rounding(), "beta2", "1"));
        Assert.Contains("differ from learning_rate", Typed(new AccumulationOrder(), "control_learning_rates", "0.01"));
    }
}
