using Aperture.Lab.Probes;
using Aperture.NN;

namespace Aperture.Lab.Tests.Probes;

public class LandscapeTests
{
    /// <summary>f(x) = a·b·x fit to y = x by squared error: the solutions are the hyperbola a·b = 1, and L = (ab − 1)²·mean(x²).</summary>
    private static (EmpiricalLoss Loss, double SecondMoment) Hyperbola()
    {
        var net = new Sequential(new Linear(1, 1, bias: false, generator: new Generator(0), dtype: DType.Float64), new Linear(1, 1, bias: false, generator: new Generator(0), dtype: DType.Float64));
        var x = Tensor.Randn([32, 1], new Generator(1), DType.Float64);
        double m2 = x.ToDoubleArray().Average(v => v * v);
        return (new EmpiricalLoss(net, x, x, BatchNormMode.Eval, (o, t) => Losses.Mse(o, t)), m2);
    }

    [Fact]
    public void TheSegmentIsTheLossAtEachInterpolatedPointAndItsBarrierIsExact()
    {
        var (loss, m2) = Hyperbola();
        double[] a = [2, 0.5], b = [0.5, 2];
        var saved = EmpiricalLoss.Flatten(loss.Select(null));
        var path = Landscape.Segment(loss, a, b, points: 11);
        Assert.Equal(saved, EmpiricalLoss.Flatten(loss.Select(null)));
        Assert.Equal(11, path.T.Length);
        for (int k = 0; k < path.T.Length; k++)
        {
            double t = path.T[k], u = 2 - 1.5 * t, v = 0.5 + 1.5 * t;
            Assert.Equal((u * v - 1) * (u * v - 1) * m2, path.Losses[k], 1e-13);
        }
        // Both ends are solutions; the middle of the segment is (1.25, 1.25): barrier (1.25² − 1)²·m2 at t = ½.
        Assert.Equal(0.5, path.BarrierT);
        Assert.Equal(Math.Pow(1.5625 - 1, 2) * m2, path.Barrier, 1e-13);
        Assert.Equal(path.Barrier, path.Height, 1e-13);

        // Extrapolation beyond the ends keeps t = 0 and t = 1 among the points.
        var wide = Landscape.Segment(loss, a, b, points: 5, lo: -0.5, hi: 1.5);
        Assert.Equal([-0.5, 0, 0.5, 1, 1.5], wide.T);
        Assert.Contains("contain [0, 1]", Assert.Throws<ArgumentOutOfRangeException>(() => Landscape.Segment(loss, a, b, lo: 0.2)).Message);
        Assert.Contains("from has 3 values but the model has 2", Assert.Throws<ArgumentException>(() => Landscape.Segment(loss, [1.0, 2, 3], b)).Message);
    }

    [Fact]
    public void AConvexLossHasNoBarrierOnASegment()
    {
        var net = new Linear(4, 2, generator: new Generator(3), dtype: DType.Float64);
        var x = Tensor.Randn([20, 4], new Generator(4), DType.Float64);
        var y = Tensor.Randn([20, 2], new Generator(5), DType.Float64);
        var loss = new EmpiricalLoss(net, x, y, BatchNormMode.Eval, (o, t) => Losses.Mse(o, t));
        var g = new Generator(6);
        var a = Enumerable.Range(0, loss.ParameterCount).Select(_ => g.NextNormal()).ToArray();
        var b = Enumerable.Range(0, loss.ParameterCount).Select(_ => g.NextNormal()).ToArray();
        var path = Landscape.Segment(loss, a, b, points: 21);
        Assert.Equal(0, path.Barrier, 1e-12); // attained at an end; everywhere else the rise is negative
        Assert.All(path.T.Zip(path.Losses), p => Assert.True(p.Second <= (1 - p.First) * path.Losses[0] + p.First * path.Losses[^1] + 1e-12));
    }

    [Fact]
    public void FilterNormalizedDirectionsMatchEachFiltersNormAndSkipBiasesAndNormalization()
    {
        var net = Models.Mlp(5, [6, 4], 3, "relu", batchNorm: true, generator: new Generator(7), dtype: DType.Float64);
        var x = Tensor.Randn([8, 5], new Generator(8), DType.Float64);
        var y = Tensor.FromArray(Enumerable.Range(0, 8).Select(i => (long)(i % 3)).ToArray(), [8]);
        var loss = new EmpiricalLoss(net, x, y, BatchNormMode.Eval);
        var d = Landscape.FilterNormalizedDirection(loss, new Generator(9));
        var withAll = Landscape.FilterNormalizedDirection(loss, new Generator(9), includeBiasAndNorm: true);
        Assert.Equal(d, Landscape.FilterNormalizedDirection(loss, new Generator(9)));
        int offset = 0;
        foreach (var (name, p) in loss.Parameters)
        {
            var w = p.ToDoubleArray();
            var seg = d.AsSpan(offset, w.Length).ToArray();
            if (name.EndsWith("weight") && p.Rank == 2)
            {
                int rows = p.Shape[0], cols = p.Shape[1];
                for (int r = 0; r < rows; r++)
                {
                    double dn = Math.Sqrt(Enumerable.Range(0, cols).Sum(c => seg[r * cols + c] * seg[r * cols + c]));
                    double wn = Math.Sqrt(Enumerable.Range(0, cols).Sum(c => w[r * cols + c] * w[r * cols + c]));
                    Assert.Equal(wn, dn, 1e-9);
                }
                Assert.Equal(seg, withAll.AsSpan(offset, w.Length).ToArray());
            }
            else
            {
                // Biases and the batch norm layers' weights and biases (name "1.weight" is BatchNorm1d's).
                Assert.All(seg, v => Assert.Equal(0, v));
                Assert.Equal(w, withAll.AsSpan(offset, w.Length).ToArray());
            }
            offset += w.Length;
        }
        Assert.Contains(loss.Parameters, p => p.Name == "1.weight");
    }

    [Fact]
    public void ThePlaneIsTheLossAtEachGridPoint()
    {
        var net = Models.Mlp(4, [5], 3, "tanh", generator: new Generator(10), dtype: DType.Float64);
        var x = Tensor.Randn([12, 4], new Generator(11), DType.Float64);
        var y = Tensor.FromArray(Enumerable.Range(0, 12).Select(i => (long)(i % 3)).ToArray(), [12]);
        var loss = new EmpiricalLoss(net, x, y, BatchNormMode.Eval);
        var ps = loss.Select(null);
        var center = EmpiricalLoss.Flatten(ps);
        var d1 = Landscape.FilterNormalizedDirection(loss, new Generator(1));
        var d2 = Landscape.FilterNormalizedDirection(loss, new Generator(2));
        double[] alphas = [-1, -0.25, 0, 0.5], betas = [-0.5, 0, 1];
        var plane = Landscape.Plane(loss, center, d1, d2, alphas, betas);
        Assert.Equal(center, EmpiricalLoss.Flatten(ps));
        Assert.Equal(loss.Value(), plane[2, 1]);
        for (int j = 0; j < betas.Length; j++)
            for (int i = 0; i < alphas.Length; i++)
            {
                EmpiricalLoss.Load(ps, center.Select((c, k) => c + alphas[i] * d1[k] + betas[j] * d2[k]).ToArray());
                Assert.Equal(loss.Value(), plane[i, j], 1e-14);
            }
        EmpiricalLoss.Load(ps, center);
    }

    [Fact]
    public void ATrainedBezierCurveFindsTheValleyTheStraightLineCrosses()
    {
        var (loss, _) = Hyperbola();
        double[] a = [2, 0.5], b = [0.5, 2];
        var line = Landscape.Segment(loss, a, b, points: 41);
        var curve = Landscape.TrainBezier(loss, a, b, steps: 400, learningRate: 0.05, seed: 3, points: 41);
        Assert.True(curve.Path.Barrier < 0.01 * line.Barrier, $"curve barrier {curve.Path.Barrier} vs line {line.Barrier}");
        Assert.True(curve.Path.Barrier >= 0);
        // By symmetry the best control point lies on the diagonal, near (0.75, 0.75), where φ(½) = (1, 1) is a solution.
        Assert.Equal(0.75, curve.Control[0], 0.05);
        Assert.Equal(0.75, curve.Control[1], 0.05);
        Assert.Equal(400, curve.TrainingLosses.Length);
        // Deterministic for a seed.
        Assert.Equal(curve.Control, Landscape.TrainBezier(loss, a, b, steps: 400, learningRate: 0.05, seed: 3, points: 41).Control);
    }
}
