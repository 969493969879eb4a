using Aperture.NN;

namespace Aperture.Tests.NN;

public class LayerTests
{
    private static Tensor D(double[] values, params int[] shape) => Tensor.FromArray(values, shape);

    [Fact]
    public void LinearComputesXWtPlusB()
    {
        var layer = new Linear(3, 2, generator: new Generator(0), dtype: DType.Float64);
        var x = Tensor.Randn([4, 3], new Generator(1), DType.Float64);
        var expected = Ops.Add(x.MatMul(layer.Weight.T), layer.Bias!).ToDoubleArray();
        Assert.Equal(expected, layer.Forward(x).ToDoubleArray());
        Assert.Equal([4, 2], layer.Forward(x).ShapeArray());
        Assert.Equal([2, 5, 2], layer.Forward(Tensor.Randn([2, 5, 3], new Generator(2), DType.Float64)).ShapeArray());
    }

    [Fact]
    public void LinearSizeErrorNamesTheLayer()
    {
        var layer = new Linear(784, 256, generator: new Generator(0));
        var e = Assert.Throws<ShapeMismatchException>(() => layer.Forward(Tensor.Zeros([32, 100])));
        Assert.StartsWith("Linear(784 → 256): input has 100 features, expected 784", e.Message);
        var d = Assert.Throws<DTypeMismatchException>(() => layer.Forward(Tensor.Zeros([1, 784], DType.Float64)));
        Assert.Contains("Linear(784 → 256): input is float64", d.Message);
    }

    [Fact]
    public void LinearDefaultInitIsPyTorchs()
    {
        var layer = new Linear(100, 50, generator: new Generator(0));
        double bound = 1 / Math.Sqrt(100);
        Assert.All(layer.Weight.ToFloatArray(), w => Assert.InRange(w, -bound, bound));
        Assert.All(layer.Bias!.ToFloatArray(), b => Assert.InRange(b, -bound, bound));
        // U(−b, b) has variance b²/3.
        Assert.Equal(bound * bound / 3, layer.Weight.ToDoubleArray().Select(w => w * w).Average(), 3e-4);
    }

    [Fact]
    public void EmbeddingLooksUpRows()
    {
        var emb = new Embedding(5, 3, generator: new Generator(0));
        var idx = Tensor.FromArray([4L, 0L, 4L, 2L], [2, 2]);
        var y = emb.Forward(idx);
        Assert.Equal([2, 2, 3], y.ShapeArray());
        var w = emb.Weight.ToFloatArray();
        Assert.Equal(w[12..15], y.ToFloatArray()[0..3]);
        Assert.Equal(w[6..9], y.ToFloatArray()[9..12]);
        y.Sum().Backward();
        Assert.Equal([1f, 1f, 1f, 0f, 0f, 0f, 1f, 1f, 1f, 0f, 0f, 0f, 2f, 2f, 2f], emb.Weight.Grad!.ToFloatArray());
        Assert.Contains("index 5", Assert.Throws<IndexOutOfRangeException>(() => emb.Forward(Tensor.FromArray([5L]))).Message);
        Assert.Throws<DTypeMismatchException>(() => emb.Forward(Tensor.Zeros([2])));
    }

    [Fact]
    public void FlattenKeepsTheBatchDimension()
    {
        Assert.Equal([2, 12], new Flatten().Forward(Tensor.Zeros([2, 3, 4])).ShapeArray());
        Assert.Equal([6, 4], new Flatten(0, 1).Forward(Tensor.Zeros([2, 3, 4])).ShapeArray());
        Assert.Throws<ShapeMismatchException>(() => new Flatten(2, 5).Forward(Tensor.Zeros([2, 3])));
    }

    [Fact]
    public void ResidualAddsTheInput()
    {
        var body = new Linear(3, 3, generator: new Generator(0), dtype: DType.Float64);
        var block = new Residual(body);
        var x = Tensor.Randn([2, 3], new Generator(1), DType.Float64);
        Assert.Equal(Ops.Add(x, body.Forward(x)).ToDoubleArray(), block.Forward(x).ToDoubleArray());
        Assert.Equal(["body.weight", "body.bias"], block.NamedParameters().Select(p => p.Name));
        var bad = new Residual(new Linear(3, 2, generator: new Generator(0)));
        Assert.Contains("same shape", Assert.Throws<ShapeMismatchException>(() => bad.Forward(Tensor.Zeros([1, 3]))).Message);
    }

    [Fact]
    public void SequentialIndexesAndNames()
    {
        var g = new Generator(0);
        var seq = new Sequential([("body", new Linear(2, 2, generator: g)), ("act", new Tanh())]);
        Assert.Equal(["body.weight", "body.bias"], seq.NamedParameters().Select(p => p.Name));
        Assert.IsType<Tanh>(seq[-1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => seq[2]);
        Assert.Throws<ArgumentException>(() => seq.Append("act", new ReLU()));
        Assert.Equal(3, seq.Append(new ReLU()).Count);
    }

    [Fact]
    public void ActivationsMatchTheirOps()
    {
        var x = D([-2, -0.5, 0, 0.5, 3], 5);
        Assert.Equal(Ops.Relu(x).ToDoubleArray(), new ReLU().Forward(x).ToDoubleArray());
        Assert.Equal(Ops.LeakyRelu(x, 0.2).ToDoubleArray(), new LeakyReLU(0.2).Forward(x).ToDoubleArray());
        Assert.Equal(Ops.Sigmoid(x).ToDoubleArray(), new Sigmoid().Forward(x).ToDoubleArray());
        Assert.Equal(Ops.Tanh(x).ToDoubleArray(), new Tanh().Forward(x).ToDoubleArray());
        Assert.Equal(Ops.Gelu(x).ToDoubleArray(), new GELU().Forward(x).ToDoubleArray());
        Assert.Equal(Ops.Gelu(x, true).ToDoubleArray(), new GELU("tanh").Forward(x).ToDoubleArray());
        Assert.Same(x, new Identity().Forward(x));
        var sp = new Softplus(2).Forward(x).ToDoubleArray();
        for (int i = 0; i < 5; i++) Assert.Equal(Math.Log(1 + Math.Exp(2 * x.At(i))) / 2, sp[i], 12);
        Assert.IsType<LeakyReLU>(Activations.Create("LEAKY_RELU"));
        Assert.Contains("relu, leaky_relu", Assert.Throws<ArgumentException>(() => Activations.Create("swish")).Message);
        Assert.Throws<ArgumentException>(() => new GELU("fast"));
    }

    [Fact]
    public void BatchNormTracksRunningStatisticsLikeAHandComputation()
    {
        var bn = new BatchNorm1d(2, dtype: DType.Float64);
        double[] b1 = [1, 10, 2, 20, 3, 30, 6, 0], b2 = [0, 1, 0, 1, 4, 5, 4, 5];
        var y = bn.Forward(D(b1, 4, 2)).ToDoubleArray();
        bn.Forward(D(b2, 4, 2));

        double[] rm = [0, 0], rv = [1, 1];
        foreach (var batch in new[] { b1, b2 })
            for (int c = 0; c < 2; c++)
            {
                var col = Enumerable.Range(0, 4).Select(i => batch[i * 2 + c]).ToArray();
                double mean = col.Average(), unbiased = col.Sum(v => (v - mean) * (v - mean)) / 3;
                rm[c] = 0.9 * rm[c] + 0.1 * mean;
                rv[c] = 0.9 * rv[c] + 0.1 * unbiased;
            }
        Assert.Equal(rm[0], bn.RunningMean!.At(0), 12);
        Assert.Equal(rm[1], bn.RunningMean!.At(1), 12);
        Assert.Equal(rv[0], bn.RunningVar!.At(0), 12);
        Assert.Equal(rv[1], bn.RunningVar!.At(1), 12);
        Assert.Equal(2, bn.NumBatchesTracked);

        // Training mode: each channel of the first batch normalized with its biased variance.
        double m0 = 3, v0 = (4 + 1 + 0 + 9) / 4.0;
        Assert.Equal((1 - m0) / Math.Sqrt(v0 + 1e-5), y[0], 12);

        // Evaluation mode uses the running statistics and leaves them alone.
        bn.Eval();
        var e = bn.Forward(D([2, 3], 1, 2)).ToDoubleArray();
        Assert.Equal((2 - rm[0]) / Math.Sqrt(rv[0] + 1e-5), e[0], 12);
        Assert.Equal((3 - rm[1]) / Math.Sqrt(rv[1] + 1e-5), e[1], 12);
        Assert.Equal(2, bn.NumBatchesTracked);
    }

    [Fact]
    public void NormalizationLayersTakeInitializers()
    {
        var bn = new BatchNorm2d(4, weightInit: Init.Uniform(0.5, 1), biasInit: Init.Constant(0.1), generator: new Generator(0));
        Assert.All(bn.Weight!.ToFloatArray(), w => Assert.InRange(w, 0.5f, 1f));
        Assert.Equal([0.1f, 0.1f, 0.1f, 0.1f], bn.Bias!.ToFloatArray());
        var ln = new LayerNorm(3, weightInit: Init.Constant(2));
        Assert.Equal([2f, 2f, 2f], ln.Weight!.ToFloatArray());
        Assert.Contains("BatchNorm1d(2", Assert.Throws<ArgumentNullException>(() => new BatchNorm1d(2, weightInit: Init.Normal())).Message);
    }

    [Fact]
    public void BatchNormCumulativeAverageAndStateDict()
    {
        var bn = new BatchNorm1d(1, momentum: null, dtype: DType.Float64);
        bn.Forward(D([0, 2], 2, 1));
        bn.Forward(D([4, 6], 2, 1));
        Assert.Equal(3, bn.RunningMean!.Item(), 12); // (1 + 5)/2
        Assert.Equal(2, bn.RunningVar!.Item(), 12);  // (2 + 2)/2
        Assert.Equal(["weight", "bias", "running_mean", "running_var", "num_batches_tracked"], bn.StateDict().Keys);
        var copy = new BatchNorm1d(1, momentum: null, dtype: DType.Float64);
        copy.LoadStateDict(bn.StateDict());
        Assert.Equal(2, copy.NumBatchesTracked);
        Assert.Equal(3, copy.RunningMean!.Item(), 12);
    }

    [Fact]
    public void BatchNorm2dNormalizesOverBatchAndSpace()
    {
        var bn = new BatchNorm2d(3, dtype: DType.Float64);
        var x = Ops.Add(Ops.Mul(Tensor.Randn([4, 3, 5, 5], new Generator(0), DType.Float64), 3.0), 7.0);
        var y = bn.Forward(x);
        var mean = Ops.Mean(y, [0, 2, 3]).ToDoubleArray();
        var variance = Ops.Var(y, [0, 2, 3], correction: 0).ToDoubleArray();
        Assert.All(mean, m => Assert.Equal(0, m, 10));
        Assert.All(variance, v => Assert.Equal(1, v, 3));
        Assert.Contains("4 channels", Assert.Throws<ShapeMismatchException>(() => bn.Forward(Tensor.Zeros([2, 4, 2, 2], DType.Float64))).Message);
        Assert.Contains("4-d", Assert.Throws<ShapeMismatchException>(() => bn.Forward(Tensor.Zeros([2, 3], DType.Float64))).Message);
        Assert.Throws<ShapeMismatchException>(() => new BatchNorm1d(2).Forward(Tensor.Zeros([1, 2])));
    }

    [Fact]
    public void LayerNormNormalizesEachExample()
    {
        var ln = new LayerNorm(3, dtype: DType.Float64);
        var y = ln.Forward(D([1, 2, 3, 10, 10, 16], 2, 3)).ToDoubleArray();
        double s = Math.Sqrt(2.0 / 3 + 1e-5);
        Assert.Equal(-1 / s, y[0], 12);
        Assert.Equal(0, y[1], 12);
        Assert.Equal(4 / Math.Sqrt(8 + 1e-5), y[5], 12); // mean 12, var 8
        Assert.Equal(["weight", "bias"], ln.NamedParameters().Select(p => p.Name));
        Assert.Throws<ShapeMismatchException>(() => ln.Forward(Tensor.Zeros([2, 4], DType.Float64)));
        var ln2 = new LayerNorm([2, 3], dtype: DType.Float64);
        Assert.Equal([4, 2, 3], ln2.Forward(Tensor.Randn([4, 2, 3], new Generator(0), DType.Float64)).ShapeArray());
    }

    [Fact]
    public void DropoutMaskStatistics()
    {
        const int n = 100_000;
        const double p = 0.3;
        var drop = new Dropout(p, new Generator(7));
        var y = drop.Forward(Tensor.Ones([n])).ToFloatArray();
        double zeros = y.Count(v => v == 0) / (double)n;
        Assert.InRange(zeros, p - 0.006, p + 0.006); // ±4 binomial standard deviations
        Assert.All(y.Where(v => v != 0), v => Assert.Equal(1 / 0.7f, v, 5));
        Assert.Equal(1, y.Average(), 2);

        drop.Eval();
        var x = Tensor.Ones([10]);
        Assert.Same(x, drop.Forward(x));
        Assert.Equal(new float[4], new Dropout(1, new Generator(0)).Forward(Tensor.Ones([4])).ToFloatArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout(1.5, new Generator(0)));
        Assert.Throws<ArgumentNullException>(() => new Dropout(0.5));
    }

    [Fact]
    public void DropoutMasksAreDeterministicAndResumable()
    {
        var a = new Dropout(0.5, new Generator(11));
        var b = new Dropout(0.5, new Generator(11));
        var first = a.Forward(Tensor.Ones([64])).ToFloatArray();
        Assert.Equal(first, b.Forward(Tensor.Ones([64])).ToFloatArray());
        Assert.NotEqual(first, new Dropout(0.5, new Generator(12)).Forward(Tensor.Ones([64])).ToFloatArray());

        var saved = a.StateDict();
        Assert.Equal(["generator"], saved.Keys);
        var next = a.Forward(Tensor.Ones([64])).ToFloatArray();
        Assert.NotEqual(first, next);
        var fresh = new Dropout(0.5, new Generator(11));
        fresh.LoadStateDict(saved);
        Assert.Equal(next, fresh.Forward(Tensor.Ones([64])).ToFloatArray());
    }

    [Fact]
    public void GaussianDropoutMatchesBernoulliVariance()
    {
        var gd = new GaussianDropout(0.2, new Generator(3));
        var y = gd.Forward(Tensor.Ones([100_000], DType.Float64)).ToDoubleArray();
        double mean = y.Average(), variance = y.Select(v => (v - mean) * (v - mean)).Average();
        Assert.Equal(1, mean, 2);
        Assert.Equal(0.2 / 0.8, variance, 2);
        gd.Eval();
        Assert.Equal([1.0, 1.0], gd.Forward(Tensor.Ones([2], DType.Float64)).ToDoubleArray());
    }

    [Fact]
    public void DropConnectMasksWeightsNotInputs()
    {
        var dc = new DropConnect(50, 40, p: 0.5, generator: new Generator(0), maskGenerator: new Generator(9), dtype: DType.Float64);
        var x = Tensor.Randn([3, 50], new Generator(1), DType.Float64);
        var y = dc.Forward(x);
        var mask = Tensor.Bernoulli([40, 50], 0.5, new Generator(9), DType.Float64);
        var expected = Ops.Linear(x, Ops.Mul(dc.Weight, Ops.Mul(mask, 2.0)), dc.Bias).ToDoubleArray();
        var actual = y.ToDoubleArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 12);
        dc.Eval();
        Assert.Equal(Ops.Linear(x, dc.Weight, dc.Bias).ToDoubleArray(), dc.Forward(x).ToDoubleArray());
        Assert.Equal(["weight", "bias", "generator"], dc.StateDict().Keys);
        Assert.StartsWith("DropConnect(50 → 40, p: 0.5): input has 3 features", Assert.Throws<ShapeMismatchException>(() => dc.Forward(Tensor.Zeros([1, 3], DType.Float64))).Message);
    }
}
