using Aperture.Lab.Phenomena;
using Aperture.NN;

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
        var outcome = new LabRunner(store).Run(Phenomenon, Tier.Quick, TinyProtocol(2));
        Assert.Equal(16, outcome.RunsExecuted);
        Assert.Equal(7, outcome.Verdict.Checks.Count);
        // Even at depth 6 a 0.01 Gaussian loses decades per layer; the constant net stays exactly symmetric.
        Assert.True(outcome.Verdict.Checks[0].Estimate.High < -3, outcome.Verdict.Checks[0].Estimate.Format());
        Assert.Equal(Outcome.Held, outcome.Verdict.Checks[^1].Outcome);
        var p = (InitScale.Protocol)TinyProtocol(2);
        var runs = store.LoadRunSet(store.ListRuns().Select(r => r.RunId));
        Assert.Equal(3, Phenomenon.Figures(p, runs).Count());
    }

    [Fact]
    public void ProfileMatchesTheChainRuleOnADeepLinearNet()
    {
        // Identity activations and W = 2·I in every hidden layer: going back one layer doubles ∂L/∂z, going forward
        // one layer doubles the activations, so both log-ratios are log10 2 per layer.
        var net = Models.Mlp(3, [3, 3, 3], 2, "identity", weightInit: Init.Zeros(), biasInit: Init.Zeros(), dtype: DType.Float64);
        var linears = net.NamedModules().Select(m => m.Module).OfType<Linear>().ToList();
        using (Autodiff.NoGrad())
        {
            Ops.CopyInPlace(linears[0].GetParameter("weight"), Tensor.FromArray(new double[,] { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }));
            Ops.CopyInPlace(linears[1].GetParameter("weight"), Tensor.FromArray(new double[,] { { 2, 0, 0 }, { 0, 2, 0 }, { 0, 0, 2 } }));
            Ops.CopyInPlace(linears[2].GetParameter("weight"), Tensor.FromArray(new double[,] { { 2, 0, 0 }, { 0, 2, 0 }, { 0, 0, 2 } }));
            Ops.CopyInPlace(linears[3].GetParameter("weight"), Tensor.FromArray(new double[,] { { 1, -1, 0.5 }, { 0.3, 0.2, -1 } }));
        }
        var x = Tensor.FromArray(new double[,] { { 1, 2, -1 }, { 0.5, -0.3, 0.8 } });
        var profile = InitScale.Profile(net, x, Tensor.FromArray(new long[] { 0, 1 }, [2]));
        Assert.Equal(Math.Log10(2), profile.PreActivationGradient[0] - profile.PreActivationGradient[1], 12);
        Assert.Equal(Math.Log10(2), profile.PreActivationGradient[1] - profile.PreActivationGradient[2], 12);
        Assert.Equal(Math.Log10(2), profile.ActivationStd[2] - profile.ActivationStd[1], 12);
        Assert.Equal(4, profile.WeightGradient.Length);
        // ∂L/∂W_l = δ_lᵀ·h_{l−1}: δ halves and h doubles from one hidden layer to the next, so layers 2 and 3 match.
        Assert.Equal(profile.WeightGradient[1], profile.WeightGradient[2], 12);
        // Hooks are removed afterwards.
        var again = InitScale.Profile(net, x, Tensor.FromArray(new long[] { 0, 1 }, [2]));
        Assert.Equal(profile.PreActivationGradient, again.PreActivationGradient);
    }

    [Fact]
    public void Log10NormAndStdSurviveMagnitudesFloat64SquaresCannotHold()
    {
        Assert.Equal(Math.Log10(5), InitScale.Log10Norm([3.0, 4.0]), 14);
        Assert.Equal(-200 + Math.Log10(5), InitScale.Log10Norm([3e-200, 4e-200]), 12);
        Assert.Equal(250 + Math.Log10(5), InitScale.Log10Norm([3e250, -4e250]), 12);
        Assert.Equal(double.NegativeInfinity, InitScale.Log10Norm([0.0, 0.0]));
        Assert.Equal(-180 + Math.Log10(1.5), InitScale.Log10Std([1e-180, 4e-180]), 12);
        Assert.Equal(double.NegativeInfinity, InitScale.Log10Std([2.0, 2.0, 2.0]));
    }

    [Fact]
    public void UnitDifferenceSeesOneDifferentWeightAndDistinctUnitsCountsRows()
    {
        var layer = new Linear(4, 3, weightInit: Init.Constant(0.5), biasInit: Init.Zeros());
        Assert.Equal(0, InitScale.UnitDifference(layer));
        Assert.Equal(1, InitScale.DistinctUnits(layer));
        layer.GetParameter("weight").SetAt(0.5 + Math.ScaleB(1, -20), 2, 3); // 2^-20 above the rest, exact in float32
        Assert.Equal(Math.ScaleB(1, -20), InitScale.UnitDifference(layer));
        Assert.Equal(2, InitScale.DistinctUnits(layer));
        layer.GetParameter("bias").SetAt(0.25f, 1);
        Assert.Equal(3, InitScale.DistinctUnits(layer));
        Assert.True(InitScale.UnitDifference(new Linear(4, 3, generator: new Generator(1))) > 0);
    }

    [Fact]
    public void TheConstantArmTrainsYetKeepsItsUnitsIdentical()
    {
        var p = (InitScale.Protocol)TinyProtocol(2);
        var run = new RunContext(InitScale.Constant, 1, Tier.Quick, Tiny.Subset);
        Phenomenon.Run(p, run);
        Assert.Equal(0, run.Results["max_unit_difference"]);
        Assert.Equal(1, run.Results["distinct_units"]);
        Assert.True(run.Results["max_weight_change"] > 0, "the hidden weights never moved: nothing was tested");
        Assert.True(run.Results["final_loss"] < run.Results["initial_loss"]);
    }

    [Fact]
    public void ArmsOfASeedShareTheirBatchAndDirections()
    {
        var p = (InitScale.Protocol)TinyProtocol(2);
        var small = new RunContext(InitScale.SmallRelu, 0, Tier.Quick, Tiny.Subset);
        var unit = new RunContext(InitScale.UnitRelu, 0, Tier.Quick, Tiny.Subset);
        Phenomenon.Run(p, small);
        Phenomenon.Run(p, unit);
        // ReLU is positively homogeneous and the weights are the same normal draws scaled by 100: every hidden layer's
        // activations scale by exactly 100 per layer, so the forward log-ratio differs by 2 decades per layer.
        double perLayer = (unit.Results["log10_activation_ratio"] - small.Results["log10_activation_ratio"]) / (p.Depth - 1);
        Assert.Equal(2.0, perLayer, 9);
    }
}
