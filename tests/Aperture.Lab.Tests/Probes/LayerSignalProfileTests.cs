using Aperture.Lab.Probes;
using Aperture.NN;

namespace Aperture.Lab.Tests.Probes;

public class LayerSignalProfileTests
{
    [Fact]
    public void Log10NormAndStdAreExactAndDoNotOverflow()
    {
        Assert.Equal(Math.Log10(5), LayerSignalProfile.Log10Norm([3.0, 4.0]), 15);
        Assert.Equal(300 + Math.Log10(5), LayerSignalProfile.Log10Norm([3e300, -4e300]), 12);
        Assert.Equal(-300 + Math.Log10(5), LayerSignalProfile.Log10Norm([3e-300, 4e-300]), 12);
        Assert.Equal(double.NegativeInfinity, LayerSignalProfile.Log10Norm([0.0, 0.0]));
        Assert.True(double.IsNaN(LayerSignalProfile.Log10Norm([1.0, double.PositiveInfinity])));
        // Population std of {1, 3} is 1; of {2e300, 6e300} is 2e300.
        Assert.Equal(0, LayerSignalProfile.Log10Std([1.0, 3.0]), 15);
        Assert.Equal(300 + Math.Log10(2), LayerSignalProfile.Log10Std([2e300, 6e300]), 12);
        Assert.Equal(double.NegativeInfinity, LayerSignalProfile.Log10Std([7.0, 7.0, 7.0]));
    }

    // Back-propagation by hand in float64 for a 3 → 4 → 3 → 2 tanh MLP with the mean cross-entropy:
    // δ_out = (softmax(z) − onehot)/N, δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ (1 − h_l²), ∂L/∂W_l = δ_lᵀ h_{l−1}.
    [Fact]
    public void MatchesHandBackPropagation()
    {
        var net = Models.Mlp(3, [4, 3], 2, "tanh", generator: new Generator(7), dtype: DType.Float64);
        var x = Tensor.Randn([5, 3], new Generator(8), DType.Float64);
        var y = Tensor.FromArray(new long[] { 0, 1, 1, 0, 1 }, [5]);
        var profile = LayerSignalProfile.Measure(net, x, y);

        var linears = net.Modules().OfType<Linear>().ToList();
        var w = linears.Select(l => l.GetParameter("weight").ToDoubleArray()).ToList();
        var b = linears.Select(l => l.GetParameter("bias").ToDoubleArray()).ToList();
        int[] sizes = [3, 4, 3, 2];
        int n = 5;
        var h = new List<double[]> { x.ToDoubleArray() };
        var z = new List<double[]>();
        for (int l = 0; l < 3; l++)
        {
            int fin = sizes[l], fout = sizes[l + 1];
            var zl = new double[n * fout];
            for (int e = 0; e < n; e++)
                for (int i = 0; i < fout; i++)
                {
                    double s = b[l][i];
                    for (int j = 0; j < fin; j++) s += w[l][i * fin + j] * h[l][e * fin + j];
                    zl[e * fout + i] = s;
                }
            z.Add(zl);
            h.Add(l < 2 ? [.. zl.Select(Math.Tanh)] : zl);
        }
        var labels = y.ToArray<long>();
        var delta = new double[3][];
        delta[2] = new double[n * 2];
        double loss = 0;
        for (int e = 0; e < n; e++)
        {
            double m = Math.Max(z[2][e * 2], z[2][e * 2 + 1]);
            double se = Math.Exp(z[2][e * 2] - m) + Math.Exp(z[2][e * 2 + 1] - m);
            for (int i = 0; i < 2; i++)
                delta[2][e * 2 + i] = (Math.Exp(z[2][e * 2 + i] - m) / se - (labels[e] == i ? 1 : 0)) / n;
            loss += (m + Math.Log(se) - z[2][e * 2 + labels[e]]) / n;
        }
        for (int l = 1; l >= 0; l--)
        {
            int units = sizes[l + 1], above = sizes[l + 2];
            delta[l] = new double[n * units];
            for (int e = 0; e < n; e++)
                for (int j = 0; j < units; j++)
                {
                    double s = 0;
                    for (int i = 0; i < above; i++) s += w[l + 1][i * units + j] * delta[l + 1][e * above + i];
                    double t = h[l + 1][e * units + j];
                    delta[l][e * units + j] = s * (1 - t * t);
                }
        }
        double[] WeightGrad(int l)
        {
            int fin = sizes[l], fout = sizes[l + 1];
            var g = new double[fout * fin];
            for (int i = 0; i < fout; i++)
                for (int j = 0; j < fin; j++)
                    for (int e = 0; e < n; e++) g[i * fin + j] += delta[l][e * fout + i] * h[l][e * fin + j];
            return g;
        }

        Assert.Equal(2, profile.PreActivationGradient.Length);
        Assert.Equal(2, profile.ActivationStd.Length);
        Assert.Equal(3, profile.WeightGradient.Length);
        Assert.Equal(loss, profile.Loss, 12);
        for (int l = 0; l < 2; l++)
        {
            Assert.Equal(Math.Log10(Math.Sqrt(delta[l].Sum(v => v * v))), profile.PreActivationGradient[l], 12);
            var a = h[l + 1];
            double mean = a.Average();
            Assert.Equal(Math.Log10(Math.Sqrt(a.Sum(v => (v - mean) * (v - mean)) / a.Length)), profile.ActivationStd[l], 12);
        }
        for (int l = 0; l < 3; l++)
            Assert.Equal(Math.Log10(Math.Sqrt(WeightGrad(l).Sum(v => v * v))), profile.WeightGradient[l], 12);
    }

    [Fact]
    public void TakesAnyLossAndRemovesItsHooks()
    {
        var net = Models.Mlp(2, [3], 1, "relu", generator: new Generator(1), dtype: DType.Float64);
        var x = Tensor.Randn([4, 2], new Generator(2), DType.Float64);
        var t = Tensor.Randn([4, 1], new Generator(3), DType.Float64);
        // L = ½ Σ (o − t)²: the output's gradient is o − t, so ‖∂L/∂W_out‖ = ‖(o − t)ᵀ h‖.
        var p = LayerSignalProfile.Measure(net, x, t, (o, y) => Ops.Sum(Ops.Square(o - y)) * 0.5);
        var o = net.Forward(x).ToDoubleArray();
        Assert.Equal(0.5 * o.Zip(t.ToDoubleArray(), (a, b) => (a - b) * (a - b)).Sum(), p.Loss, 12);
        // A second measurement gives the same bits: no hook from the first is left to capture stale tensors.
        var again = LayerSignalProfile.Measure(net, x, t, (o2, y) => Ops.Sum(Ops.Square(o2 - y)) * 0.5);
        Assert.Equal(p.WeightGradient, again.WeightGradient);
        Assert.Equal(p.PreActivationGradient, again.PreActivationGradient);
    }
}
