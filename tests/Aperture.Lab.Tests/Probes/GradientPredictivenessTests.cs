using Aperture.Lab.Probes;
using Aperture.NN;

namespace Aperture.Lab.Tests.Probes;

public class GradientPredictivenessTests
{
    // L(W) = ½‖X·Wᵀ − Y‖² has gradient (XWᵀ − Y)ᵀX, affine in W with ∂g = ΔW·XᵀX. With X = 2I, XᵀX = 4I, so the step
    // −η·g changes the gradient by −4η·g exactly: change = 4η, smoothness = 4, whatever W and Y are.
    [Theory]
    [InlineData(0.125)]
    [InlineData(0.01)]
    public void QuadraticLossHasClosedFormChange(double lr)
    {
        var net = new Linear(2, 2, bias: false, generator: new Generator(5), dtype: DType.Float64);
        var x = Tensor.FromArray(new double[] { 2, 0, 0, 2 }, [2, 2]);
        var y = Tensor.FromArray(new double[] { 1, -3, 0.5, 2 }, [2, 2]);
        var before = net.GetParameter("weight").ToDoubleArray();
        var r = GradientPredictiveness.Measure(net, x, y, lr, (o, t) => Ops.Sum(Ops.Square(o - t)) * 0.5);
        Assert.Equal(4 * lr, r.Change, 14);
        Assert.Equal(4, r.Smoothness, 12);
        Assert.Equal(before, net.GetParameter("weight").ToDoubleArray());
    }

    [Fact]
    public void RestoresParametersAndBuffersAndDefaultsToCrossEntropy()
    {
        var net = Models.Mlp(4, [6], 3, "relu", batchNorm: true, generator: new Generator(9));
        var x = Tensor.Randn([8, 4], new Generator(10));
        var y = Tensor.FromArray(new long[] { 0, 1, 2, 0, 1, 2, 0, 1 }, [8]);
        var state = net.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());
        var r = GradientPredictiveness.Measure(net, x, y, 0.1);
        foreach (var (name, t) in net.StateDict()) Assert.Equal(state[name], t.ToDoubleArray());
        Assert.True(r.Change > 0 && double.IsFinite(r.Change));
        Assert.Equal(r.Change / 0.1, r.Smoothness, 12);
        // The explicit cross-entropy gives the same bits; so does a second call (nothing was left changed).
        Assert.Equal(r, GradientPredictiveness.Measure(net, x, y, 0.1, (o, t) => Losses.CrossEntropy(o, t)));
        Assert.Equal(r, GradientPredictiveness.Measure(net, x, y, 0.1));
    }
}
