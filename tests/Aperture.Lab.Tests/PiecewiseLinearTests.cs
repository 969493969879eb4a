using Aperture.Lab.Probes;

namespace Aperture.Lab.Tests;

public class PiecewiseLinearTests
{
    // Telgarsky's sawtooth: the tent map t(x) = 2·relu(x) − 4·relu(x − ½) composed L times has 2^L pieces on [0, 1]
    // (and, from two layers on, is 0 outside it: one more flat piece on each side).
    private static PiecewiseLinear Sawtooth(int layers)
    {
        var weights = new List<double[,]> { new double[,] { { 1 }, { 1 } } };
        var biases = new List<double[]> { new[] { 0, -0.5 } };
        for (int l = 1; l < layers; l++)
        {
            weights.Add(new double[,] { { 2, -4 }, { 2, -4 } });
            biases.Add([0, -0.5]);
        }
        weights.Add(new double[,] { { 2, -4 } });
        biases.Add([0]);
        return PiecewiseLinear.Analyze(weights, biases);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(6)]
    public void SawtoothHasTwoToTheDepthPieces(int layers)
    {
        var f = Sawtooth(layers);
        int n = 1 << layers;
        Assert.Equal(n + 2, f.Pieces.Count);
        var hinges = f.Hinges.ToArray();
        Assert.Equal(n + 1, hinges.Length);
        for (int k = 0; k <= n; k++) Assert.Equal(k / (double)n, hinges[k], 1e-12);
        Assert.Equal(0, f.Evaluate(-3), 12);
        Assert.Equal(0, f.Evaluate(7), 12);
        Assert.Equal(1, f.Evaluate(1.0 / n), 12);
        Assert.Equal(0.5, f.Evaluate(0.5 / n), 12);
    }

    [Fact]
    public void OneLayerHingesAreMinusBiasOverWeight()
    {
        var f = PiecewiseLinear.Analyze(
            [new double[,] { { 2 }, { -1 }, { 0.5 } }, new double[,] { { 1, 1, 1 } }],
            [[1, 3, -2], [0.25]]);
        Assert.Equal([-0.5, 3, 4], f.Hinges.ToArray());
        Assert.Equal(4, f.Pieces.Count);
    }

    [Fact]
    public void SwitchesThatDoNotReachTheOutputAreNotHinges()
    {
        // The second unit switches at x = 1 but its outgoing weight is 0: an activation boundary, not a hinge.
        var f = PiecewiseLinear.Analyze([new double[,] { { 1 }, { 1 } }, new double[,] { { 1, 0 } }], [[0, -1], [0]]);
        Assert.Equal([0.0, 1.0], f.RegionBoundaries);
        Assert.Equal([0.0], f.Hinges.ToArray());
    }

    [Fact]
    public void RandomDeepNetMatchesDirectEvaluation()
    {
        var g = new Generator(3);
        int[] sizes = [1, 16, 16, 16, 1];
        var weights = new List<double[,]>();
        var biases = new List<double[]>();
        for (int l = 0; l + 1 < sizes.Length; l++)
        {
            var w = new double[sizes[l + 1], sizes[l]];
            for (int i = 0; i < w.GetLength(0); i++)
                for (int j = 0; j < w.GetLength(1); j++) w[i, j] = g.NextNormal() / Math.Sqrt(sizes[l]);
            weights.Add(w);
            biases.Add([.. Enumerable.Range(0, sizes[l + 1]).Select(_ => g.NextNormal())]);
        }
        var f = PiecewiseLinear.Analyze(weights, biases);
        double Direct(double x)
        {
            double[] h = [x];
            for (int l = 0; l < weights.Count; l++)
            {
                var next = new double[weights[l].GetLength(0)];
                for (int i = 0; i < next.Length; i++)
                {
                    double s = biases[l][i];
                    for (int j = 0; j < h.Length; j++) s += weights[l][i, j] * h[j];
                    next[i] = l < weights.Count - 1 ? Math.Max(0, s) : s;
                }
                h = next;
            }
            return h[0];
        }
        for (int i = 0; i <= 4000; i++)
        {
            double x = -10 + 20 * i / 4000.0;
            Assert.Equal(Direct(x), f.Evaluate(x), 1e-9);
        }
        // A fine grid can only see fewer slope changes than there are hinges, never more.
        int seen = 0;
        double prev = double.NaN;
        for (int i = 0; i < 20000; i++)
        {
            double x0 = -10 + 20 * i / 20000.0, x1 = x0 + 1e-3;
            double slope = (Direct(x1) - Direct(x0)) / 1e-3;
            if (!double.IsNaN(prev) && Math.Abs(slope - prev) > 1e-6) seen++;
            prev = slope;
        }
        Assert.True(f.Hinges.Count(h => h > -10 && h < 10) >= seen / 2, $"grid saw {seen} slope changes, analysis found {f.Hinges.Count()} hinges");
        Assert.True(f.Pieces.Count > 5);
    }
}
