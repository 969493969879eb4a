using Aperture.Lab.Phenomena;

namespace Aperture.Lab.Tests;

public class InitScaleTests
{
    public static readonly InitScale Phenomenon = new();

    /// <summary>A protocol small enough for a test: shallow, narrow nets and a few SGD steps.</summary>
    public static LabProtocol TinyProtocol(int seeds) =>
        LabRunner.Resolve(Phenomenon, Tier.Quick,
        [
            KeyValuePair.Create("depth", "6"), KeyValuePair.Create("width", "24"), KeyValuePair.Create("images_per_class", "2"),
            KeyValuePair.Create("constant_hidden_layers", "2"), KeyValuePair.Create("constant_width", "7"),
            KeyValuePair.Create("constant_steps", "12"), KeyValuePair.Create("constant_per_class", "4"), KeyValuePair.Create("constant_batch_size", "8"),
        ], seeds);

    [Fact]
    public void ATinyProtocolProducesEveryRunAndAVerdict()
    {
        using var dir = new TempDir();
        using var store = Tiny.NewStore(dir);
        var outcome = new LabRunner(store).Run(Phenomenon, Tier.Quick, TinyProtocol(6));
        Assert.Equal(48, outcome.RunsExecuted);
        Assert.Equal(7, outcome.Verdict.Checks.Count);
        // Even at depth 6 a 0.01 Gaussian loses decades per layer.
        Assert.True(outcome.Verdict.Checks[0].Estimate.High < -3, outcome.Verdict.Checks[0].Estimate.Format());
        // The constant net stays exactly symmetric on 6 seeds of 6: a share with an exact interval [0.54, 1], never a
        // zero-width interval (which could not decide).
        var symmetry = outcome.Verdict.Checks[^1];
        Assert.Equal(1, symmetry.Estimate.Value);
        Assert.InRange(symmetry.Estimate.Low, 0.54, 0.55);
        Assert.Equal(Outcome.Held, symmetry.Outcome);
        var p = (InitScale.Protocol)TinyProtocol(6);
        var runs = store.LoadRunSet(store.ListRuns().Select(r => r.RunId));
        Assert.Equal(3, Phenomenon.Figures(p, runs).Count());
    }

    [Fact]
    public void ArmsAreTypedRecordsWithTheirOldNames()
    {
        var p = (InitScale.Protocol)TinyProtocol(2);
        Assert.Equal(["small-gaussian-tanh", "unit-gaussian-tanh", "xavier-tanh", "small-gaussian-relu", "unit-gaussian-relu", "he-relu",
            "xavier-relu", "constant-tanh"], Phenomenon.Arms(p).Select(a => a.Name));
        Assert.Equal("""{"init":"small-gaussian","activation":"tanh"}""", InitScale.InitArms[0].ToJson());
        Assert.Equal(InitScale.Constant, Phenomenon.ReadArm(InitScale.Constant.ToJson()));
    }

    [Fact]
    public void TheConstantArmTrainsYetKeepsItsUnitsIdentical()
    {
        var p = (InitScale.Protocol)TinyProtocol(2);
        var run = new RunContext(InitScale.Constant, 1, Tier.Quick, Tiny.Subset);
        Phenomenon.Run(p, InitScale.Constant, run);
        Assert.Equal(1, run.Results["stayed_symmetric"]);
        Assert.Equal(0, run.Results["max_unit_difference"]);
        Assert.Equal(1, run.Results["distinct_units"]);
        Assert.True(run.Results["max_weight_change"] > 0, "the hidden weights never moved: nothing was tested");
        Assert.True(run.Results["final_loss"] < run.Results["initial_loss"]);
    }

    [Fact]
    public void ArmsOfASeedShareTheirBatchAndDirections()
    {
        var p = (InitScale.Protocol)TinyProtocol(2);
        InitScale.Arm smallRelu = InitScale.InitArms[3], unitRelu = InitScale.InitArms[4];
        Assert.Equal("small-gaussian-relu", smallRelu.Name);
        Assert.Equal("unit-gaussian-relu", unitRelu.Name);
        var small = new RunContext(smallRelu, 0, Tier.Quick, Tiny.Subset);
        var unit = new RunContext(unitRelu, 0, Tier.Quick, Tiny.Subset);
        Phenomenon.Run(p, smallRelu, small);
        Phenomenon.Run(p, unitRelu, unit);
        // ReLU is positively homogeneous and the weights are the same normal draws scaled by 100: every hidden layer's
        // activations scale by exactly 100 per layer, so the forward log-ratio differs by 2 decades per layer.
        double perLayer = (unit.Results["log10_activation_ratio"] - small.Results["log10_activation_ratio"]) / (p.Depth - 1);
        Assert.Equal(2.0, perLayer, 9);
    }
}
