using Aperture.Lab.Probes;
using Aperture.NN;
using Xunit.Abstractions;

namespace Aperture.Lab.Tests.Probes;

public class OpticsTraceTests(ITestOutputHelper output)
{
    // Every measured quantity by hand, in float64, for a 3 → 4 → 5 → 2 tanh-tanh-linear chain on two pairs.
    [Fact]
    public void MeasurementsMatchAForwardAndBackwardPassByHand()
    {
        var net = Models.Mlp(3, [4, 5], 2, "tanh", generator: new Generator(3), dtype: DType.Float64);
        var x = Tensor.Randn([4, 3], new Generator(4), DType.Float64);
        var trace = OpticsTrace.Measure(net, x, new OpticsOptions(Seed: 9, LanczosSteps: 0, JacobianProbes: 0));
        Assert.True(trace.Predicted);
        Assert.Null(trace.Jacobian);
        Assert.Equal(["0", "2", "4"], trace.Layers.Select(l => l.Name));
        Assert.Equal([MeanFieldActivation.Tanh, MeanFieldActivation.Tanh, MeanFieldActivation.Linear], trace.Layers.Select(l => l.Activation!.Value));

        var linears = net.Modules().OfType<Linear>().ToList();
        var w = linears.Select(l => l.Weight.ToDoubleArray()).ToList();
        var b = linears.Select(l => l.Bias!.ToDoubleArray()).ToList();
        int[] n = [3, 4, 5, 2];
        var xs = x.ToDoubleArray();
        // Forward: pre-activations per layer and example.
        var pre = new double[3][][];
        var act = Enumerable.Range(0, 4).Select(e => xs[(e * 3)..(e * 3 + 3)]).ToArray();
        for (int l = 0; l < 3; l++)
        {
            pre[l] = new double[4][];
            for (int e = 0; e < 4; e++)
            {
                pre[l][e] = new double[n[l + 1]];
                for (int i = 0; i < n[l + 1]; i++)
                {
                    double s = b[l][i];
                    for (int j = 0; j < n[l]; j++) s += w[l][i * n[l] + j] * act[e][j];
                    pre[l][e][i] = s;
                }
            }
            act = [.. pre[l].Select(h => l < 2 ? h.Select(Math.Tanh).ToArray() : h)];
        }
        // Backward from the same cotangent the probe draws.
        var v = Tensor.Randn([4, 2], new Generator(9, 1), DType.Float64).ToDoubleArray();
        var delta = new double[3][][];
        delta[2] = [.. Enumerable.Range(0, 4).Select(e => v[(e * 2)..(e * 2 + 2)])];
        for (int l = 1; l >= 0; l--)
        {
            delta[l] = new double[4][];
            for (int e = 0; e < 4; e++)
            {
                delta[l][e] = new double[n[l + 1]];
                for (int j = 0; j < n[l + 1]; j++)
                {
                    double s = 0;
                    for (int i = 0; i < n[l + 2]; i++) s += w[l + 1][i * n[l + 1] + j] * delta[l + 1][e][i];
                    double t = Math.Tanh(pre[l][e][j]);
                    delta[l][e][j] = s * (1 - t * t);
                }
            }
        }
        double Ms(IEnumerable<double> a) => a.Select(z => z * z).Average();
        double previousQ = Enumerable.Range(0, 4).Average(e => Ms(xs[(e * 3)..(e * 3 + 3)]));
        Assert.Equal(previousQ, trace.InputQ, 14);
        for (int l = 0; l < 3; l++)
        {
            var layer = trace.Layers[l];
            double q = Enumerable.Range(0, 4).Average(e => Ms(pre[l][e]));
            double c = Enumerable.Range(0, 2).Average(p =>
            {
                var (ha, hb) = (pre[l][2 * p], pre[l][2 * p + 1]);
                return ha.Zip(hb, (s, t) => s * t).Sum() / Math.Sqrt(ha.Sum(s => s * s) * hb.Sum(t => t * t));
            });
            Assert.Equal(q, layer.Q.Measured, 13);
            Assert.Equal(c, layer.C.Measured, 13);
            Assert.Equal(Math.Sqrt(q / previousQ), layer.SignalGain.Measured, 13);
            double active = pre[l].SelectMany(h => h).Count(h => l < 2 ? Math.Abs(h) <= Math.Atanh(1 / Math.Sqrt(2)) : true) / (4.0 * n[l + 1]);
            Assert.Equal(active, layer.ActiveFraction.Measured, 14);
            Assert.Equal(Ms(delta[l].SelectMany(d => d)), layer.GradientVariance.Measured, 13);
            double below = l < 2 ? Ms(delta[l + 1].SelectMany(d => d)) : Ms(v);
            Assert.Equal(Ms(delta[l].SelectMany(d => d)) / below, layer.GradientGain.Measured, 12);
            // The prediction reads σ_w² and σ_b² off the weights.
            Assert.Equal(n[l] * Ms(w[l]), layer.WeightVariance, 13);
            Assert.Equal(Ms(b[l]), layer.BiasVariance, 14);
            Assert.True(double.IsFinite(layer.Q.Predicted) && double.IsFinite(layer.C.Predicted) && double.IsFinite(layer.GradientVariance.Predicted));
            previousQ = q;
        }
        // The first layer is linear in the input, so its q and c are predicted exactly.
        Assert.Equal(1, trace.Layers[0].Q.Ratio, 1);
        // The readout passes the cotangent through unchanged: predicted gradient variance 1.
        Assert.Equal(1, trace.Layers[2].GradientVariance.Predicted);
    }

    [Fact]
    public void FirstLayerPredictionUsesEachPairsOwnInputs()
    {
        // h¹ = W x + b: E over W, b of ‖h‖²/n = σ_w²‖x‖²/n₀ + σ_b²; with σ_w², σ_b² read off the weights the trace uses
        // the same formula, so at large width the ratio is 1 up to the weights' sampling noise (about 1% for c here).
        var setup = new OpticsSetup(MeanFieldActivation.Relu, 2.0, 0.1, 1, 2000, Pairs: 16, InputSecondMoment: 0.7, InputCorrelation: -0.4);
        var g = new Generator(11);
        var trace = OpticsTrace.Measure(OpticsExperiment.RandomNetwork(setup, g), OpticsExperiment.PairedInputs(setup, g), new OpticsOptions(LanczosSteps: 0, JacobianProbes: 0));
        Assert.InRange(trace.InputQ, 0.65, 0.75);
        Assert.InRange(trace.InputC, -0.5, -0.3);
        Assert.InRange(trace.Layers[0].Q.Ratio, 0.97, 1.03);
        Assert.InRange(trace.Layers[0].C.Ratio, 0.95, 1.05);
        Assert.InRange(trace.Layers[0].ActiveFraction.Ratio, 0.97, 1.03);
    }

    [Fact]
    public void LanczosFindsTheJacobiansSingularValuesAndHutchinsonItsTrace()
    {
        var net = Models.Mlp(6, [7, 8], 6, "tanh", generator: new Generator(21), dtype: DType.Float64);
        var x = Tensor.Randn([2, 6], new Generator(22), DType.Float64);
        var trace = OpticsTrace.Measure(net, x, new OpticsOptions(LanczosSteps: 6, JacobianProbes: 400, Seed: 5));
        var j = Autodiff.JacobianForward(net.Forward, Ops.Slice(x, 0, 0, 1).Contiguous()).Reshape(6, 6);
        var exact = Linalg.SingularValues(j).ToDoubleArray();
        var jac = trace.Jacobian!;
        Assert.Equal(6, jac.RitzSingularValues.Length);
        for (int i = 0; i < 6; i++) Assert.Equal(exact[i], jac.RitzSingularValues[i], 9);
        Assert.Equal(exact[0], jac.Largest, 9);
        double meanSquare = exact.Sum(s => s * s) / 6;
        Assert.True(Math.Abs(jac.MeanSquaredSingularValue.Measured - meanSquare) < 4 * jac.MeanSquaredStandardError,
            $"Hutchinson {jac.MeanSquaredSingularValue.Measured} ± {jac.MeanSquaredStandardError}, exact {meanSquare}");
        Assert.True(double.IsFinite(jac.MeanSquaredSingularValue.Predicted));
        // Fewer steps: the top Ritz value still converges first.
        var few = OpticsTrace.Measure(net, x, new OpticsOptions(LanczosSteps: 4, JacobianProbes: 0, Seed: 5)).Jacobian!;
        Assert.Equal(4, few.RitzSingularValues.Length);
        Assert.True(few.Largest <= exact[0] + 1e-12 && few.Largest > 0.9 * exact[0]);
        Assert.True(few.Smallest >= exact[^1] - 1e-12);
    }

    [Fact]
    public void ModulesThatAreNotAChainAreMeasuredWithoutPredictions()
    {
        var net = new Sequential(new Linear(4, 6, generator: new Generator(1), dtype: DType.Float64), new GELU(),
            new Linear(6, 3, generator: new Generator(2), dtype: DType.Float64));
        var trace = OpticsTrace.Measure(net, Tensor.Randn([2, 4], new Generator(3), DType.Float64), new OpticsOptions(LanczosSteps: 2, JacobianProbes: 2));
        Assert.False(trace.Predicted);
        Assert.Null(trace.Layers[0].Activation);
        Assert.True(double.IsNaN(trace.Layers[0].Q.Predicted));
        Assert.True(trace.Layers[0].Q.Measured > 0);
        Assert.True(double.IsNaN(trace.Jacobian!.MeanSquaredSingularValue.Predicted));
        var residual = new Sequential(new Linear(4, 4, generator: new Generator(1), dtype: DType.Float64), new Residual(new Sequential(new Linear(4, 4, generator: new Generator(2), dtype: DType.Float64), new Tanh())));
        Assert.False(OpticsTrace.Measure(residual, Tensor.Randn([2, 4], new Generator(3), DType.Float64), new OpticsOptions(LanczosSteps: 0, JacobianProbes: 0)).Predicted);
    }

    [Fact]
    public void BadInputsAreClearErrors()
    {
        var net = Models.Mlp(3, [4], 2, "relu", generator: new Generator(1), dtype: DType.Float64);
        Assert.Contains("B even", Assert.Throws<ArgumentException>(() => OpticsTrace.Measure(net, Tensor.Randn([3, 3], new Generator(2), DType.Float64))).Message);
        Assert.Contains("no layer named 'body'", Assert.Throws<ArgumentException>(() =>
            OpticsTrace.Measure(net, Tensor.Randn([2, 3], new Generator(2), DType.Float64), new OpticsOptions(Layers: ["body"]))).Message);
        Assert.Contains("only Linear", Assert.Throws<ArgumentException>(() =>
            OpticsTrace.Measure(net, Tensor.Randn([2, 3], new Generator(2), DType.Float64), new OpticsOptions(Layers: ["1"]))).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new OpticsSetup(MeanFieldActivation.Tanh, 1, 0, 0, 10).Validate());
    }

    // The check at CI size: width 1000, depth 8, three networks with 16 inputs each per setting; the measured
    // q^l and c^l, averaged, lie within 5% of the recursion at every layer. (ReLU at its critical point σ_w² = 2 is
    // left to the full-size command: there log q^l performs a random walk whose variance grows like depth/width
    // (Hanin and Rolnick 2018, arXiv 1801.03744). Below it, ReLU's q^l still fluctuates by about 8% per network, and
    // its inputs become so correlated that they share that noise, so for ReLU q^l must lie within 5% or four standard
    // errors, whichever is wider.) The full size (depth 20) is
    // `aperture optics --activation tanh --sw2 2.5 --sb2 0.05 --depth 20 --measure --width 1000 --seeds 16` (docs/instruments.md).
    [Theory]
    [InlineData(MeanFieldActivation.Tanh, 1.5, 0.05)]
    [InlineData(MeanFieldActivation.Tanh, 2.5, 0.05)]
    [InlineData(MeanFieldActivation.Relu, 1.5, 0.1)]
    public void AtWidthOneThousandMeasuredVarianceAndCorrelationFollowTheRecursion(MeanFieldActivation phi, double sw2, double sb2)
    {
        var setup = new OpticsSetup(phi, sw2, sb2, Depth: 8, Width: 1000, Pairs: 8, InputSecondMoment: 1, InputCorrelation: 0.3);
        var result = OpticsExperiment.Run(setup, seeds: 3, lanczosSteps: 0, jacobianProbes: 0);
        foreach (var l in result.Layers)
        {
            output.WriteLine($"layer {l.Layer}: q {l.Q.Mean:F4} ± {l.Q.StandardError:F4} vs {l.Q.Predicted:F4} ({l.Q.Ratio:F3}); " +
                $"c {l.C.Mean:F4} ± {l.C.StandardError:F4} vs {l.C.Predicted:F4} ({l.C.Ratio:F3}); gain {l.GradientGain.Ratio:F3}; active {l.ActiveFraction.Ratio:F3}");
            double tolerance = phi == MeanFieldActivation.Relu ? Math.Max(0.05, 4 * l.Q.StandardError / l.Q.Predicted) : 0.05;
            Assert.InRange(l.Q.Ratio, 1 - tolerance, 1 + tolerance);
            Assert.InRange(l.C.Ratio, 0.95, 1.05);
        }
        // The recursion itself is the nominal one: the prediction at the last layer approaches q* where q* is finite.
        if (Math.Pow(result.Point.QMapSlope, setup.Depth) < 0.01)
            Assert.InRange(result.Layers[^1].Q.Predicted / result.Point.QStar, 0.99, 1.02);
    }
}
