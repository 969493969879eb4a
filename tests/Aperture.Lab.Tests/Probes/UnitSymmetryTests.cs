using Aperture.Data;
using Aperture.Lab.Probes;
using Aperture.NN;

namespace Aperture.Lab.Tests.Probes;

public class UnitSymmetryTests
{
    [Fact]
    public void SpreadsOnHandMadeMatrices()
    {
        // Rows vs row 0: |4 − 1| = 3 is the largest.
        Assert.Equal(3, UnitSymmetry.RowSpread([1.0, 2, 4, 2, 1, 0.5], 3, 2));
        Assert.Equal(0, UnitSymmetry.RowSpread([1.0, 2], 1, 2));
        // Columns vs column 0 in each row: |−1 − 5| = 6.
        Assert.Equal(6, UnitSymmetry.ColumnSpread([1.0, 1, 2, 5, -1, 5], 3));
        Assert.Equal(0, UnitSymmetry.ColumnSpread([1.0, 2, 3], 1));
    }

    [Fact]
    public void ConstantLayerIsSymmetricUntilOneValueMoves()
    {
        var layer = new Linear(3, 4, weightInit: Init.Constant(0.25), biasInit: Init.Zeros(), dtype: DType.Float64);
        Assert.Equal(0, UnitSymmetry.UnitDifference(layer));
        Assert.Equal(1, UnitSymmetry.DistinctUnits(layer));

        ProbeHelpers.Set(layer.GetParameter("bias"), 0, 0, 0.5, 0);
        Assert.Equal(0.5, UnitSymmetry.UnitDifference(layer));
        Assert.Equal(2, UnitSymmetry.DistinctUnits(layer));

        // −0 and +0 are equal in value but not in bits: no difference, yet two distinct units.
        ProbeHelpers.Set(layer.GetParameter("bias"), 0, -0.0, 0, 0);
        Assert.Equal(0, UnitSymmetry.UnitDifference(layer));
        Assert.Equal(2, UnitSymmetry.DistinctUnits(layer));

        var noBias = new Linear(2, 3, bias: false, weightInit: Init.Constant(1), dtype: DType.Float64);
        Assert.Equal(0, UnitSymmetry.UnitDifference(noBias));
        Assert.Equal(1, UnitSymmetry.DistinctUnits(noBias));
    }

    [Fact]
    public void HiddenActivationsAreTheActivationOutputs()
    {
        var net = Models.Mlp(3, [4, 5], 2, "tanh", generator: new Generator(3), dtype: DType.Float64);
        var x = Tensor.Randn([6, 3], new Generator(4), DType.Float64);
        var hidden = UnitSymmetry.HiddenLayers(net);
        Assert.Equal(2, hidden.Count);
        var acts = UnitSymmetry.HiddenActivations(net, x);
        Assert.Equal(2, acts.Count);
        var h1 = Ops.Tanh(hidden[0].Forward(x));
        var h2 = Ops.Tanh(hidden[1].Forward(h1));
        Assert.Equal(h1.ToDoubleArray(), acts[0].ToDoubleArray());
        Assert.Equal(h2.ToDoubleArray(), acts[1].ToDoubleArray());
        double expected = Math.Max(UnitSymmetry.ColumnSpread(h1.ToDoubleArray(), 4), UnitSymmetry.ColumnSpread(h2.ToDoubleArray(), 5));
        Assert.Equal(expected, UnitSymmetry.ActivationDifference(net, new TensorDataset(x, Tensor.Zeros([6], DType.Int64))));
        Assert.True(expected > 0);

        var constant = Models.Mlp(3, [4, 5], 2, "tanh", weightInit: Init.Constant(0.1), biasInit: Init.Zeros(), dtype: DType.Float64);
        Assert.Equal(0, UnitSymmetry.ActivationDifference(constant, new TensorDataset(x, Tensor.Zeros([6], DType.Int64))));
    }
}
