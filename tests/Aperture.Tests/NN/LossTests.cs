using Aperture.NN;

namespace Aperture.Tests.NN;

public class LossTests
{
    private static Tensor D(double[] values, params int[] shape) => Tensor.FromArray(values, shape);

    private static double Lse(params double[] x)
    {
        double m = x.Max();
        return m + Math.Log(x.Sum(v => Math.Exp(v - m)));
    }

    private static double Softplus(double x) => Math.Max(x, 0) + Math.Log(1 + Math.Exp(-Math.Abs(x)));

    [Fact]
    public void MseIsTheMeanSquaredError()
    {
        var loss = Losses.Mse(D([1, 2, 3, 4], 2, 2), D([0, 2, 5, 4], 2, 2));
        Assert.Equal((1 + 0 + 4 + 0) / 4.0, loss.Item(), 15);
        Assert.Equal(5, Losses.Mse(D([1, 2, 3, 4], 2, 2), D([0, 2, 5, 4], 2, 2), Reduction.Sum).Item(), 15);
        Assert.Equal([1.0, 0, 4, 0], Losses.Mse(D([1, 2, 3, 4], 2, 2), D([0, 2, 5, 4], 2, 2), Reduction.None).ToDoubleArray());
        Assert.Contains("must match", Assert.Throws<ShapeMismatchException>(() => Losses.Mse(Tensor.Zeros([2, 1]), Tensor.Zeros([2]))).Message);
    }

    [Fact]
    public void CrossEntropyMatchesAHandComputation()
    {
        var logits = D([1, 2, 3, 1, 0, -1], 2, 3);
        var target = Tensor.FromArray([2L, 0L]);
        double l0 = Lse(1, 2, 3) - 3, l1 = Lse(1, 0, -1) - 1;
        Assert.Equal((l0 + l1) / 2, Losses.CrossEntropy(logits, target).Item(), 14);
        var none = Losses.CrossEntropy(logits, target, Reduction.None).ToDoubleArray();
        Assert.Equal(l0, none[0], 14);
        Assert.Equal(l1, none[1], 14);
        Assert.Equal((l0 + l1) / 2, Losses.Nll(Ops.LogSoftmax(logits, 1), target).Item(), 14);
    }

    [Fact]
    public void CrossEntropyIsStableForHugeLogits()
    {
        var logits = Tensor.FromArray([1e4f, 0f, -1e4f, -1e4f, 1e4f, 0f], [2, 3]).RequiresGrad_();
        var loss = Losses.CrossEntropy(logits, Tensor.FromArray([0L, 0L]), Reduction.None);
        Assert.Equal([0f, 2e4f], loss.ToFloatArray());
        loss.Sum().Backward();
        var g = logits.Grad!.ToFloatArray();
        Assert.All(g, v => Assert.True(float.IsFinite(v)));
        Assert.Equal([0f, 0f, 0f, -1f, 1f, 0f], g);
    }

    [Fact]
    public void LabelSmoothingMixesInTheUniformDistribution()
    {
        var logits = D([1, 2, 3, 1, 0, -1], 2, 3);
        var target = Tensor.FromArray([2L, 0L]);
        const double eps = 0.1;
        double Smoothed(double[] x, int t) => (1 - eps) * (Lse(x) - x[t]) + eps * (Lse(x) - x.Average());
        double expected = (Smoothed([1, 2, 3], 2) + Smoothed([1, 0, -1], 0)) / 2;
        Assert.Equal(expected, Losses.CrossEntropy(logits, target, labelSmoothing: eps).Item(), 14);

        // The same loss from probability targets: one-hot rows smoothed the same way.
        var onehot = D([0, 0, 1, 1, 0, 0], 2, 3);
        Assert.Equal(expected, Losses.CrossEntropy(logits, onehot, labelSmoothing: eps).Item(), 14);
        Assert.Equal(Losses.CrossEntropy(logits, target).Item(), Losses.CrossEntropy(logits, onehot).Item(), 14);
    }

    [Fact]
    public void ClassTargetsAreChecked()
    {
        var logits = Tensor.Zeros([2, 3]);
        Assert.Contains("target 3 of example 1 is out of range for 3 classes",
            Assert.Throws<IndexOutOfRangeException>(() => Losses.CrossEntropy(logits, Tensor.FromArray([0L, 3L]))).Message);
        Assert.Throws<ShapeMismatchException>(() => Losses.CrossEntropy(logits, Tensor.FromArray([0L])));
        Assert.Throws<ShapeMismatchException>(() => Losses.Nll(Tensor.Zeros([3]), Tensor.FromArray([0L])));
        Assert.Contains("int64", Assert.Throws<DTypeMismatchException>(() => Losses.Nll(logits, Tensor.Zeros([2]))).Message);
    }

    [Fact]
    public void BinaryCrossEntropyWithLogitsIsStableAndExact()
    {
        double[] x = [-100, 0, 3, 100], y = [0, 1, 0.3, 1];
        var logits = D(x, 4).RequiresGrad_();
        var loss = Losses.BinaryCrossEntropyWithLogits(logits, D(y, 4));
        double expected = Enumerable.Range(0, 4).Select(i => Softplus(x[i]) - x[i] * y[i]).Average();
        Assert.Equal(expected, loss.Item(), 14);
        loss.Backward();
        var g = logits.Grad!.ToDoubleArray();
        for (int i = 0; i < 4; i++) Assert.Equal((1 / (1 + Math.Exp(-x[i])) - y[i]) / 4, g[i], 14); // (σ(x) − y)/N, also at x = 0

        var w = D([2.0], 1);
        var weighted = Losses.BinaryCrossEntropyWithLogits(D(x, 4), D(y, 4), Reduction.Sum, posWeight: w);
        double expectedWeighted = Enumerable.Range(0, 4).Sum(i => 2 * y[i] * Softplus(-x[i]) + (1 - y[i]) * Softplus(x[i]));
        Assert.Equal(expectedWeighted, weighted.Item(), 12);
        Assert.Throws<DTypeMismatchException>(() => Losses.BinaryCrossEntropyWithLogits(Tensor.Zeros([2]), Tensor.Zeros([2], DType.Float64)));
    }

    [Fact]
    public void CrossEntropyGradientPassesAGradientCheck()
    {
        var target = Tensor.FromArray([1L, 0L, 2L]);
        var result = GradCheck.Check(x => Losses.CrossEntropy(x, target, labelSmoothing: 0.2), Tensor.Randn([3, 4], new Generator(0), DType.Float64));
        Assert.True(result.Passed, result.ToString());
    }
}
