using Aperture.Data;

namespace Aperture.Tests.Data;

public class SyntheticTests
{
    [Fact]
    public void SineRegressionIsSinOfTheInputsPlusTheRequestedNoise()
    {
        var even = Synthetic.SineRegression(5, new Generator(0), low: -2, high: 2, evenlySpaced: true);
        Assert.Equal([5, 1], even.Inputs.ShapeArray());
        Assert.Equal(new[] { -2f, -1, 0, 1, 2 }, even.Inputs.ToArray<float>());
        Assert.Equal(new[] { -2.0, -1, 0, 1, 2 }.Select(v => (float)Math.Sin(v)), even.Targets.ToArray<float>());

        var noisy = Synthetic.SineRegression(20000, new Generator(1), noiseStd: 0.1, dtype: DType.Float64);
        var x = noisy.Inputs.ToArray<double>();
        var residual = noisy.Targets.ToArray<double>().Select((y, i) => y - Math.Sin(x[i])).ToArray();
        Assert.All(x, v => Assert.InRange(v, -Math.PI, Math.PI));
        Assert.Equal(0.1, Math.Sqrt(residual.Select(r => r * r).Average()), tolerance: 0.003);
        Assert.Equal(x, Synthetic.SineRegression(20000, new Generator(1), noiseStd: 0.1, dtype: DType.Float64).Inputs.ToArray<double>());
        Assert.Throws<ArgumentException>(() => Synthetic.SineRegression(3, new Generator(0), low: 1, high: 1));
    }

    [Fact]
    public void TwoSpiralsLieOnTheirSpirals()
    {
        const double turns = 1.5;
        var data = Synthetic.TwoSpirals(400, new Generator(2), turns: turns, dtype: DType.Float64);
        var xy = data.Inputs.ToArray<double>();
        var labels = data.Targets.ToArray<long>();
        Assert.Equal(200, labels.Count(l => l == 1));
        for (int i = 0; i < 400; i++)
        {
            double r = Math.Sqrt(xy[2 * i] * xy[2 * i] + xy[2 * i + 1] * xy[2 * i + 1]);
            Assert.InRange(r, 0, 1 + 1e-12);
            // The point's polar angle equals the spiral's angle at its radius, modulo a full turn.
            double expected = 2 * Math.PI * turns * r + Math.PI * labels[i];
            double diff = Math.IEEERemainder(Math.Atan2(xy[2 * i + 1], xy[2 * i]) - expected, 2 * Math.PI);
            Assert.True(Math.Abs(diff) < 1e-9 || r < 1e-9, $"point {i} is off its spiral by {diff} rad");
        }
    }

    [Fact]
    public void GaussianMixtureClustersAroundItsMeans()
    {
        var task = Synthetic.GaussianMixture(3000, 3, 4, new Generator(3), radius: 5, std: 0.5);
        var means = task.Means.ToArray<double>();
        var x = task.Data.Inputs.ToArray<float>();
        var labels = task.Data.Targets.ToArray<long>();
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(5, Math.Sqrt(Enumerable.Range(0, 4).Sum(k => means[c * 4 + k] * means[c * 4 + k])), 10);
            var members = Enumerable.Range(0, 3000).Where(i => labels[i] == c).ToArray();
            Assert.Equal(1000, members.Length);
            for (int k = 0; k < 4; k++) Assert.Equal(means[c * 4 + k], members.Average(i => x[i * 4 + k]), tolerance: 0.08); // 5 standard errors
        }
        Assert.Equal(new long[] { 0, 1, 2, 0 }, labels[..4]);
    }

    [Fact]
    public void ModularArithmeticCoversEveryPairOnce()
    {
        var task = Synthetic.ModularArithmetic(7, 0.3, new Generator(4));
        Assert.Equal(15, task.Train.Count); // round(0.3 · 49)
        Assert.Equal(34, task.Test.Count);
        var pairs = new HashSet<(long, long)>();
        foreach (var set in new[] { task.Train, task.Test })
        {
            var ab = set.Inputs.ToArray<long>();
            var y = set.Targets.ToArray<long>();
            for (int i = 0; i < set.Count; i++)
            {
                Assert.Equal((ab[2 * i] + ab[2 * i + 1]) % 7, y[i]);
                Assert.True(pairs.Add((ab[2 * i], ab[2 * i + 1])));
            }
        }
        Assert.Equal(49, pairs.Count);

        var oneHot = Synthetic.ModularArithmetic(7, 0.3, new Generator(4), ModularEncoding.OneHot);
        Assert.Equal([15, 14], oneHot.Train.Inputs.ShapeArray());
        var h = oneHot.Train.Inputs.ToArray<float>();
        var idx = task.Train.Inputs.ToArray<long>();
        for (int i = 0; i < 15; i++)
        {
            Assert.Equal(2f, h.AsSpan(i * 14, 14).ToArray().Sum());
            Assert.Equal(1f, h[i * 14 + idx[2 * i]]);
            Assert.Equal(1f, h[i * 14 + 7 + idx[2 * i + 1]]);
        }
    }

    [Fact]
    public void TheSingularValueRoutineIsExactOnKnownMatrices()
    {
        // [[3, 0], [4, 5]] has singular values 3√5 and √5.
        var s = Synthetic.SingularValues([3, 0, 4, 5], 2, 2);
        Assert.Equal(3 * Math.Sqrt(5), s[0], 12);
        Assert.Equal(Math.Sqrt(5), s[1], 12);
        // A wide diagonal matrix with a tiny entry: relative accuracy on the smallest value.
        var w = Synthetic.SingularValues([2, 0, 0, 0, 1e-9, 0], 2, 3);
        Assert.Equal(2, w[0], 15);
        Assert.Equal(1e-9, w[1], 1e-21);
        var q = Synthetic.RandomOrthogonal(6, new Generator(1));
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++)
                Assert.Equal(i == j ? 1 : 0, Enumerable.Range(0, 6).Sum(k => q[k * 6 + i] * q[k * 6 + j]), 12);
    }

    [Theory]
    [InlineData(10, 6, 1e5)]
    [InlineData(6, 10, 1e3)]
    [InlineData(8, 8, 1)]
    public void IllConditionedLeastSquaresHasTheChosenConditionNumber(int outputs, int inputs, double kappa)
    {
        var task = Synthetic.IllConditionedLeastSquares(outputs, inputs, kappa, samples: 50, new Generator(5));
        Assert.Equal(kappa, task.MeasuredConditionNumber, kappa * 1e-8);
        var s = task.SingularValues.ToArray<double>();
        Assert.Equal(1, s[0]);
        Assert.Equal(1 / kappa, s[^1], 1e-15);
        // ‖A‖_F² = Σ sᵢ², a check of the construction independent of the SVD routine.
        var a = task.Matrix.ToArray<double>();
        Assert.Equal(s.Sum(v => v * v), a.Sum(v => v * v), 10);
        var x = task.Data.Inputs.ToArray<double>();
        var y = task.Data.Targets.ToArray<double>();
        for (int n = 0; n < 50; n++)
            for (int i = 0; i < outputs; i++)
                Assert.Equal(Enumerable.Range(0, inputs).Sum(j => a[i * inputs + j] * x[n * inputs + j]), y[n * outputs + i], 12);
    }

    [Fact]
    public void ATeacherLabelsItsDataWithItsOwnForwardPass()
    {
        var task = Synthetic.TeacherStudent(64, 32, inputs: 5, hidden: [7, 6], outputs: 3, new Generator(6), noiseStd: 0.05);
        var t = task.Teacher;
        Assert.Equal(3, t.Weights.Count);
        // Recompute the test targets by hand: relu layers, then a linear output.
        var x = task.Test.Inputs.ToArray<float>();
        var want = task.Test.Targets.ToArray<float>();
        for (int n = 0; n < 32; n++)
        {
            double[] h = x.AsSpan(n * 5, 5).ToArray().Select(v => (double)v).ToArray();
            for (int l = 0; l < 3; l++)
            {
                var w = t.Weights[l].ToArray<float>();
                var b = t.Biases[l].ToArray<float>();
                int outs = t.Weights[l].Shape[0];
                var next = new double[outs];
                for (int o = 0; o < outs; o++)
                {
                    double sum = b[o];
                    for (int k = 0; k < h.Length; k++) sum += w[o * h.Length + k] * h[k];
                    next[o] = l < 2 ? Math.Max(0, sum) : sum;
                }
                h = next;
            }
            for (int o = 0; o < 3; o++) Assert.Equal(h[o], want[n * 3 + o], 4);
        }
        var clean = t.Forward(task.Train.Inputs).ToArray<float>();
        var noisy = task.Train.Targets.ToArray<float>();
        double rms = Math.Sqrt(clean.Zip(noisy, (a, b) => (a - b) * (a - b)).Average());
        Assert.InRange(rms, 0.03, 0.07);

        var cls = Synthetic.TeacherStudent(50, 10, 4, [8], 5, new Generator(6), classification: true);
        Assert.Equal(DType.Int64, cls.Train.Targets.DType);
        Assert.Equal(Ops.ArgMax(cls.Teacher.Forward(cls.Test.Inputs), 1).ToArray<long>(), cls.Test.Targets.ToArray<long>());
        Assert.Equal(task.Train.Inputs.ToArray<float>(),
            Synthetic.TeacherStudent(64, 32, 5, [7, 6], 3, new Generator(6), noiseStd: 0.05).Train.Inputs.ToArray<float>());
    }
}
