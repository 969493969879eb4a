using Aperture.NN;

namespace Aperture.Tests.NN;

/// <summary>
/// Cross-entropy and NLL with PyTorch's ignore index, class weights and [N, C, d1, …] inputs. The expected values follow
/// PyTorch's definitions, computed by a scalar reference written from them; one is also given as PyTorch prints it.
/// </summary>
public class CrossEntropyParityTests
{
    private static double Lse(IEnumerable<double> x)
    {
        var v = x.ToArray();
        double m = v.Max();
        return m + Math.Log(v.Sum(e => Math.Exp(e - m)));
    }

    /// <summary>
    /// PyTorch's cross-entropy for class indices: rows of scores [M, C], targets [M], optional weights, ignore index,
    /// label smoothing ε. Returns the per-element losses and the weighted-mean denominator.
    /// </summary>
    private static (double[] Losses, double Denominator) Reference(double[][] rows, long[] targets, double[]? w, long ignore, double eps = 0)
    {
        int c = rows[0].Length;
        var losses = new double[rows.Length];
        double denominator = 0;
        for (int i = 0; i < rows.Length; i++)
        {
            if (targets[i] == ignore) continue;
            double lse = Lse(rows[i]);
            int t = (int)targets[i];
            double wt = w?[t] ?? 1;
            double nll = wt * (lse - rows[i][t]);
            double smooth = 0;
            for (int k = 0; k < c; k++) smooth += (w?[k] ?? 1) * (lse - rows[i][k]);
            losses[i] = (1 - eps) * nll + eps / c * smooth;
            denominator += wt;
        }
        return (losses, denominator);
    }

    [Fact]
    public void Ignore_index_and_class_weights_use_pytorchs_weighted_mean()
    {
        double[][] rows = [[1, 2, 3], [1, 0, -1], [0, 0, 0], [2, -1, 0.5]];
        long[] targets = [2, -100, 1, 0];
        double[] w = [1, 2, 3];
        var logits = Tensor.FromArray(rows.SelectMany(r => r).ToArray(), [4, 3]).RequiresGrad_();
        var weight = Tensor.FromArray(w);
        var target = Tensor.FromArray(targets);

        var (losses, den) = Reference(rows, targets, w, -100);
        var mean = Losses.CrossEntropy(logits, target, weight: weight);
        Assert.Equal(losses.Sum() / den, mean.Item(), 14);
        Assert.Equal(losses.Sum(), Losses.CrossEntropy(logits, target, Reduction.Sum, weight: weight).Item(), 14);
        Assert.Equal(losses, Losses.CrossEntropy(logits, target, Reduction.None, weight: weight).ToDoubleArray().Select((v, i) => Math.Abs(v - losses[i]) < 1e-14 ? losses[i] : v));
        // torch.nn.functional.cross_entropy(logits[:3], tensor([2, -100, 1]), weight=tensor([1., 2, 3])) = 0.6840085...
        var first3 = Losses.CrossEntropy(Tensor.FromArray(rows.Take(3).SelectMany(r => r).ToArray(), [3, 3]), Tensor.FromArray([2L, -100, 1]), weight: weight);
        Assert.Equal((3 * (Lse([1.0, 2, 3]) - 3) + 2 * Math.Log(3)) / 5, first3.Item(), 14);
        Assert.Equal(0.6840085, first3.Item(), 6);

        // The ignored row gets no gradient; the others get w[t]·(softmax − onehot) / Σw.
        mean.Backward();
        var g = logits.Grad!.ToDoubleArray();
        Assert.Equal([0.0, 0.0, 0.0], g[3..6]);
        double s0 = Lse(rows[0]);
        for (int k = 0; k < 3; k++)
            Assert.Equal(3 * (Math.Exp(rows[0][k] - s0) - (k == 2 ? 1 : 0)) / den, g[k], 14);
    }

    [Fact]
    public void A_custom_ignore_index_and_nll_agree()
    {
        double[][] rows = [[0.5, -1, 2], [1, 1, 0]];
        var logits = Tensor.FromArray(rows.SelectMany(r => r).ToArray(), [2, 3]);
        var target = Tensor.FromArray([1L, 2L]);
        var (losses, den) = Reference(rows, [1, 2], null, 2);
        Assert.Equal(losses.Sum() / den, Losses.CrossEntropy(logits, target, ignoreIndex: 2).Item(), 14);
        Assert.Equal(losses.Sum() / den, Losses.Nll(Ops.LogSoftmax(logits, 1), target, ignoreIndex: 2).Item(), 14);
        // Every target ignored: PyTorch's mean is 0/0 = NaN; the sum is 0.
        Assert.True(double.IsNaN(Losses.CrossEntropy(logits, Tensor.FromArray([-100L, -100L])).Item()));
        Assert.Equal(0.0, Losses.CrossEntropy(logits, Tensor.FromArray([-100L, -100L]), Reduction.Sum).Item());
        // A target that is neither a class nor the ignore index is still an error.
        Assert.Contains("not the ignore index", Assert.Throws<IndexOutOfRangeException>(() => Losses.CrossEntropy(logits, Tensor.FromArray([0L, -1L]))).Message);
    }

    [Fact]
    public void Spatial_inputs_take_classes_along_dimension_1()
    {
        // [N=2, C=3, d1=2, d2=2]: element (n, i, j) has scores logits[n, :, i, j] and target target[n, i, j].
        var g = new Generator(3);
        var logits = Tensor.Randn([2, 3, 2, 2], g, DType.Float64).RequiresGrad_();
        long[] t = [0, 2, -100, 1, 1, 1, 0, 2];
        var target = Tensor.FromArray(t, [2, 2, 2]);
        double[] w = [0.5, 1, 2];
        var rows = new double[8][];
        for (int n = 0; n < 2; n++)
            for (int p = 0; p < 4; p++)
                rows[n * 4 + p] = Enumerable.Range(0, 3).Select(c => logits.At(n, c, p / 2, p % 2)).ToArray();
        var (losses, den) = Reference(rows, t, w, -100, eps: 0.2);

        var none = Losses.CrossEntropy(logits, target, Reduction.None, labelSmoothing: 0.2, weight: Tensor.FromArray(w));
        Assert.Equal([2, 2, 2], none.ShapeArray());
        var nv = none.ToDoubleArray();
        for (int i = 0; i < 8; i++) Assert.Equal(losses[i], nv[i], 13);
        Assert.Equal(losses.Sum() / den, Losses.CrossEntropy(logits, target, labelSmoothing: 0.2, weight: Tensor.FromArray(w)).Item(), 13);

        // Without weights or smoothing: the mean over the non-ignored elements, and the fused 2-d loss agrees.
        var (plain, count) = Reference(rows, t, null, -100);
        Assert.Equal(plain.Sum() / count, Losses.CrossEntropy(logits, target).Item(), 13);
        Assert.Equal(7, count);

        // Probability targets of the logits' shape: the mean is over the N·d1·d2 elements.
        var probs = Ops.Softmax(Tensor.Randn([2, 3, 2, 2], g, DType.Float64), 1);
        double total = 0;
        for (int n = 0; n < 2; n++)
            for (int p = 0; p < 4; p++)
            {
                var r = rows[n * 4 + p];
                double lse = Lse(r);
                for (int c = 0; c < 3; c++) total += probs.At(n, c, p / 2, p % 2) * (lse - r[c]);
            }
        Assert.Equal(total / 8, Losses.CrossEntropy(logits, probs).Item(), 13);
    }

    [Fact]
    public void A_single_example_takes_a_0d_target()
    {
        var logits = Tensor.FromArray([1.0, 2, 3]);
        var loss = Losses.CrossEntropy(logits, Tensor.Scalar(0, DType.Int64));
        Assert.Equal(0, loss.Rank);
        Assert.Equal(Lse([1.0, 2, 3]) - 1, loss.Item(), 14);
        Assert.Equal(Lse([1.0, 2, 3]) - 1, Losses.CrossEntropy(logits, Tensor.Scalar(0, DType.Int64), Reduction.None).Item(), 14);
    }

    [Fact]
    public void Weights_and_targets_are_checked()
    {
        var logits = Tensor.Zeros([2, 3], DType.Float64);
        Assert.Contains("one entry per class", Assert.Throws<ShapeMismatchException>(() =>
            Losses.CrossEntropy(logits, Tensor.FromArray([0L, 1L]), weight: Tensor.Ones([2], DType.Float64))).Message);
        Assert.Throws<DTypeMismatchException>(() => Losses.CrossEntropy(logits, Tensor.FromArray([0L, 1L]), weight: Tensor.Ones([3])));
        Assert.Throws<ShapeMismatchException>(() => Losses.CrossEntropy(Tensor.Zeros([2, 3, 4], DType.Float64), Tensor.FromArray([0L, 1L])));
    }
}
